"""Helpers shared by tests: database fingerprints, scaled copies of real runs, CLI calls."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg

from quality_compass.needle.layout import DOCUMENTS
from quality_compass.warehouse.raw_schema import RAW_TABLE_NAMES
from quality_compass.warehouse.settings import DbSettings


def fingerprint(settings: DbSettings) -> dict[str, object]:
    """Everything a load may change, as comparable values (byte-for-byte content hashes)."""
    result: dict[str, object] = {}
    with psycopg.connect(settings.conninfo()) as conn:
        for table in RAW_TABLE_NAMES:
            exists = conn.execute(
                "select to_regclass(%s) is not null", (f"public.{table}",)
            ).fetchone()
            if not exists or not exists[0]:
                result[table] = None
                continue
            row = conn.execute(
                f"""
                select count(*), md5(coalesce(string_agg(
                    concat_ws('|', run_id, file_path, line_number, load_id, loaded_at, json_data::text),
                    E'\\n' order by run_id, file_path, line_number, json_data::text), ''))
                from public.{table}
                """
            ).fetchone()
            result[table] = row
        result["tables"] = sorted(
            r[0]
            for r in conn.execute(
                "select tablename from pg_tables where schemaname = 'public' order by 1"
            ).fetchall()
        )
        for table in ("raw_runs", "raw_loads", "raw_load_rejects"):
            exists = conn.execute(
                "select to_regclass(%s) is not null", (f"public.{table}",)
            ).fetchone()
            result[table] = (
                conn.execute(
                    f"select md5(coalesce(string_agg(t::text, ',' order by t::text), '')) from {table} t"
                ).fetchone()
                if exists and exists[0]
                else None
            )
    return result


def count_rows(settings: DbSettings, table: str, run_id: str | None = None) -> int:
    with psycopg.connect(settings.conninfo()) as conn:
        if run_id is None:
            row = conn.execute(f"select count(*) from public.{table}").fetchone()
        else:
            row = conn.execute(
                f"select count(*) from public.{table} where run_id = %s", (run_id,)
            ).fetchone()
    assert row is not None
    return int(row[0])


def scale_run(run: Path, factor: int) -> None:
    """Grow a real run in place: each node file gets ``factor`` copies of every entity,
    the first as it was, the others with facility ids suffixed so keys stay unique (headers'
    counts updated; the classifications still find their entities)."""
    for path in sorted((run / "results" / "nodes").glob("*.jsonl")):
        lines = [line for line in path.read_bytes().split(b"\n") if line]
        header = orjson.loads(lines[0])
        header["entity_results_count"] = (len(lines) - 1) * factor
        with open(path, "wb") as out:
            out.write(orjson.dumps(header) + b"\n")
            for copy in range(factor):
                suffix = f"_{copy}".encode() if copy else b""
                for line in lines[1:]:
                    obj = orjson.loads(line)
                    obj["entity"][0]["value"] = obj["entity"][0]["value"] + suffix.decode()
                    out.write(orjson.dumps(obj) + b"\n")


def qc_env(settings: DbSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_POSTGRES_")}
    env.update(settings.dbt_env())
    return env


def run_qc(
    settings: DbSettings, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quality_compass", *args],
        capture_output=True,
        text=True,
        env=qc_env(settings),
        timeout=timeout,
    )


def popen_qc(settings: DbSettings, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "quality_compass", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=qc_env(settings),
    )


def file_line_counts(run: Path) -> dict[str, int]:
    """Rows each raw table should get from a run folder, counted independently of the loader."""
    nodes = sorted((run / "results" / "nodes").glob("*.jsonl"))
    entity_lines = sum(
        sum(1 for line in p.read_bytes().split(b"\n")[1:] if line.strip()) for p in nodes
    )
    contributions = sum(
        sum(1 for line in p.read_bytes().split(b"\n") if line.strip())
        for p in (run / "analysis" / "contribution").glob("*.jsonl")
    )
    jsonl = run / "analysis" / "classification" / "classifications.jsonl"
    if jsonl.exists():
        classifications = sum(1 for line in jsonl.read_bytes().split(b"\n") if line.strip())
    else:
        import csv

        with open(
            run / "analysis" / "classification" / "classification_summary.csv", newline=""
        ) as handle:
            classifications = sum(1 for _ in csv.DictReader(handle))
    documents = sum(1 for rel in DOCUMENTS.values() if (run / rel).is_file())
    return {
        "raw_entity_results": entity_lines,
        "raw_node_results": len(nodes),
        "raw_contributions": contributions,
        "raw_classifications": classifications,
        "raw_run_documents": documents,
    }


# -- series of runs: copies of a real run under new run ids and start times -------------------


def copy_run(source: Path, runs_root: Path, run_id: str, started_at: str) -> Path:
    """A copy of ``source`` as run ``run_id`` of the same graph, started at ``started_at``
    (ISO 8601): the folder name is the run key; the manifests are rewritten to agree."""
    import shutil

    target = runs_root / source.parent.name / run_id
    shutil.copytree(source, target)
    manifest_path = target / "run_manifest.json"
    manifest = orjson.loads(manifest_path.read_bytes())
    manifest.update(run_id=run_id, started_at=started_at)
    manifest_path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    semantic_path = target / "run_manifest.semantic.json"
    if semantic_path.is_file():
        semantic = orjson.loads(semantic_path.read_bytes())
        semantic["run_id"] = run_id
        semantic_path.write_bytes(orjson.dumps(semantic, option=orjson.OPT_INDENT_2))
    return target


Classification = dict[str, str]


def edit_classifications(
    run_dir: Path, edit: Callable[[list[Classification]], list[Classification]]
) -> None:
    """Rewrite a run's classification CSV summary with ``edit`` (rows as dicts of the CSV's
    text cells) and keep analysis/classification/index.json's counts true."""
    import csv

    folder = run_dir / "analysis" / "classification"
    summary = folder / "classification_summary.csv"
    with summary.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = edit([{**row, "run_id": run_dir.name} for row in reader])
    with summary.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    index_path = folder / "index.json"
    index = orjson.loads(index_path.read_bytes())
    index.update(
        run_id=run_dir.name,
        total_entities=len(rows),
        signal_type_distribution=dict(Counter(row["signal_type"] for row in rows)),
    )
    index_path.write_bytes(orjson.dumps(index))


# -- the upstream checks (backend/dbt/tests/upstream_math/) ------------------------------------

#: One singular test per file of backend/dbt/tests/upstream_math/ (severity warn).
UPSTREAM_CHECKS = (
    "upstream_math_simple_zscore",
    "upstream_math_robust_zscore",
    "upstream_math_anomaly_tiers",
    "upstream_math_anomaly_statistic",
    "upstream_math_temporal_summaries",
    "upstream_math_weight_shares",
    "upstream_math_classification_severity",
    "upstream_graph_header_edges",
)


def upstream_check_outcomes(run_results: dict[str, object] | None) -> dict[str, tuple[str, int]]:
    """(status, failing rows) of every upstream check a dbt invocation ran."""
    results = (run_results or {}).get("results", [])
    outcomes: dict[str, tuple[str, int]] = {}
    for result in results if isinstance(results, list) else []:
        name = str(result["unique_id"]).split(".")[-1]
        if name in UPSTREAM_CHECKS:
            outcomes[name] = (str(result["status"]), int(result.get("failures") or 0))
    return outcomes


#: fct_signal_history's value columns as ``mart_history`` returns them (``has_signal``:
#: signal_id is not null), comparable with ``history_expectations.expected_history`` rows.
MART_HISTORY_COLUMNS = (
    "entity_key",
    "signal_id",
    "graph_name",
    "facility_id",
    "has_signal",
    "signal_type",
    "signal_severity",
    "change_status",
    "previous_run_id",
    "previous_signal_type",
    "previous_signal_severity",
    "severity_change",
    "consecutive_runs",
    "first_detected_run_id",
    "detected_at",
)


def mart_history(settings: DbSettings) -> dict[tuple[str, str, Any, str], dict[str, Any]]:
    """fct_signal_history keyed as history_expectations keys it (the entity as a whole)."""
    from mart_expectations import entity_key

    with psycopg.connect(settings.conninfo()) as conn:
        identities = {
            str(key): entity_key({**dimensions, "medicareId": facility})
            for key, facility, dimensions in conn.execute(
                "select distinct entity_key, facility_id, entity_dimensions"
                " from public_marts.fct_signals"
            )
        }
        rows = conn.execute(
            """
            select run_id, canonical_node_id, entity_key, metric_id, entity_key, signal_id,
                   graph_name, facility_id, signal_id is not null, signal_type, signal_severity,
                   change_status, previous_run_id, previous_signal_type,
                   previous_signal_severity, severity_change, consecutive_runs,
                   first_detected_run_id, detected_at
            from public_marts.fct_signal_history
            """
        ).fetchall()
    return {
        (run_id, node_id, identities[key], metric_id): dict(
            zip(MART_HISTORY_COLUMNS, values, strict=True)
        )
        for run_id, node_id, key, metric_id, *values in rows
    }
