"""The loader against a real PostgreSQL: counts, reloads, coexistence, atomicity, audit."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from conftest import CONTAINER_RUN, HOST_RUN
from helpers import count_rows, file_line_counts, fingerprint, popen_qc, run_qc, scale_run
from quality_compass.errors import QcError
from quality_compass.load.loader import load_run
from quality_compass.load.report import LoadOptions, LoadRejected
from quality_compass.load.runs import list_runs
from quality_compass.warehouse.raw_schema import RAW_TABLE_NAMES
from quality_compass.warehouse.settings import DbSettings

AGG = "results/nodes/losIndex__medicareId__aggregate_time_period.jsonl"


def _break_line(run: Path, rel: str, number: int) -> None:
    lines = (run / rel).read_bytes().split(b"\n")
    lines[number - 1] = b'{"entity": broken'
    (run / rel).write_bytes(b"\n".join(lines))


def test_load_real_run_counts_match_files(fresh_db: DbSettings) -> None:
    report = load_run(CONTAINER_RUN, fresh_db)
    expected = file_line_counts(CONTAINER_RUN)
    assert report.status == "succeeded"
    assert report.rows == expected
    for table, rows in expected.items():
        assert count_rows(fresh_db, table, "20260115110810") == rows, table
    with psycopg.connect(fresh_db.conninfo()) as conn:
        # Entity rows know their node and line; line 1 of every node file is the header.
        lines = conn.execute(
            "select canonical_node_id, min(line_number), max(line_number), count(*) "
            "from raw_entity_results group by 1 order by 1"
        ).fetchall()
        assert lines == [
            ("losIndex__medicareId__aggregate_time_period", 2, 119, 118),
            ("losIndex__medicareId__dischargeMonth", 2, 119, 118),
        ]
        headers = conn.execute(
            "select file_path, line_number, json_data->>'type' from raw_node_results order by 1"
        ).fetchall()
        assert headers == [
            (f"{AGG}", 1, "node_metadata"),
            ("results/nodes/losIndex__medicareId__dischargeMonth.jsonl", 1, "node_metadata"),
        ]
        docs = dict(
            conn.execute("select document_type, file_path from raw_run_documents").fetchall()
        )
        assert docs["metadata_bundle"] == "metadata_bundle.json"
        assert docs["classification_index"] == "analysis/classification/index.json"
        source = conn.execute("select distinct source_format from raw_classifications").fetchall()
        assert source == [("csv",)]
        audit = conn.execute(
            "select status, action, rows_by_table, rejects, files, loader_version from raw_loads"
        ).fetchall()
        assert len(audit) == 1
        status, action, rows_by_table, rejects, files, version = audit[0]
        assert (status, action, rejects, files) == ("succeeded", "load", 0, 12)
        assert rows_by_table == expected and version
        fresh = conn.execute(
            "select now() - max(loaded_at) < interval '5 minutes' from raw_entity_results"
        ).fetchone()
        assert fresh == (True,)


def _run_rows_md5(settings: DbSettings, run_id: str) -> tuple[object, ...] | None:
    """A hash of one run's entity rows: content, line, load id and load time."""
    with psycopg.connect(settings.conninfo()) as conn:
        return conn.execute(
            "select count(*), md5(string_agg(concat_ws('|', file_path, line_number, load_id, "
            "loaded_at, json_data::text), E'\\n' order by file_path, line_number)) "
            "from raw_entity_results where run_id = %s",
            (run_id,),
        ).fetchone()


def test_reload_replaces_exactly_that_run(fresh_db: DbSettings) -> None:
    first = load_run(CONTAINER_RUN, fresh_db)
    load_run(HOST_RUN, fresh_db)
    host_before = _run_rows_md5(fresh_db, "20260115153108")
    second = load_run(CONTAINER_RUN, fresh_db)
    assert second.rows == first.rows
    assert second.replaced_load_id == first.load_id
    for table, rows in first.rows.items():
        assert count_rows(fresh_db, table, "20260115110810") == rows
        assert count_rows(fresh_db, table, "20260115153108") == file_line_counts(HOST_RUN)[table]
    with psycopg.connect(fresh_db.conninfo()) as conn:
        # One partition per run per table; the reload's rows all carry the new load id.
        parts = conn.execute(
            "select count(*) from pg_inherits where inhparent = 'public.raw_entity_results'::regclass"
        ).fetchone()
        assert parts == (2,)
        loads = conn.execute(
            "select distinct load_id from raw_entity_results where run_id = '20260115110810'"
        ).fetchall()
        assert loads == [(second.load_id,)]
    # The other run is untouched by the reload (same content, lines, load id and load time).
    host_after = _run_rows_md5(fresh_db, "20260115153108")
    assert (
        host_before is not None
        and host_before[0] == file_line_counts(HOST_RUN)["raw_entity_results"]
    )
    assert host_after == host_before
    assert [r.run_id for r in list_runs(fresh_db)] == ["20260115110810", "20260115153108"]


def test_failed_load_leaves_earlier_load_intact(
    fresh_db: DbSettings, run_copy: Callable[..., Path]
) -> None:
    load_run(CONTAINER_RUN, fresh_db)
    load_run(HOST_RUN, fresh_db)
    before = fingerprint(fresh_db)
    damaged = run_copy(CONTAINER_RUN)
    _break_line(damaged, AGG, 60)
    with pytest.raises(LoadRejected) as caught:
        load_run(damaged, fresh_db)
    message = caught.value.message
    assert message.startswith(
        "run 20260115110810: 1 invalid line(s), strict mode; nothing was written.\n"
        f"  {AGG}:60: invalid JSON ("
    )
    after = fingerprint(fresh_db)
    for key in (*RAW_TABLE_NAMES, "tables", "raw_runs"):
        assert after[key] == before[key], key
    # Only the audit tables record the failed attempt (and why).
    with psycopg.connect(fresh_db.conninfo()) as conn:
        failed = conn.execute(
            "select load_id, run_id, status, rejects, error_message from raw_loads where status = 'failed'"
        ).fetchall()
        assert len(failed) == 1
        assert failed[0][1:4] == ("20260115110810", "failed", 1)
        assert f"{AGG}:60: invalid JSON" in failed[0][4]
        rejects = conn.execute(
            "select load_id, file_path, line_number from raw_load_rejects"
        ).fetchall()
    assert rejects == [(failed[0][0], AGG, 60)]


def test_max_rejects_loads_the_rest_and_keeps_rejects(
    fresh_db: DbSettings, run_copy: Callable[..., Path]
) -> None:
    damaged = run_copy(CONTAINER_RUN)
    _break_line(damaged, AGG, 60)
    _break_line(damaged, AGG, 61)
    with pytest.raises(LoadRejected, match="2 invalid line\\(s\\), more than --max-rejects 1"):
        load_run(damaged, fresh_db, LoadOptions(max_rejects=1))
    report = load_run(damaged, fresh_db, LoadOptions(max_rejects=2))
    assert report.status == "succeeded" and report.reject_count == 2
    assert report.rows["raw_entity_results"] == 234
    with psycopg.connect(fresh_db.conninfo()) as conn:
        rejects = conn.execute(
            "select file_path, line_number, reason, raw_text from raw_load_rejects where load_id = %s order by 2",
            (report.load_id,),
        ).fetchall()
    assert [(r[0], r[1]) for r in rejects] == [(AGG, 60), (AGG, 61)]
    assert rejects[0][2].startswith("invalid JSON (") and rejects[0][3] == '{"entity": broken'


def test_dry_run_writes_nothing(fresh_db: DbSettings) -> None:
    before = fingerprint(fresh_db)
    result = run_qc(fresh_db, "load", str(CONTAINER_RUN), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "dry run: test_minimal/20260115110810 (nothing written)" in result.stdout
    assert "12 files, 3.5 MB" in result.stdout and ": valid" in result.stdout
    assert fingerprint(fresh_db) == before


def test_cli_strict_failure_message_and_exit_code(
    fresh_db: DbSettings, run_copy: Callable[..., Path]
) -> None:
    damaged = run_copy(CONTAINER_RUN)
    _break_line(damaged, AGG, 60)
    result = run_qc(fresh_db, "load", str(damaged))
    assert result.returncode == 1
    assert (
        "error: run 20260115110810: 1 invalid line(s), strict mode; nothing was written."
        in result.stderr
    )
    assert f"{AGG}:60: invalid JSON (" in result.stderr
    assert "Use --max-rejects N" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_qc(fresh_db, "load", str(damaged.parent / "19990101000000"))
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        == f"error: run folder not found: {damaged.parent / '19990101000000'}"
    )


def test_runs_drop_and_keep_runs(fresh_db: DbSettings, run_copy: Callable[..., Path]) -> None:
    runs = [
        run_copy(CONTAINER_RUN, run_id=run_id)
        for run_id in ("20260101000000", "20260102000000", "20260103000000")
    ]
    for run in runs[:2]:
        load_run(run, fresh_db)
    report = load_run(runs[2], fresh_db, LoadOptions(keep_runs=2))
    assert report.pruned == ["20260101000000"]
    assert [r.run_id for r in list_runs(fresh_db)] == ["20260102000000", "20260103000000"]
    assert count_rows(fresh_db, "raw_entity_results", "20260101000000") == 0

    listed = run_qc(fresh_db, "runs", "list")
    assert (
        listed.returncode == 0
        and "20260102000000" in listed.stdout
        and "20260101000000" not in listed.stdout
    )
    dropped = run_qc(fresh_db, "runs", "drop", "20260102000000")
    assert dropped.returncode == 0, dropped.stderr
    assert "it disappears from every model on the next `dbt build`" in dropped.stdout
    assert count_rows(fresh_db, "raw_entity_results", "20260102000000") == 0
    assert count_rows(fresh_db, "raw_entity_results", "20260103000000") == 236
    again = run_qc(fresh_db, "runs", "drop", "20260102000000")
    assert again.returncode == 1
    assert again.stderr.strip() == "error: run 20260102000000 is not loaded (see `qc runs list`)"
    with psycopg.connect(fresh_db.conninfo()) as conn:
        actions = conn.execute(
            "select action, run_id from raw_loads where action <> 'load' order by load_id"
        ).fetchall()
    assert actions == [("prune", "20260101000000"), ("drop", "20260102000000")]


def test_seed_style_arguments_and_env(fresh_db: DbSettings, run_copy: Callable[..., Path]) -> None:
    run = run_copy(CONTAINER_RUN, run_id="20260201000000")
    root = run.parent.parent
    result = run_qc(
        fresh_db,
        "load",
        "--runs-root",
        str(root),
        "--insight-graph-run",
        "test_minimal/20260201000000",
    )
    assert result.returncode == 0, result.stderr
    assert "loaded run test_minimal/20260201000000" in result.stdout
    assert "MB/s" in result.stdout


def _copy_in_progress(settings: DbSettings) -> bool:
    with psycopg.connect(settings.conninfo(database="postgres")) as conn:
        row = conn.execute(
            "select count(*) from pg_stat_progress_copy where datname = %s and bytes_processed > 0",
            (settings.database,),
        ).fetchone()
    return bool(row and row[0])


def _wait_idle(settings: DbSettings) -> None:
    """Wait until no other session is connected to the database (the killed one is gone)."""
    deadline = time.monotonic() + 30
    with psycopg.connect(settings.conninfo(database="postgres"), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "select count(*) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
                (settings.database,),
            ).fetchone()
            if row == (0,):
                return
            time.sleep(0.1)
    raise AssertionError("the killed loader's session did not go away")


def test_sigkill_mid_copy_changes_nothing(
    fresh_db: DbSettings, run_copy: Callable[..., Path]
) -> None:
    load_run(HOST_RUN, fresh_db)
    big = run_copy(CONTAINER_RUN, run_id="20260301000000")
    scale_run(big, 40)
    load_run(CONTAINER_RUN, fresh_db)
    before = fingerprint(fresh_db)
    proc = popen_qc(fresh_db, "load", str(big))
    deadline = time.monotonic() + 120
    while not _copy_in_progress(fresh_db):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the COPY never started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _wait_idle(fresh_db)
    assert fingerprint(fresh_db) == before


def test_concurrent_loads_same_run_serialise(
    fresh_db: DbSettings, run_copy: Callable[..., Path]
) -> None:
    big = run_copy(CONTAINER_RUN, run_id="20260401000000")
    scale_run(big, 25)
    other = run_copy(HOST_RUN, run_id="20260402000000", graph="other_graph")
    procs = [
        popen_qc(fresh_db, "load", str(big)),
        popen_qc(fresh_db, "load", str(big)),
        popen_qc(fresh_db, "load", str(other)),
    ]
    results = [proc.communicate(timeout=600) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], results
    waited = [err for _, err in results[:2] if "is in progress; waiting for it to finish" in err]
    assert len(waited) == 1, (
        "exactly one of the two same-run loads should have waited for the other"
    )
    assert count_rows(fresh_db, "raw_entity_results", "20260401000000") == 236 * 25
    assert count_rows(fresh_db, "raw_entity_results", "20260402000000") == 236
    with psycopg.connect(fresh_db.conninfo()) as conn:
        loads = conn.execute(
            "select run_id, count(*) from raw_loads where status = 'succeeded' group by 1 order by 1"
        ).fetchall()
        parts = conn.execute(
            "select count(*) from pg_inherits where inhparent = 'public.raw_entity_results'::regclass"
        ).fetchone()
    assert loads == [("20260401000000", 2), ("20260402000000", 1)]
    assert parts == (2,)


def test_unreachable_database_is_one_clear_line(run_copy: Callable[..., Path]) -> None:
    bad = DbSettings(
        host="127.0.0.1", port=1, user="postgres", password="", database="quality_compass"
    )
    with pytest.raises(
        QcError, match=r"^cannot connect to PostgreSQL at 127.0.0.1:1 \(database 'quality_compass'"
    ):
        load_run(CONTAINER_RUN, bad)


def test_csv_fallback_yields_the_same_records_as_the_jsonl(
    fresh_db: DbSettings, tmp_path: Path
) -> None:
    """A complete run has both classifications.jsonl and the CSV summary: loading it once
    with the JSONL and once (as another run) with only the CSV gives the same keys and the
    same values for every field the CSV carries."""
    import shutil

    from quality_compass.synth.generate.options import GenerateOptions
    from quality_compass.synth.generate.run import generate_run

    run = generate_run(
        GenerateOptions(
            out_dir=tmp_path / "runs", facilities=30, months=6, seed=3, run_id="20260501000000"
        )
    ).run_dir
    csv_only = run.parent / "20260502000000"
    shutil.copytree(run, csv_only)
    (csv_only / "analysis/classification/classifications.jsonl").unlink()
    load_run(run, fresh_db)
    load_run(csv_only, fresh_db)
    with psycopg.connect(fresh_db.conninfo()) as conn:
        rows = conn.execute(
            "select run_id, source_format, json_data from raw_classifications order by run_id, line_number"
        ).fetchall()
    from_jsonl = [r[2] for r in rows if r[0] == "20260501000000"]
    from_csv = [r[2] for r in rows if r[0] == "20260502000000"]
    assert {r[1] for r in rows if r[0] == "20260501000000"} == {"jsonl"}
    assert {r[1] for r in rows if r[0] == "20260502000000"} == {"csv"}
    assert len(from_jsonl) == len(from_csv) > 0

    def key(record: dict) -> tuple:
        return (record["node_id"], record["metric_id"], tuple(sorted(record["entity_key"].items())))

    by_key = {key(r): r for r in from_jsonl}
    assert set(by_key) == {key(r) for r in from_csv}
    for record in from_csv:
        original = by_key[key(record)]
        assert set(record) <= set(original) | {"classification_version"}, set(record) - set(
            original
        )
        assert set(original) - set(record) <= {"classification_version"}
        for field in (
            "signal_type",
            "severity",
            "severity_range",
            "suppressed",
            "period_count",
            "timestamp",
        ):
            assert record[field] == original[field], field
        assert set(record["inputs"]) == set(original["inputs"])
        for name, value in original["inputs"].items():
            if value is None:
                assert record["inputs"][name] is None, name
            else:
                assert record["inputs"][name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
        assert record["derived_indicators"] == original["derived_indicators"]
