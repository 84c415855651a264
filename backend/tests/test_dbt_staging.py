"""dbt sources, staging and intermediate on a real PostgreSQL.

One shared build (the ``warehouse`` fixture: both bundled real runs plus a complete
synthetic run) answers most questions. Row counts are computed here independently, in
Python, from the run files: every entity line, statistical method and anomaly must reach
staging exactly once. Source freshness changes data (rows are aged), so it gets its own
database.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import CONTAINER_RUN, Warehouse
from quality_compass.load.loader import load_run
from quality_compass.warehouse.dbt_runner import run_dbt
from quality_compass.warehouse.settings import DbSettings

pytestmark = pytest.mark.dbt

STAGING = "public_staging"
INTERMEDIATE = "public_intermediate"


# -- independent expectations from the run files ---------------------------------------------


def _json_lines(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def expected_counts(run_dir: Path) -> dict[str, Any]:
    """What staging must hold for one run, counted straight from its files."""
    entities: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    anomalies: Counter[str] = Counter()
    anomalies_per_entity: dict[tuple[str, int], int] = {}
    for node_file in sorted((run_dir / "results" / "nodes").glob("*.jsonl")):
        node_id = node_file.name.removesuffix(".jsonl")
        with node_file.open("rb") as handle:
            numbered = [(n, line) for n, line in enumerate(handle, 1) if line.strip()]
        for line_number, line in numbered[1:]:  # line 1 is the node header
            record = json.loads(line)
            entities[node_id] += 1
            methods[node_id] += len(record["statistical_methods"])
            count = sum(
                len(profile.get("methods", []))
                for method in record["statistical_methods"]
                for profile in method.get("anomalies") or []
            )
            anomalies[node_id] += count
            anomalies_per_entity[(node_id, line_number)] = count
    classification_jsonl = run_dir / "analysis" / "classification" / "classifications.jsonl"
    classification_csv = run_dir / "analysis" / "classification" / "classification_summary.csv"
    if classification_jsonl.is_file():
        classifications = len(_json_lines(classification_jsonl))
    elif classification_csv.is_file():
        with classification_csv.open(encoding="utf-8", newline="") as handle:
            classifications = sum(1 for _ in csv.DictReader(handle))
    else:
        classifications = 0
    contributions = sum(
        len(_json_lines(path)) for path in (run_dir / "analysis" / "contribution").glob("*.jsonl")
    )
    graph = json.loads((run_dir / "graph.json").read_text())
    bundle = json.loads((run_dir / "metadata_bundle.json").read_text())
    return {
        "entities": entities,
        "methods": methods,
        "anomalies": anomalies,
        "anomalies_per_entity": anomalies_per_entity,
        "classifications": classifications,
        "contributions": contributions,
        "nodes": len(entities),
        "graph_nodes": len(graph["nodes"]),
        "edge_rows": 2 * len(graph["edges"]),
        "taxonomy_metrics": len(bundle["metrics"]),
        "taxonomy_dimension_values": sum(
            len(g["allowed_values"]) for g in bundle["group_by_types"]
        ),
    }


def per_node(warehouse: Warehouse, table: str, run_id: str) -> Counter[str]:
    rows = warehouse.query(
        f"select canonical_node_id, count(*) from {STAGING}.{table} where run_id = %s group by 1",
        (run_id,),
    )
    return Counter({str(node): int(count) for node, count in rows})


def scalar(warehouse: Warehouse, statement: str, params: tuple[object, ...] = ()) -> Any:
    return warehouse.query(statement, params)[0][0]


# -- the build --------------------------------------------------------------------------------


def test_dbt_build_passes_without_errors(warehouse: Warehouse) -> None:
    results = (warehouse.build.run_results or {}).get("results", [])
    statuses = Counter(str(result["status"]) for result in results)
    failed = warehouse.results_with_status("error", "fail", "runtime error", "skipped")
    assert warehouse.build.ok and not failed, (
        f"dbt build failed (exit {warehouse.build.returncode}): "
        + ", ".join(f"{r['unique_id']}: {r.get('message')}" for r in failed)
        + "\n"
        + warehouse.build.output[-4000:]
    )
    # Warnings (upstream-math checks, drifting enumerations) do not fail the build; list them.
    warned = warehouse.results_with_status("warn")
    print(
        f"\ndbt build: {dict(statuses)} in {warehouse.build.seconds:.1f} s; warnings: "
        + (", ".join(f"{r['unique_id']} ({r.get('failures')})" for r in warned) or "none")
    )
    assert statuses["success"] > 0 and statuses["pass"] > 0


def test_every_kind_of_node_was_built(warehouse: Warehouse) -> None:
    nodes = (warehouse.build.run_results or {}).get("results", [])
    built = {str(r["unique_id"]).split(".")[0] for r in nodes}
    assert {"model", "test", "unit_test"} <= built
    names = {
        str(r["unique_id"]).split(".")[-1] for r in nodes if r["unique_id"].startswith("model.")
    }
    assert {
        "stg_runs",
        "stg_nodes",
        "stg_node_edges",
        "stg_entity_results",
        "stg_statistical_methods",
        "stg_anomalies",
        "stg_contributions",
        "stg_classifications",
        "stg_taxonomy_metrics",
        "stg_taxonomy_dimensions",
        "stg_taxonomy_dimension_values",
        "int_anomaly_labels",
        "int_statistical_methods_agg",
        "int_temporal_twins",
        "int_node_facet_statistics",
    } <= names


def test_every_model_is_keyed_by_run(warehouse: Warehouse) -> None:
    tables = warehouse.query(
        """
        select table_schema, table_name, bool_or(column_name = 'run_id')
        from information_schema.columns
        where table_schema in (%s, %s)
        group by 1, 2
        """,
        (STAGING, INTERMEDIATE),
    )
    assert len(tables) >= 20
    assert [f"{schema}.{name}" for schema, name, has_run in tables if not has_run] == []


# -- row counts against the files -------------------------------------------------------------


@pytest.mark.parametrize("run", ["container", "host", "synthetic"])
def test_staging_row_counts_equal_the_files(warehouse: Warehouse, run: str) -> None:
    run_dir = warehouse.runs[run]
    run_id = run_dir.name
    expected = expected_counts(run_dir)

    # (unary + drops nodes with a zero count: they have no rows to group)
    assert per_node(warehouse, "stg_entity_results", run_id) == +expected["entities"]
    assert per_node(warehouse, "stg_statistical_methods", run_id) == +expected["methods"]
    assert per_node(warehouse, "stg_anomalies", run_id) == +expected["anomalies"]

    per_entity = warehouse.query(
        f"""
        select entities.canonical_node_id, entities.source_line_number, count(anomalies.anomaly_id)
        from {STAGING}.stg_entity_results as entities
        left join {STAGING}.stg_anomalies as anomalies
            on anomalies.entity_result_id = entities.entity_result_id
        where entities.run_id = %s
        group by 1, 2
        """,
        (run_id,),
    )
    assert {(str(n), int(line)): int(c) for n, line, c in per_entity} == expected[
        "anomalies_per_entity"
    ]

    def count(table: str) -> int:
        return int(scalar(warehouse, f"select count(*) from {table} where run_id = %s", (run_id,)))

    assert count(f"{STAGING}.stg_classifications") == expected["classifications"]
    assert count(f"{STAGING}.stg_contributions") == expected["contributions"]
    assert count(f"{STAGING}.stg_nodes") == expected["nodes"]
    assert count(f"{STAGING}.stg_graph_nodes") == expected["graph_nodes"]
    assert count(f"{STAGING}.stg_node_edges") == expected["edge_rows"]
    assert count(f"{STAGING}.stg_taxonomy_metrics") == expected["taxonomy_metrics"]
    assert (
        count(f"{STAGING}.stg_taxonomy_dimension_values") == expected["taxonomy_dimension_values"]
    )
    assert count(f"{STAGING}.stg_runs") == 1
    # the pivots keep every entity and every method
    assert count(f"{INTERMEDIATE}.int_statistical_methods_agg") == sum(
        expected["entities"].values()
    )
    assert count(f"{INTERMEDIATE}.int_anomaly_labels") == sum(expected["methods"].values())


def test_real_runs_without_contribution_files_stage_none(warehouse: Warehouse) -> None:
    for run in ("container", "host"):
        run_id = warehouse.runs[run].name
        assert (
            scalar(
                warehouse,
                f"select count(*) from {STAGING}.stg_contributions where run_id = %s",
                (run_id,),
            )
            == 0
        )
        assert (
            scalar(
                warehouse,
                f"select count(*) from {STAGING}.stg_classifications where run_id = %s and source_format <> 'csv'",
                (run_id,),
            )
            == 0
        )


# -- joins that can be quietly wrong ------------------------------------------------------------


def test_partial_runs_only_miss_entities_of_unloaded_nodes(warehouse: Warehouse) -> None:
    """The relationships rule: classifications lack an entity only where the node file is missing."""
    rows = warehouse.query(
        f"""
        select classifications.run_id, nodes.is_loaded, count(*)
        from {STAGING}.stg_classifications as classifications
        inner join {INTERMEDIATE}.int_nodes as nodes
            on classifications.node_key = nodes.node_key
        left join {STAGING}.stg_entity_results as entities
            on classifications.entity_result_id = entities.entity_result_id
        where entities.entity_result_id is null
        group by 1, 2
        """
    )
    unmatched = {(str(run), bool(loaded)): int(n) for run, loaded, n in rows}
    assert not any(loaded for _, loaded in unmatched), unmatched
    # real runs: exactly the multi-dimension nodes (2,535 + 3,554 classifications) are missing
    for run in ("container", "host"):
        assert unmatched.get((warehouse.runs[run].name, False)) == 2535 + 3554
    assert (warehouse.runs["synthetic"].name, False) not in unmatched


def test_classification_inputs_equal_the_temporal_twin(warehouse: Warehouse) -> None:
    """Format spec 7: aggregate_zscore is the twin's mean_simple_zscore (and slope inputs match)."""
    rows = warehouse.query(
        f"""
        select
            count(*),
            count(twins.temporal_entity_result_id),
            count(*) filter (
                where abs(classifications.aggregate_zscore - twins.mean_simple_zscore) > 1e-9
            ),
            count(*) filter (
                where abs(classifications.input_slope_percentile - twins.slope_percentile) > 1e-9
            )
        from {STAGING}.stg_classifications as classifications
        inner join {INTERMEDIATE}.int_temporal_twins as twins
            on classifications.entity_result_id = twins.aggregate_entity_result_id
        """
    )
    joined, with_twin, z_mismatch, slope_mismatch = rows[0]
    loaded_facilities = 118 * 2 + 40 * 2
    assert joined >= loaded_facilities
    assert with_twin == joined
    assert z_mismatch == 0 and slope_mismatch == 0


def test_labels_land_in_the_right_columns(warehouse: Warehouse) -> None:
    rows = warehouse.query(
        f"""
        select
            count(*) filter (where simple_zscore is not null and simple_zscore_anomaly is null),
            count(*) filter (where robust_zscore is not null and robust_zscore_anomaly is null),
            count(*) filter (where slope_percentile is not null and slope_anomaly is null),
            count(*) filter (where simple_zscore is not null),
            count(*) filter (where monthly_z_scores is not null)
        from {INTERMEDIATE}.int_statistical_methods_agg
        """
    )
    simple_missing, robust_missing, slope_missing, aggregate, temporal = rows[0]
    assert (simple_missing, robust_missing, slope_missing) == (0, 0, 0)
    assert aggregate > 0 and temporal > 0


def test_groupby_labels_use_taxonomy_names(warehouse: Warehouse) -> None:
    labels = {
        str(node).split("__")[1]: str(label)
        for node, label in warehouse.query(
            f"select canonical_node_id, groupby_label from {INTERMEDIATE}.int_nodes"
        )
    }
    assert labels["medicareId"] == "Facility-wide"
    assert labels["medicareId_vizientServiceLine"] == "Service Line"
    assert labels["medicareId_dischargeStatus"] == "Discharge Status"


# -- maintenance --------------------------------------------------------------------------------


def test_vacuum_analyze_run_operation_finds_the_real_schema(warehouse: Warehouse) -> None:
    """VACUUM cannot run in a transaction: the run-operation must really vacuum the table."""
    result = run_dbt(
        ["run-operation", "vacuum_analyze_table", "--args", '{"table_name": "stg_entity_results"}'],
        warehouse.settings,
        target_path=warehouse.target_path,
        stream=False,
        check=False,
    )
    assert result.ok, result.output[-3000:]
    assert "public_staging" in result.output
    # a run-partitioned model: VACUUM of the parent vacuums each run's partition
    vacuumed = scalar(
        warehouse,
        """
        select bool_and(stats.last_vacuum is not null)
        from pg_inherits as inheritance
        join pg_stat_user_tables as stats on stats.relid = inheritance.inhrelid
        where inheritance.inhparent = to_regclass(%s)
        """,
        (f"{STAGING}.stg_entity_results",),
    )
    assert vacuumed is True


# -- source freshness -----------------------------------------------------------------------------


def _freshness(settings: DbSettings, target_path: Path) -> tuple[int, dict[str, str]]:
    result = run_dbt(
        ["source", "freshness"], settings, target_path=target_path, stream=False, check=False
    )
    sources = json.loads((target_path / "sources.json").read_text())
    statuses = {
        str(entry["unique_id"]).split(".")[-1]: str(entry["status"]) for entry in sources["results"]
    }
    return result.returncode, statuses


def _age(settings: DbSettings, hours: float) -> None:
    """Make every raw row (and the load audit) look `hours` old."""
    age = timedelta(hours=hours)
    with psycopg.connect(settings.conninfo()) as conn:
        for table in (
            "raw_node_results",
            "raw_entity_results",
            "raw_contributions",
            "raw_classifications",
            "raw_run_documents",
            "raw_runs",
        ):
            conn.execute(f"update public.{table} set loaded_at = now() - %s", (age,))
        conn.execute("update public.raw_loads set finished_at = now() - %s", (age,))


def test_source_freshness_passes_after_load_and_warns_then_errors_when_aged(
    database_factory: Callable[[str], DbSettings], tmp_path: Path
) -> None:
    settings = database_factory("qc_test_freshness")
    load_run(CONTAINER_RUN, settings)

    code, statuses = _freshness(settings, tmp_path / "fresh")
    assert code == 0
    assert set(statuses.values()) == {"pass"}, statuses
    assert {"raw_node_results", "raw_entity_results", "raw_contributions", "raw_runs"} <= set(
        statuses
    )

    # 30 h: past every warn band (12-24 h) except the documents' (48 h), before any error band.
    _age(settings, 30)
    code, statuses = _freshness(settings, tmp_path / "aged_30h")
    assert code == 0  # warnings do not fail
    assert statuses["raw_node_results"] == "warn"
    assert statuses["raw_entity_results"] == "warn"
    assert statuses["raw_classifications"] == "warn"
    assert statuses["raw_contributions"] == "warn"  # empty table: falls back to raw_runs
    assert statuses["raw_runs"] == "warn"
    assert statuses["raw_loads"] == "warn"
    assert statuses["raw_run_documents"] == "pass"

    # 200 h: past every error band (48-168 h).
    _age(settings, 200)
    code, statuses = _freshness(settings, tmp_path / "aged_200h")
    assert code != 0
    assert set(statuses.values()) == {"error"}, statuses
