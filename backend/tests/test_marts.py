"""The marts on the shared warehouse build (both real runs + a complete synthetic run).

Expected values come from the run files (tests/mart_expectations.py), never from SQL. The
end-to-end test (test_end_to_end.py) repeats the value checks through `qc pipeline`; this
module checks the grain, keys, dimensions, contracts and docs on the session's build.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import Warehouse
from history_expectations import HISTORY_COLUMNS, expected_history
from mart_expectations import (
    PASS_THROUGH,
    contribution_key,
    entity_key,
    expected_contributions,
    expected_facilities,
    expected_metrics,
    expected_runs,
    expected_signals,
    mismatches,
    read_run,
    read_seed,
    signal_key,
    suppressed_count,
)
from quality_compass.warehouse.dbt_runner import run_dbt

pytestmark = pytest.mark.dbt

MARTS = "public_marts"
MART_MODELS = (
    "fct_signals",
    "fct_contributions",
    "fct_signal_history",
    "dim_facilities",
    "dim_metrics",
    "dim_runs",
)
DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt"


def _manifest(warehouse: Warehouse) -> dict[str, Any]:
    return json.loads((warehouse.target_path / "manifest.json").read_text())  # type: ignore[no-any-return]


def _rows(
    warehouse: Warehouse, statement: str, params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    with psycopg.connect(warehouse.settings.conninfo()) as conn:
        cursor = conn.execute(statement.encode(), params)
        names = [column.name for column in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_marts_build_and_their_tests_pass(warehouse: Warehouse) -> None:
    results = (warehouse.build.run_results or {}).get("results", [])
    manifest = _manifest(warehouse)
    mart_nodes = {
        unique_id
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "test", "unit_test")
        and (
            node.get("original_file_path", "").startswith(("models/marts", "models/semantic"))
            or any(
                dependency.split(".")[-1] in MART_MODELS
                for dependency in node.get("depends_on", {}).get("nodes", [])
            )
        )
    }
    mart_results = [r for r in results if r["unique_id"] in mart_nodes]
    statuses = Counter(str(r["status"]) for r in mart_results)
    bad = [
        f"{r['unique_id']}: {r.get('message')}"
        for r in mart_results
        if r["status"] not in ("success", "pass")
    ]
    assert not bad, bad
    # 4 marts + time spine, their unit tests and a good number of data tests
    assert statuses["success"] >= 5 and statuses["pass"] >= 60, statuses


def test_suppressed_classifications_are_logged_by_the_post_hook(warehouse: Warehouse) -> None:
    expected = {name: suppressed_count(read_run(path)) for name, path in warehouse.runs.items()}
    total = sum(expected.values())
    match = re.search(
        r"fct_signals: excluded (\d+) suppressed classifications \(([^)]*)\)",
        warehouse.build.output,
    )
    assert match, warehouse.build.output[-3000:]
    assert int(match.group(1)) == total
    per_run = dict(part.split(": ") for part in match.group(2).split(", "))
    assert per_run == {
        path.name: str(expected[name]) for name, path in warehouse.runs.items() if expected[name]
    }


@pytest.mark.parametrize("run", ["container", "host", "synthetic"])
def test_signal_grain_and_counts_per_node_equal_the_classification_files(
    warehouse: Warehouse, run: str
) -> None:
    files = read_run(warehouse.runs[run])
    expected = expected_signals(files)
    rows = _rows(
        warehouse,
        f"""
        select canonical_node_id, facility_id, entity_dimensions, metric_id, has_entity_result
        from {MARTS}.fct_signals where run_id = %s
        """,
        (files.run_id,),
    )
    keys = [
        (
            r["canonical_node_id"],
            entity_key({**r["entity_dimensions"], "medicareId": r["facility_id"]}),
            r["metric_id"],
        )
        for r in rows
    ]
    assert len(keys) == len(set(keys)), "one row per classified entity"
    assert set(keys) == set(expected)
    assert Counter(k[0] for k in keys) == Counter(k[0] for k in expected)
    loaded = Counter(r["has_entity_result"] for r in rows)
    assert loaded[True] == sum(1 for e in expected.values() if e["has_entity_result"])
    if run in ("container", "host"):
        # the partial real runs: every classification is a signal, 118 facilities enriched
        assert loaded == Counter({True: 118, False: 2535 + 3554 - 54})
    else:
        assert loaded[False] == 0


def test_dimensions_cover_every_fact_and_carry_master_data(warehouse: Warehouse) -> None:
    facilities: set[str] = set()
    for path in warehouse.runs.values():
        files = read_run(path)
        facilities |= {c["entity"]["medicareId"] for c in files.classifications}
        for node in files.nodes.values():
            facilities |= {dict(key)["medicareId"] for key in node.entities}
    dims = _rows(
        warehouse,
        f"select facility_id, facility_name, has_master_data, run_count, first_run_id, last_run_id from {MARTS}.dim_facilities",
    )
    assert {d["facility_id"] for d in dims} == facilities
    seed = (DBT_PROJECT / "seeds" / "ref_facilities.csv").read_text().splitlines()[1:]
    master = {line.split(",")[0]: line.split(",")[1] for line in seed}
    for dim in dims:
        assert dim["has_master_data"] == (dim["facility_id"] in master)
        if dim["has_master_data"]:
            assert dim["facility_name"] == master[dim["facility_id"]]
    real = {d["facility_id"]: d for d in dims if d["facility_id"] in master}
    assert len(real) == 118
    container, host = warehouse.runs["container"].name, warehouse.runs["host"].name
    assert all(d["run_count"] >= 2 for d in real.values())
    assert {(d["first_run_id"], d["last_run_id"]) for d in real.values()} == {(container, host)}

    orphans = warehouse.query(
        f"""
        select
            (select count(*) from {MARTS}.fct_signals as f
             where not exists (select 1 from {MARTS}.dim_facilities as d where d.facility_sk = f.facility_sk)),
            (select count(*) from {MARTS}.fct_signals as f
             where not exists (select 1 from {MARTS}.dim_metrics as d where d.metric_sk = f.metric_sk)),
            (select count(*) from {MARTS}.fct_contributions as f
             where not exists (select 1 from {MARTS}.dim_metrics as d where d.metric_sk = f.metric_sk))
        """
    )[0]
    assert orphans == (0, 0, 0)


def test_dim_metrics_lists_the_taxonomy_metrics(warehouse: Warehouse) -> None:
    taxonomy: dict[str, dict[str, Any]] = {}
    for path in sorted(warehouse.runs.values(), key=lambda p: p.name):
        bundle = json.loads((path / "metadata_bundle.json").read_text())
        taxonomy.update({m["metric_id"]: m for m in bundle["metrics"]})
    dims = {
        d["metric_id"]: d
        for d in _rows(
            warehouse,
            f"select metric_id, metric_name, domain, direction_preference, display_format, is_used from {MARTS}.dim_metrics",
        )
    }
    assert set(dims) == set(taxonomy)
    for metric_id, metric in taxonomy.items():
        assert dims[metric_id]["domain"] == metric["domain"]
        assert dims[metric_id]["direction_preference"] == metric["polarity"]
        assert dims[metric_id]["display_format"] == metric["display_format"]
    assert dims["losIndex"]["is_used"] is True
    assert dims["losIndex"]["metric_name"] == "Length of Stay Index"


# -- every column against the run files (tests/mart_expectations.py) ---------------------------


@pytest.mark.parametrize("run", ["container", "host", "synthetic"])
def test_fct_signals_equals_the_run_files(warehouse: Warehouse, run: str) -> None:
    """Every column of every signal of the run, recomputed from its files."""
    files = read_run(warehouse.runs[run])
    expected = expected_signals(files)
    rows = _rows(warehouse, f"select * from {MARTS}.fct_signals where run_id = %s", (files.run_id,))
    actual = {signal_key(row): row for row in rows}
    assert len(actual) == len(rows) == len(expected) > 0
    assert mismatches(actual, expected) == []
    # the columns that are easy to get wrong quietly hold values worth comparing
    with_service_line = [row for row in expected.values() if row["service_line"] is not None]
    assert with_service_line, "no signal of the run has a service line"
    assert len({row["system_name"] for row in expected.values()}) > 1


def test_fct_contributions_equals_the_contribution_files(warehouse: Warehouse) -> None:
    """Every column of every contribution (ranks within what ties allow)."""
    files = read_run(warehouse.runs["synthetic"])
    expected = expected_contributions(files)
    rows = _rows(
        warehouse, f"select * from {MARTS}.fct_contributions where run_id = %s", (files.run_id,)
    )
    actual = {contribution_key(row): row for row in rows}
    assert len(actual) == len(rows) == len(expected) > 0
    ranks = {key: row.pop("contribution_rank_range") for key, row in expected.items()}
    assert mismatches(actual, expected) == []
    wrong_ranks = [
        (key, actual[key]["contribution_rank"], allowed)
        for key, allowed in ranks.items()
        if not allowed[0] <= actual[key]["contribution_rank"] <= allowed[1]
    ]
    assert wrong_ranks[:5] == []
    # the z-score files share parents with the metric file: three groups per parent entity
    metrics_per_parent = Counter(
        (r["parent_node_id"], r["facility_id"], r["child_node_id"])
        for r in rows
        if r["contribution_rank"] == 1
    )
    assert set(metrics_per_parent.values()) == {3}
    assert {"positive", "negative"} <= {r["contribution_direction"] for r in rows}
    for run in ("container", "host"):  # the real runs ship no contribution files
        assert _rows(
            warehouse,
            f"select count(*) as n from {MARTS}.fct_contributions where run_id = %s",
            (warehouse.runs[run].name,),
        ) == [{"n": 0}]


def test_dimensions_equal_the_run_files(warehouse: Warehouse) -> None:
    runs = [read_run(path) for path in warehouse.runs.values()]
    seed = read_seed(DBT_PROJECT / "seeds" / "ref_facilities.csv")
    for mart, key, expected in (
        ("dim_facilities", "facility_id", expected_facilities(runs, seed)),
        ("dim_metrics", "metric_id", expected_metrics(runs)),
        ("dim_runs", "run_id", expected_runs(runs)),
    ):
        actual = {row[key]: row for row in _rows(warehouse, f"select * from {MARTS}.{mart}")}
        assert len(expected) > 0, mart
        assert mismatches(actual, expected) == [], mart


def test_every_mart_column_has_an_independent_expectation(warehouse: Warehouse) -> None:
    """Each mart column is recomputed from the run files (tests/mart_expectations.py,
    tests/history_expectations.py) or named a pass-through with its reason."""
    runs = [read_run(path) for path in warehouse.runs.values()]
    synthetic = read_run(warehouse.runs["synthetic"])
    seed = read_seed(DBT_PROJECT / "seeds" / "ref_facilities.csv")
    recomputed: dict[str, set[str]] = {
        "fct_signals": set(next(iter(expected_signals(synthetic).values()))),
        "fct_contributions": set(next(iter(expected_contributions(synthetic).values())))
        - {"contribution_rank_range"}
        | {"contribution_rank", "parent_node_id", "child_node_id"},
        "dim_facilities": set(next(iter(expected_facilities(runs, seed).values())))
        | {"facility_id"},
        "dim_metrics": set(next(iter(expected_metrics(runs).values()))) | {"metric_id"},
        "dim_runs": set(next(iter(expected_runs(runs).values()))) | {"run_id"},
        "fct_signal_history": set(HISTORY_COLUMNS),
    }
    for mart in MART_MODELS:
        columns = {
            str(name)
            for (name,) in warehouse.query(
                "select column_name from information_schema.columns"
                " where table_schema = %s and table_name = %s",
                (MARTS, mart),
            )
        }
        passed_through = set(PASS_THROUGH.get(mart, {}))
        assert recomputed[mart] & passed_through == set(), mart
        assert columns == recomputed[mart] | passed_through, (
            mart,
            columns - recomputed[mart] - passed_through,
            (recomputed[mart] | passed_through) - columns,
        )


def test_every_mart_column_is_documented_and_typed(warehouse: Warehouse) -> None:
    manifest = _manifest(warehouse)
    built = warehouse.query(
        """
        select c.table_name, c.column_name, format_type(a.atttypid, a.atttypmod)
        from information_schema.columns as c
        join pg_attribute as a
            on a.attrelid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass
            and a.attname = c.column_name
        where c.table_schema = %s
        """,
        (MARTS,),
    )
    columns: dict[str, dict[str, str]] = {}
    for table, column, data_type in built:
        columns.setdefault(str(table), {})[str(column)] = str(data_type)
    assert set(columns) == set(MART_MODELS)
    for model in MART_MODELS:
        node = manifest["nodes"][f"model.quality_compass.{model}"]
        assert node["config"]["contract"]["enforced"] is True
        assert node["description"].strip()
        documented = node["columns"]
        assert set(documented) == set(columns[model]), model
        for name, column in documented.items():
            assert column["description"].strip(), f"{model}.{name} has no description"
            assert column["data_type"] == columns[model][name], f"{model}.{name}"
        tests = {
            n["test_metadata"]["name"]
            for n in manifest["nodes"].values()
            if n["resource_type"] == "test"
            and n.get("test_metadata")
            and f"model.quality_compass.{model}" in n["depends_on"]["nodes"]
        }
        assert {"unique", "not_null"} <= tests, model
        if model.startswith("fct_"):
            assert {"relationships", "accepted_values"} <= tests, model


def test_fixed_signal_columns_exist(warehouse: Warehouse) -> None:
    """DESIGN.md fixes these fct_signals names (APIs, semantic layer, checks read them)."""
    fixed = [
        "signal_id",
        "run_id",
        "canonical_node_id",
        "temporal_node_id",
        "facility_id",
        "metric_id",
        "system_name",
        "service_line",
        "sub_service_line",
        "entity_dimensions",
        "groupby_label",
        "group_value",
        "metric_value",
        "benchmark_value",
        "variance_percent",
        "encounters",
        "simple_zscore",
        "percentile_rank",
        "peer_mean",
        "peer_std",
        "peer_count",
        "robust_zscore",
        "latest_simple_zscore",
        "mean_simple_zscore",
        "latest_robust_zscore",
        "mean_robust_zscore",
        "slope",
        "slope_percentile",
        "acceleration",
        "trend_direction",
        "momentum",
        "monthly_z_scores",
        "metric_trend_timeline",
        "simple_zscore_anomaly",
        "robust_zscore_anomaly",
        "latest_simple_zscore_anomaly",
        "mean_simple_zscore_anomaly",
        "latest_robust_zscore_anomaly",
        "mean_robust_zscore_anomaly",
        "slope_anomaly",
        "anomaly_classification",
        "severity",
        "signal_type",
        "signal_severity",
        "signal_severity_range",
        "classification_inputs",
        "classification_indicators",
        "classification_reasoning",
        "severity_calculation",
        "magnitude_tier",
        "trajectory_tier",
        "consistency_tier",
        "domain",
        "statistical_methods",
        "facility_sk",
        "metric_sk",
        "detected_at",
    ]
    present = {
        str(name)
        for (name,) in warehouse.query(
            "select column_name from information_schema.columns where table_schema = %s and table_name = 'fct_signals'",
            (MARTS,),
        )
    }
    assert set(fixed) - present == set()
    contributions = {
        str(name)
        for (name,) in warehouse.query(
            "select column_name from information_schema.columns where table_schema = %s and table_name = 'fct_contributions'",
            (MARTS,),
        )
    }
    assert {
        "child_node_id",
        "metric_id",
        "contribution_direction",
        "contribution_weight",
    } <= contributions


def test_analyses_compile_and_run(warehouse: Warehouse, tmp_path: Path) -> None:
    result = run_dbt(
        ["compile", "--select", "resource_type:analysis"],
        warehouse.settings,
        target_path=tmp_path,
        stream=False,
        check=False,
    )
    assert result.ok, result.output[-3000:]
    compiled = tmp_path / "compiled" / "quality_compass" / "analyses"
    queries = {path.stem: path.read_text() for path in compiled.glob("*.sql")}
    assert set(queries) == {
        "top_signals_for_facility",
        "contribution_drilldown_for_signal",
        "run_over_run_changes",
    }
    top = _rows(warehouse, queries["top_signals_for_facility"])
    assert 0 < len(top) <= 20
    assert len({(r["run_id"], r["facility_id"]) for r in top}) == 1
    severities = [r["signal_severity"] for r in top]
    assert severities == sorted(severities, reverse=True)

    drill = _rows(warehouse, queries["contribution_drilldown_for_signal"])
    assert drill and len({r["parent_signal_id"] for r in drill}) == 1
    assert [r["contribution_rank"] for r in drill] == sorted(r["contribution_rank"] for r in drill)

    # the newest run with a previous run is the synthetic series' last run: its changes
    # are its history rows that do not persist, as recomputed from the run files
    changes = _rows(warehouse, queries["run_over_run_changes"])
    latest = warehouse.runs["synthetic_3"].name
    expected = Counter(
        row["change_status"]
        for key, row in expected_history(list(warehouse.runs.values())).items()
        if key[0] == latest and row["change_status"] != "persisting"
    )
    assert {(r["run_id"], r["previous_run_id"]) for r in changes} == {
        (latest, warehouse.runs["synthetic_2"].name)
    }
    assert Counter(r["change_status"] for r in changes) == expected
    assert set(expected) == {"new", "escalated", "deescalated", "type_changed", "resolved"}
