"""Run ids and paths (issue 10 D): which run ids load, exact partition lookup, links that
leave the run folder, FIFOs and other non-regular files, --insight-graph-run escapes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from helpers import qc_env
from quality_compass import __version__
from quality_compass.errors import QcError
from quality_compass.load.loader import load_run
from quality_compass.load.report import LoadOptions
from quality_compass.load.runs import drop_runs, list_runs
from quality_compass.needle.run_files import UnsafeRunFile
from quality_compass.needle.run_folder import InvalidRunId, inventory, resolve_run_dir
from quality_compass.warehouse.raw_schema import RAW_TABLES, ensure_schema, run_partitions
from quality_compass.warehouse.settings import DbSettings

AGG = "results/nodes/losIndex__medicareId__aggregate_time_period.jsonl"
CLASSIFICATIONS_JSONL = "analysis/classification/classifications.jsonl"


def _partition_count(settings: DbSettings) -> int:
    with psycopg.connect(settings.conninfo()) as conn:
        row = conn.execute(
            "select count(*) from pg_inherits where inhparent = any(%s::regclass[])",
            ([f"public.{table.name}" for table in RAW_TABLES],),
        ).fetchone()
    assert row is not None
    return int(row[0])


# -- run ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("run_id", ["a", "Run-2026.01_x", "9" * 128])
def test_valid_run_ids_load_reload_list_and_drop(
    run_id: str, run_copy: Callable[..., Path], fresh_db: DbSettings
) -> None:
    run = run_copy(run_id=run_id)
    first = load_run(run, fresh_db)
    second = load_run(run, fresh_db)
    assert second.replaced_load_id == first.load_id
    assert [loaded.run_id for loaded in list_runs(fresh_db)] == [run_id]
    assert _partition_count(fresh_db) == len(RAW_TABLES)
    drop_runs(fresh_db, run_id)
    assert list_runs(fresh_db) == []
    assert _partition_count(fresh_db) == 0


@pytest.mark.parametrize(
    "run_id", ["2026\\01", "a b", "-x", ".hidden", "é1", "x" * 129, "a'b", "a\nb", "2026\n"]
)
def test_invalid_run_ids_are_refused_at_discovery(
    run_id: str, run_copy: Callable[..., Path]
) -> None:
    run = run_copy(run_id=run_id)
    with pytest.raises(InvalidRunId) as refused:
        inventory(run)
    assert refused.value.exit_code == 2
    assert f"invalid run id {run_id!r}" in refused.value.message
    assert "letters, digits, '.', '_' or '-'" in refused.value.message


def test_invalid_run_id_exits_2_on_the_command_line(run_copy: Callable[..., Path]) -> None:
    run = run_copy(run_id="2026\\01")
    result = subprocess.run(
        [sys.executable, "-m", "quality_compass", "load", "--dry-run", str(run)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "error: invalid run id '2026\\\\01'" in result.stderr


def _legacy_partition(conn: psycopg.Connection, table: str, run_id: str, load_id: int) -> None:
    """A partition as an earlier loader made it for any run id (no id check then)."""
    conn.execute(
        sql.SQL(
            "create table public.{part} partition of public.{table} for values in ({run})"
        ).format(
            part=sql.Identifier(f"{table}__l{load_id}"),
            table=sql.Identifier(table),
            run=sql.Literal(run_id),
        )
    )


def test_partition_lookup_is_exact_for_quotes_and_backslashes(fresh_db: DbSettings) -> None:
    ids = ["2026\\01", "2026\\\\01", "a'b", "a''b", "E'x'", "2026\\\\'01", "20260115110810"]
    with psycopg.connect(fresh_db.conninfo(), autocommit=True) as conn:
        ensure_schema(conn, __version__)
        for number, run_id in enumerate(ids, 1):
            _legacy_partition(conn, "raw_contributions", run_id, number)
        for number, run_id in enumerate(ids, 1):
            assert run_partitions(conn, "raw_contributions", run_id) == [
                f"raw_contributions__l{number}"
            ], run_id
        assert run_partitions(conn, "raw_contributions", "2026") == []


def test_legacy_run_with_a_backslash_is_dropped_completely(fresh_db: DbSettings) -> None:
    run_id = "2026\\01"
    with psycopg.connect(fresh_db.conninfo(), autocommit=True) as conn:
        ensure_schema(conn, __version__)
        for table in RAW_TABLES:
            _legacy_partition(conn, table.name, run_id, 7)
        conn.execute(
            "insert into public.raw_contributions (run_id, file_path, json_data, load_id) "
            "values (%s, 'x.jsonl', '{}', 7)",
            (run_id,),
        )
        conn.execute(
            "insert into public.raw_runs (run_id, load_id, loaded_at, files, bytes, rows_by_table) "
            "values (%s, 7, now(), 1, 1, '{}')",
            (run_id,),
        )
    assert [run.run_id for run in list_runs(fresh_db)] == [run_id]
    drop_runs(fresh_db, run_id)
    assert list_runs(fresh_db) == []
    assert _partition_count(fresh_db) == 0


# -- links ----------------------------------------------------------------------------------


def _outside_file(tmp_path: Path, name: str, source: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    target = outside / name
    target.write_bytes(source.read_bytes())
    return target


def test_link_to_a_file_outside_the_run_is_refused(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    run = run_copy()
    node = run / AGG
    target = _outside_file(tmp_path, node.name, node)
    node.unlink()
    node.symlink_to(target)
    with pytest.raises(UnsafeRunFile) as refused:
        load_run(run, None, LoadOptions(dry_run=True))
    assert refused.value.message == (
        f"refusing {AGG}: it is a symbolic link (or lies in a linked folder) that leads "
        f"outside the run folder, to {target}"
    )


def test_link_to_a_document_outside_the_run_is_refused(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    run = run_copy()
    target = tmp_path / "passwd"
    target.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (run / "graph.json").unlink()
    (run / "graph.json").symlink_to(target)
    with pytest.raises(UnsafeRunFile, match=r"refusing graph\.json: it is a symbolic link"):
        load_run(run, None, LoadOptions(dry_run=True))


def test_linked_folder_outside_the_run_is_refused(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    run = run_copy()
    outside = tmp_path / "elsewhere"
    (outside / "contribution").mkdir(parents=True)
    (outside / "contribution" / "x__y__aggregate_time_period.m.jsonl").write_text("{}\n")
    contribution = run / "analysis" / "contribution"
    for entry in contribution.iterdir():
        if entry.is_file():
            (outside / "contribution" / entry.name).write_bytes(entry.read_bytes())
    os.rename(contribution, tmp_path / "moved_away")
    contribution.symlink_to(outside / "contribution")
    with pytest.raises(UnsafeRunFile, match="refusing analysis/contribution/"):
        load_run(run, None, LoadOptions(dry_run=True))


def test_links_inside_the_run_are_followed(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    node = run / AGG
    (run / "copies").mkdir()
    node.rename(run / "copies" / node.name)
    node.symlink_to(Path("../../copies") / node.name)
    report = load_run(run, None, LoadOptions(dry_run=True))
    assert report.status == "valid"
    assert AGG in [f.rel for f in report.files]


def test_broken_link_and_link_loop_are_errors(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    loop = run / "results" / "nodes" / "loop.jsonl"
    loop.symlink_to(loop)
    with pytest.raises(QcError, match=r"cannot read results/nodes/loop\.jsonl"):
        inventory(run)


# -- not regular files -------------------------------------------------------------------------


def test_fifo_run_manifest_is_refused_without_blocking(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    (run / "run_manifest.json").unlink()
    os.mkfifo(run / "run_manifest.json")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "quality_compass", "load", "--dry-run", str(run)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("qc load --dry-run blocked on a FIFO named run_manifest.json")
    assert result.returncode == 1, result.stderr
    assert "error: refusing run_manifest.json: a FIFO (named pipe), not a regular file" in " ".join(
        result.stderr.split()
    )


def test_fifo_classifications_jsonl_is_an_error_not_a_csv_fallback(
    run_copy: Callable[..., Path],
) -> None:
    run = run_copy()
    os.mkfifo(run / CLASSIFICATIONS_JSONL)
    with pytest.raises(UnsafeRunFile) as refused:
        inventory(run)
    assert refused.value.message == (
        f"refusing {CLASSIFICATIONS_JSONL}: a FIFO (named pipe), not a regular file"
    )


@pytest.mark.parametrize("kind", ["fifo", "socket", "folder"])
def test_node_file_that_is_not_a_regular_file_is_refused(
    kind: str, tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    run = run_copy()
    path = run / "results" / "nodes" / "extra__medicareId__aggregate_time_period.jsonl"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        # a socket path must be short: bind in a short folder, then move the socket in
        short = Path(f"/tmp/qc-sock-{os.getpid()}")
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(short))
        os.rename(short, path)
    with pytest.raises(UnsafeRunFile, match=f"refusing {path.relative_to(run).as_posix()}: "):
        inventory(run)


# -- --runs-root / --insight-graph-run -----------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["../outside/graph/20260115110810", "graph/../../outside/graph/20260115110810"]
)
def test_insight_graph_run_cannot_leave_the_runs_root(
    value: str, tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    run = run_copy(graph="graph")  # tmp_path/runs/graph/<run_id>
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "graph").symlink_to(run.parent)
    with pytest.raises(QcError) as refused:
        resolve_run_dir(None, root, value)
    assert refused.value.exit_code == 2
    assert "must name GRAPH/RUN_ID under --runs-root" in refused.value.message


def test_absolute_insight_graph_run_is_refused(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    run = run_copy()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "quality_compass",
            "load",
            "--dry-run",
            "--runs-root",
            str(tmp_path),
            "--insight-graph-run",
            str(run),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=qc_env(DbSettings("x", 1, "x", "", "x")),
    )
    assert result.returncode == 2, result.stderr
    assert "must name GRAPH/RUN_ID under --runs-root" in result.stderr
