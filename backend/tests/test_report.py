"""`qc report` on the session warehouse: the page's numbers against mart queries, safe
rendering of hostile text, the history section against the fct_signal_history contract,
build health from dbt's artefacts, and the page in a real headless Chromium.

Pages are parsed (html.parser, tests/report_page.py) and their embedded JSON read; the
expected values come from SQL on the marts. Tests that change mart rows work on a copy of
the warehouse database (CREATE DATABASE ... TEMPLATE), never on the warehouse itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from conftest import CONTAINER_RUN, HOST_RUN, WAREHOUSE_SYNTHETIC, Warehouse
from quality_compass.cli import app
from quality_compass.report.build import ReportOptions
from quality_compass.report.queries import TOP_SIGNAL_ORDER
from quality_compass.report.render import ECHARTS_FILE, json_for_script
from quality_compass.report.writer import ReportResult, write_report
from quality_compass.warehouse.settings import DbSettings
from report_page import ReportPage

pytestmark = pytest.mark.dbt

SYNTHETIC_RUN = str(WAREHOUSE_SYNTHETIC["run_id"])
CONTAINER_RUN_ID = CONTAINER_RUN.name
HOST_RUN_ID = HOST_RUN.name
ECHARTS_SHA256 = "b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0"

HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_REASONING = "</script><script>alert(2)</script> & <!-- comment"
HOSTILE_GROUP = '<img src="x" onerror="alert(3)">'

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Rendered:
    result: ReportResult
    page: ReportPage
    settings: DbSettings


def render(settings: DbSettings, out: Path, **options: Any) -> Rendered:
    result = write_report(settings, ReportOptions(**options), out)
    return Rendered(result, ReportPage.parse(result.path.read_text(encoding="utf-8")), settings)


def query(settings: DbSettings, statement: str, params: Any = ()) -> list[dict[str, Any]]:
    with psycopg.connect(settings.conninfo()) as conn, conn.cursor() as cursor:
        cursor.execute(statement.encode(), params)
        names = [column.name for column in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def first_parent_rank(settings: DbSettings, run_id: str) -> int:
    """Rank (TOP_SIGNAL_ORDER) of the run's most severe signal that has child segments."""
    rows = query(
        settings,
        f"""
        select rank from (
            select signal_id, row_number() over (order by {TOP_SIGNAL_ORDER}) as rank
            from public_marts.fct_signals where run_id = %s
        ) as ranked
        where signal_id in (
            select parent_signal_id from public_marts.fct_contributions
            where run_id = %s and is_metric_contribution
        )
        order by rank limit 1
        """,
        (run_id, run_id),
    )
    assert rows, "the synthetic run has no signal with child segments"
    return int(rows[0]["rank"])


@pytest.fixture(scope="module")
def build_artefacts(warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The warehouse build's run_results.json, in a folder of its own: other tests run dbt
    commands (run-operation, test) in the warehouse's target folder, and dbt keeps only its
    last invocation's artefacts."""
    target = tmp_path_factory.mktemp("build_artefacts")
    (target / "run_results.json").write_text(json.dumps(warehouse.build.run_results))
    return target


@pytest.fixture(scope="module")
def synthetic(
    warehouse: Warehouse, build_artefacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Rendered:
    """The complete synthetic run's report, detailing down to its first parent signal."""
    top = max(5, first_parent_rank(warehouse.settings, SYNTHETIC_RUN))
    return render(
        warehouse.settings,
        tmp_path_factory.mktemp("report") / "synthetic.html",
        run_id=SYNTHETIC_RUN,
        top=top,
        table_rows=120,
        target_path=build_artefacts,
    )


@pytest.fixture(scope="module")
def partial(
    warehouse: Warehouse, build_artefacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Rendered:
    """A real (partial) run's report."""
    return render(
        warehouse.settings,
        tmp_path_factory.mktemp("report") / "real.html",
        run_id=CONTAINER_RUN_ID,
        target_path=build_artefacts,
    )


# -- numbers against the marts -------------------------------------------------------------


def _severity_counts(settings: DbSettings, run_id: str) -> dict[tuple[str, str], int]:
    rows = query(
        settings,
        """
        select signal_type, coalesce(severity, 'none') as severity, count(*) as signals
        from public_marts.fct_signals where run_id = %s group by 1, 2
        """,
        (run_id,),
    )
    return {(r["signal_type"], r["severity"]): int(r["signals"]) for r in rows}


@pytest.mark.parametrize("fixture", ["synthetic", "partial"])
def test_counts_by_type_and_severity_match_the_mart(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    rendered: Rendered = request.getfixturevalue(fixture)
    run_id = rendered.result.run_id
    expected = _severity_counts(rendered.settings, run_id)
    assert sum(expected.values()) > 0

    # The chart's data (JSON) ...
    matrix = rendered.page.data["overview"]["type_by_severity"]
    from_json = {
        (row, column): value
        for row, values in zip(matrix["rows"], matrix["values"], strict=True)
        for column, value in zip(matrix["columns"], values, strict=True)
        if value
    }
    assert from_json == expected
    # ... and the table a reader sees (HTML cells).
    cells = {
        (cell.attrs["data-row"], cell.attrs["data-column"]): int(cell.text.replace(",", ""))
        for cell in rendered.page.by_id("table-type-severity").iter("td")
        if "data-row" in cell.attrs and cell.text != "0"
    }
    assert cells == expected
    assert rendered.result.signals == sum(expected.values())

    bands = rendered.page.data["overview"]["type_by_band"]
    expected_bands = query(
        rendered.settings,
        """
        select signal_type,
            case when signal_severity >= 80 then '80-100' when signal_severity >= 60 then '60-79'
                 when signal_severity >= 40 then '40-59' when signal_severity >= 20 then '20-39'
                 else '0-19' end as band,
            count(*) as signals
        from public_marts.fct_signals where run_id = %s group by 1, 2
        """,
        (run_id,),
    )
    for row in expected_bands:
        r = bands["rows"].index(row["signal_type"])
        c = bands["columns"].index(row["band"])
        assert bands["values"][r][c] == row["signals"], row
    assert bands["total"] == sum(expected.values())

    domains = rendered.page.data["overview"]["domain_by_severity"]
    expected_domains = query(
        rendered.settings,
        "select domain, count(*) as signals from public_marts.fct_signals where run_id = %s group by 1",
        (run_id,),
    )
    assert dict(zip(domains["rows"], domains["row_totals"], strict=True)) == {
        r["domain"]: r["signals"] for r in expected_domains
    }


def test_row_counts_of_the_marts(synthetic: Rendered) -> None:
    counts = {
        row.attrs["data-relation"]: int(row.iter("td")[1].attrs["data-value"])
        for row in synthetic.page.body_rows("row-counts")
    }
    expected = query(
        synthetic.settings,
        """
        select
            (select count(*) from public_marts.fct_signals where run_id = %(run)s) as fct_signals,
            (select count(*) from public_marts.fct_contributions where run_id = %(run)s)
                as fct_contributions,
            (select count(*) from public_marts.dim_facilities) as dim_facilities,
            (select count(*) from public_marts.dim_metrics) as dim_metrics,
            (select count(*) from public_marts.dim_runs where run_id = %(run)s) as dim_runs,
            (select count(*) from public_semantic.metricflow_time_spine) as time_spine
        """,
        {"run": SYNTHETIC_RUN},
    )[0]
    assert counts["public_marts.fct_signals"] == expected["fct_signals"] > 0
    assert counts["public_marts.fct_contributions"] == expected["fct_contributions"] > 0
    assert counts["public_marts.dim_facilities"] == expected["dim_facilities"]
    assert counts["public_marts.dim_metrics"] == expected["dim_metrics"]
    assert counts["public_marts.dim_runs"] == expected["dim_runs"] == 1
    assert counts["public_semantic.metricflow_time_spine"] == expected["time_spine"]
    # Only the marts and the semantic layer are listed (and so counted).
    assert {name.split(".")[0] for name in counts} == {"public_marts", "public_semantic"}


def test_run_header_is_the_run_of_dim_runs(synthetic: Rendered, warehouse: Warehouse) -> None:
    run = query(
        warehouse.settings,
        "select * from public_marts.dim_runs where run_id = %s",
        (SYNTHETIC_RUN,),
    )[0]
    data = synthetic.page.data
    assert data["run"]["run_id"] == SYNTHETIC_RUN
    assert data["run"]["graph_name"] == run["graph_name"] == WAREHOUSE_SYNTHETIC["graph"]
    assert data["run"]["detected_at"] == run["detected_at"].isoformat()
    assert SYNTHETIC_RUN in synthetic.page.by_id("run").text


def test_the_newest_run_is_the_default(warehouse: Warehouse, tmp_path: Path) -> None:
    newest = query(
        warehouse.settings,
        "select run_id from public_marts.dim_runs order by detected_at desc, run_id desc limit 1",
    )[0]["run_id"]
    rendered = render(warehouse.settings, tmp_path / "newest.html", top=1, table_rows=5)
    assert rendered.result.run_id == newest
    assert tmp_path.joinpath("newest.html").is_file()


def test_top_signals_are_the_marts_top_signals(synthetic: Rendered) -> None:
    table_rows = len(synthetic.page.data["table"])
    expected = query(
        synthetic.settings,
        f"""
        select signal_id, facility_id, metric_id, group_value, signal_type, signal_severity,
               severity, simple_zscore, anomaly_classification, monthly_z_scores
        from public_marts.fct_signals where run_id = %s
        order by {TOP_SIGNAL_ORDER} limit %s
        """,
        (SYNTHETIC_RUN, table_rows),
    )
    assert table_rows == 120 == len(expected)
    rows = synthetic.page.body_rows("signals-table")
    assert [row.attrs["data-signal"] for row in rows] == [r["signal_id"] for r in expected]
    for row, mart in zip(rows, expected, strict=True):
        signal = synthetic.page.signal(int(row.attrs["data-index"]))
        for column in ("facility_id", "metric_id", "group_value", "signal_type", "severity"):
            assert signal[column] == mart[column], column
        assert signal["signal_severity"] == mart["signal_severity"]
        assert signal["simple_zscore"] == pytest.approx(mart["simple_zscore"], rel=1e-12)
        assert signal["anomaly_classification"] == mart["anomaly_classification"]
        assert signal["monthly_z_scores"] == [
            None if z is None else round(z, 3) for z in mart["monthly_z_scores"]
        ]
        cells = row.iter("td")
        assert cells[5].attrs["data-sort"] == str(mart["signal_severity"])
        assert float(cells[6].attrs["data-sort"]) == pytest.approx(mart["simple_zscore"])
        assert cells[6].text == f"{mart['simple_zscore']:,.2f}"


def test_signal_details_follow_the_mart(synthetic: Rendered) -> None:
    details = synthetic.page.data["details"]
    table = synthetic.page.data["table"]
    assert len(details) == synthetic.page.data["options"]["top"]
    for rank, detail in enumerate(details, start=1):
        assert detail["rank"] == rank
        assert detail["signal"] == table[rank - 1]
    first = details[0]
    signal_id = synthetic.page.signal(first["signal"])["signal_id"]
    mart = query(
        synthetic.settings,
        """
        select metric_trend_timeline, peer_percentile_trends, classification_reasoning,
               simple_zscore_anomaly, slope_anomaly
        from public_marts.fct_signals where signal_id = %s
        """,
        (signal_id,),
    )[0]
    assert first["metric_trend_timeline"] == mart["metric_trend_timeline"]
    assert first["peer_percentile_trends"] == mart["peer_percentile_trends"]
    assert first["slope_anomaly"] == mart["slope_anomaly"]
    article = synthetic.page.by_id(f"signal-{signal_id}")
    reasoning = next(p for p in article.iter("p") if "reasoning-text" in p.attrs.get("class", ""))
    assert reasoning.text == mart["classification_reasoning"]
    charts = [d.attrs["data-chart"] for d in article.iter("div") if "data-chart" in d.attrs]
    assert "timeline" in charts


def test_contribution_shares_of_a_parent_signal(synthetic: Rendered) -> None:
    parents = [
        d
        for d in synthetic.page.data["details"]
        if d["contributions"] and d["contributions"][0]["role"] == "children"
    ]
    assert parents, "no detailed signal has child segments"
    detail = parents[0]
    signal_id = synthetic.page.signal(detail["signal"])["signal_id"]
    expected = query(
        synthetic.settings,
        """
        select child_node_id, child_group_value, weight_share, contribution_pct, contribution_rank
        from public_marts.fct_contributions
        where run_id = %s and parent_signal_id = %s and is_metric_contribution
        order by child_node_id, contribution_rank
        """,
        (SYNTHETIC_RUN, signal_id),
    )
    assert expected
    limit = synthetic.page.data["options"]["child_segments"]
    kept = [s for s in detail["contributions"] if not s["is_rest"]]
    assert [(s["child_node_id"], s["child_group_value"]) for s in kept] == [
        (e["child_node_id"], e["child_group_value"])
        for e in expected
        if e["contribution_rank"] <= limit
    ]
    for segment, mart in zip(kept, expected, strict=False):
        assert segment["weight_share"] == pytest.approx(mart["weight_share"], rel=1e-12)
    # The rest is summed per child node: every child node's shares still add up to 1.
    for node in {e["child_node_id"] for e in expected}:
        node_segments = [s for s in detail["contributions"] if s["child_node_id"] == node]
        mart_total = sum(e["weight_share"] for e in expected if e["child_node_id"] == node)
        assert sum(s["weight_share"] for s in node_segments) == pytest.approx(mart_total)
        assert mart_total == pytest.approx(1.0, abs=1e-6)
        rest = [s for s in node_segments if s["is_rest"]]
        others = [
            e for e in expected if e["child_node_id"] == node and e["contribution_rank"] > limit
        ]
        assert len(rest) == (1 if others else 0)
        if others:
            assert rest[0]["child_group_value"] == f"{len(others)} other segments"
    article = synthetic.page.by_id(f"signal-{signal_id}")
    assert any(d.attrs.get("data-chart") == "contributions" for d in article.iter("div"))


def test_a_child_signal_shows_its_parents_segments(synthetic: Rendered) -> None:
    children = [
        d
        for d in synthetic.page.data["details"]
        if d["contributions"] and d["contributions"][0]["role"] == "siblings"
    ]
    assert children
    detail = children[0]
    signal_id = synthetic.page.signal(detail["signal"])["signal_id"]
    selves = [s for s in detail["contributions"] if s["is_self"]]
    assert [s["child_signal_id"] for s in selves] == [signal_id]
    share = query(
        synthetic.settings,
        """
        select weight_share from public_marts.fct_contributions
        where run_id = %s and child_signal_id = %s and is_metric_contribution
        """,
        (SYNTHETIC_RUN, signal_id),
    )
    assert selves[0]["weight_share"] == pytest.approx(share[0]["weight_share"])


def test_facility_views_cover_every_facility_in_the_table(synthetic: Rendered) -> None:
    data = synthetic.page.data
    facilities = data["facilities"]
    limit = data["options"]["facility_signals"]
    in_table = {synthetic.page.signal(index)["facility_id"] for index in data["table"]}
    assert in_table <= set(facilities)
    facility_id = synthetic.page.signal(data["table"][0])["facility_id"]
    expected = query(
        synthetic.settings,
        f"""
        select signal_id from public_marts.fct_signals
        where run_id = %s and facility_id = %s order by {TOP_SIGNAL_ORDER}
        """,
        (SYNTHETIC_RUN, facility_id),
    )
    view = facilities[facility_id]
    assert view["signal_count"] == len(expected)
    assert [synthetic.page.signal(i)["signal_id"] for i in view["signals"]] == [
        r["signal_id"] for r in expected[:limit]
    ]
    # Every facility link of the page opens a facility the data has.
    links = [
        a for a in synthetic.page.root.iter("a") if "facility-link" in a.attrs.get("class", "")
    ]
    assert links
    for link in links:
        assert link.attrs["href"].startswith("#facility=")


def test_a_partial_run_reports_signals_without_node_results(partial: Rendered) -> None:
    data = partial.page.data
    without = query(
        partial.settings,
        "select count(*) as n from public_marts.fct_signals where run_id = %s and not has_entity_result",
        (CONTAINER_RUN_ID,),
    )[0]["n"]
    assert without > 0
    assert data["overview"]["type_by_severity"]["column_totals"][-1] >= without
    first = data["details"][0]
    if first.get("has_entity_result") is False:
        article = partial.page.by_id(f"signal-{partial.page.signal(first['signal'])['signal_id']}")
        assert any("partial" in p.attrs.get("class", "") for p in article.iter("p"))
    # A real run ships no contribution files: the details say so instead of a chart.
    assert all(not d["contributions"] for d in data["details"])


# -- build health ------------------------------------------------------------------------


def test_build_health_counts_the_builds_tests(synthetic: Rendered, warehouse: Warehouse) -> None:
    results = (warehouse.build.run_results or {}).get("results", [])
    tests = [r for r in results if r["unique_id"].split(".")[0] in ("test", "unit_test")]
    assert tests
    health = synthetic.page.data["build_health"]
    assert health["found"] is True
    summary = health["run_results"]
    assert summary["command"] == "build"
    assert summary["tests"]["passed"] == sum(r["status"] == "pass" for r in tests)
    assert summary["tests"]["warned"] == sum(r["status"] == "warn" for r in tests)
    assert summary["tests"]["failed"] == sum(r["status"] == "fail" for r in tests)
    shown = {
        span.attrs["data-count"]: int(span.text.replace(",", ""))
        for span in synthetic.page.by_id("test-counts").iter("span")
        if "data-count" in span.attrs
    }
    assert shown["passed"] == summary["tests"]["passed"]
    marts = {m["model"]: m for m in summary["marts"]}
    assert {"fct_signals", "fct_contributions", "dim_facilities", "dim_metrics", "dim_runs"} <= set(
        marts
    )
    total = query(warehouse.settings, "select count(*) as n from public_marts.fct_signals")[0]["n"]
    assert marts["fct_signals"]["rows_affected"] == total
    assert marts["fct_signals"]["completed_at"]
    # The warehouse fixture runs no `dbt source freshness`: the section says so.
    assert health["freshness"] is None
    assert "No sources.json" in synthetic.page.by_id("build-health").text
    assert not synthetic.page.has_id("not-a-build")


def test_missing_artefacts_are_reported_not_fatal(warehouse: Warehouse, tmp_path: Path) -> None:
    empty = tmp_path / "no_target"
    empty.mkdir()
    rendered = render(
        warehouse.settings, tmp_path / "r.html", run_id=SYNTHETIC_RUN, top=1, target_path=empty
    )
    assert "No build artefacts found" in rendered.page.by_id("no-artefacts").text
    assert rendered.page.data["build_health"]["found"] is False


def test_unreadable_artefacts_are_named(warehouse: Warehouse, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "run_results.json").write_text('{"results": [', encoding="utf-8")
    sources = {
        "metadata": {"generated_at": "2026-01-15T17:00:00Z"},
        "results": [
            {"unique_id": "source.quality_compass.raw.raw_runs", "status": "warn",
             "max_loaded_at": "2026-01-14T17:00:00+00:00", "max_loaded_at_time_ago_in_s": 86400,
             "criteria": {"warn_after": {"count": 12, "period": "hour"},
                          "error_after": {"count": 48, "period": "hour"}}},
            {"unique_id": "source.quality_compass.raw.raw_loads", "status": "pass"},
        ],
    }  # fmt: skip
    (target / "sources.json").write_text(json.dumps(sources), encoding="utf-8")
    rendered = render(
        warehouse.settings, tmp_path / "r.html", run_id=SYNTHETIC_RUN, top=1, target_path=target
    )
    health = rendered.page.data["build_health"]
    assert health["run_results"] is None
    assert len(health["problems"]) == 1 and "run_results.json: unreadable" in health["problems"][0]
    assert health["freshness"]["status"] == "warn"
    assert health["freshness"]["statuses"] == {"warn": 1, "pass": 1}
    freshness_rows = rendered.page.body_rows("freshness")
    assert [row.iter("td")[1].text for row in freshness_rows] == ["pass", "warn"]
    assert "unreadable" in rendered.page.by_id("build-health").text


def test_artefacts_of_a_command_without_tests_say_so(warehouse: Warehouse, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    run_results = {
        "metadata": {"generated_at": "2026-01-15T17:00:00Z", "dbt_version": "1.11.0"},
        "args": {"which": "run-operation"},
        "elapsed_time": 1.5,
        "results": [],
    }
    (target / "run_results.json").write_text(json.dumps(run_results), encoding="utf-8")
    rendered = render(
        warehouse.settings, tmp_path / "r.html", run_id=SYNTHETIC_RUN, top=1, target_path=target
    )
    assert "dbt run-operation" in rendered.page.by_id("not-a-build").text
    assert rendered.page.data["build_health"]["run_results"]["tests"]["passed"] == 0


# -- safe rendering, the history section and the marts-only rule (on a copy) ---------------


@dataclass
class Altered:
    settings: DbSettings
    facility_id: str
    signal_id: str
    synthetic: Rendered
    history: Rendered


# The real fct_signal_history of the warehouse has the host run's history against the
# container run, but the two real runs hold the same signals (all persist). The test copy
# replaces that run's rows with made-up changes (below).
HISTORY_CLEAR = "delete from public_marts.fct_signal_history where run_id = %(run)s"

# History of the host run against the container run (same graph, detected before it), in
# the fct_signal_history contract. The real runs hold the same signals, so the changes are
# made up deterministically: the first signals (by id) are new, escalated, type-changed or
# de-escalated, six of the container run's signals are resolved (and removed from the host
# run, so the copy stays consistent), the rest persist.
HISTORY_ROWS = """
with resolved as (
    select canonical_node_id, entity_key, metric_id
    from public_marts.fct_signals where run_id = %(previous)s
    order by signal_id limit 6
),
deleted as (
    delete from public_marts.fct_signals as current_signal
    using resolved
    where current_signal.run_id = %(run)s
        and current_signal.canonical_node_id = resolved.canonical_node_id
        and current_signal.entity_key = resolved.entity_key
        and current_signal.metric_id = resolved.metric_id
    returning current_signal.signal_id
),
current_signals as (
    select *, row_number() over (order by signal_id) as position
    from public_marts.fct_signals
    where run_id = %(run)s and signal_id not in (select signal_id from deleted)
),
changes as (
    select
        current_signals.*,
        case
            when position <= 7 then 'new'
            when position <= 12 then 'escalated'
            when position <= 16 then 'type_changed'
            when position <= 19 then 'deescalated'
            else 'persisting'
        end as change_status
    from current_signals
)
insert into public_marts.fct_signal_history (
    run_id, graph_name, canonical_node_id, entity_key, metric_id, facility_id, signal_id,
    signal_type, signal_severity, change_status, previous_run_id, previous_signal_type,
    previous_signal_severity, severity_change, consecutive_runs, first_detected_run_id,
    detected_at
)
select
    run_id, 'test_minimal', canonical_node_id, entity_key, metric_id, facility_id, signal_id,
    signal_type, signal_severity, change_status,
    case when change_status <> 'new' then %(previous)s end,
    case when change_status = 'type_changed' then 'baseline'
         when change_status <> 'new' then signal_type end,
    case when change_status = 'escalated' then signal_severity - 10
         when change_status = 'deescalated' then signal_severity + 5
         when change_status <> 'new' then signal_severity end,
    case when change_status = 'escalated' then 10 when change_status = 'deescalated' then -5
         when change_status <> 'new' then 0 end,
    case when change_status = 'new' then 1 else 2 end,
    case when change_status = 'new' then run_id else %(previous)s end,
    detected_at
from changes
union all
select
    %(run)s, 'test_minimal', previous_signal.canonical_node_id, previous_signal.entity_key,
    previous_signal.metric_id, previous_signal.facility_id, null, null, null, 'resolved',
    %(previous)s, previous_signal.signal_type, previous_signal.signal_severity, null, 0,
    %(previous)s,
    (select max(detected_at) from public_marts.fct_signals where run_id = %(run)s)
from public_marts.fct_signals as previous_signal
join resolved using (canonical_node_id, entity_key, metric_id)
where previous_signal.run_id = %(previous)s
"""


@pytest.fixture(scope="module")
def altered(
    warehouse: Warehouse,
    pg_server: DbSettings,
    build_artefacts: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Altered]:
    """A copy of the warehouse with a hostile facility name and reasoning on the synthetic
    run's top signal, and made-up fct_signal_history rows for the host run."""
    name = f"qc_test_report_{uuid.uuid4().hex[:10]}"
    admin = pg_server.conninfo(database="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create database {} template {} strategy file_copy").format(
                sql.Identifier(name), sql.Identifier(warehouse.settings.database)
            )
        )
    settings = warehouse.settings.with_database(name)
    try:
        top = query(
            settings,
            f"""select signal_id, facility_id from public_marts.fct_signals
                where run_id = %s order by {TOP_SIGNAL_ORDER} limit 1""",
            (SYNTHETIC_RUN,),
        )[0]
        with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
            conn.execute(
                "update public_marts.dim_facilities set facility_name = %s where facility_id = %s",
                (HOSTILE_NAME, top["facility_id"]),
            )
            conn.execute(
                "update public_marts.fct_signals set facility_name = %s where facility_id = %s",
                (HOSTILE_NAME, top["facility_id"]),
            )
            conn.execute(
                """update public_marts.fct_signals
                   set classification_reasoning = %s, group_value = %s where signal_id = %s""",
                (HOSTILE_REASONING, HOSTILE_GROUP, top["signal_id"]),
            )
            conn.execute(HISTORY_CLEAR.encode(), {"run": HOST_RUN_ID})  # type: ignore[arg-type]
            conn.execute(
                HISTORY_ROWS.encode(),  # type: ignore[arg-type]
                {"run": HOST_RUN_ID, "previous": CONTAINER_RUN_ID},
            )
        out = tmp_path_factory.mktemp("report_altered")
        yield Altered(
            settings=settings,
            facility_id=top["facility_id"],
            signal_id=top["signal_id"],
            synthetic=render(
                settings,
                out / "hostile.html",
                run_id=SYNTHETIC_RUN,
                top=5,
                table_rows=60,
                target_path=build_artefacts,
            ),
            history=render(
                settings, out / "history.html", run_id=HOST_RUN_ID, top=5, table_rows=40
            ),
        )
    finally:
        if not os.environ.get("QC_KEEP_TEST_DATABASES"):
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )


def test_hostile_text_is_escaped(altered: Altered) -> None:
    page = altered.synthetic.page
    html = page.html
    for hostile in (HOSTILE_NAME, HOSTILE_REASONING, HOSTILE_GROUP, "<!-- comment"):
        assert hostile not in html, hostile
    # Exactly the page's own three scripts: the JSON data, ECharts and the page's script.
    scripts = page.root.iter("script")
    assert [s.attrs.get("type", "") for s in scripts] == ["application/json", "", ""]
    assert not page.root.iter("img")
    # The parser gives back the hostile strings as text, where they were put.
    first_row = page.body_rows("signals-table")[0]
    assert first_row.attrs["data-signal"] == altered.signal_id
    facility_link = next(a for a in first_row.iter("a") if "facility-link" in a.attrs["class"])
    assert facility_link.text == HOSTILE_NAME
    assert HOSTILE_GROUP in first_row.text
    article = page.by_id(f"signal-{altered.signal_id}")
    reasoning = next(p for p in article.iter("p") if "reasoning-text" in p.attrs.get("class", ""))
    assert reasoning.text == HOSTILE_REASONING
    assert page.by_id("report-data").text.count("\\u003cscript\\u003e") >= 2
    # ... and the JSON still holds them exactly.
    assert page.data["facilities"][altered.facility_id]["facility_name"] == HOSTILE_NAME
    assert page.signal(page.data["table"][0])["group_value"] == HOSTILE_GROUP
    assert page.data["details"][0]["classification_reasoning"] == HOSTILE_REASONING


def test_json_for_script_cannot_close_its_element() -> None:
    value = {"name": "</script><!-- & \u2028", "n": [1.5, None]}
    text = str(json_for_script(value))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == value
    with pytest.raises(ValueError):
        json_for_script({"x": math.nan})


def test_history_section_follows_the_history_mart(altered: Altered) -> None:
    page = altered.history.page
    expected = {
        row["change_status"]: row["n"]
        for row in query(
            altered.settings,
            """select change_status, count(*) as n from public_marts.fct_signal_history
               where run_id = %s group by 1""",
            (HOST_RUN_ID,),
        )
    }
    assert expected == {
        "new": 7, "escalated": 5, "type_changed": 4, "deescalated": 3, "resolved": 6,
        "persisting": expected["persisting"],
    }  # fmt: skip
    shown = {
        span.attrs["data-status"]: int(span.text.replace(",", ""))
        for span in page.by_id("history-counts").iter("span")
        if "data-status" in span.attrs
    }
    assert shown == expected
    assert page.data["history"]["previous_run_ids"] == [CONTAINER_RUN_ID]
    limit = page.data["history"]["limit"]
    for status in ("new", "escalated", "type_changed", "resolved"):
        rows = page.body_rows(f"history-{status}")
        assert len(rows) == min(expected[status], limit), status
        severities = [
            float(row.iter("td")[5 if status != "resolved" else 6].attrs["data-sort"])
            for row in rows
        ]
        assert severities == sorted(severities, reverse=True), status
    # A resolved signal is listed with its group from the previous run.
    resolved = page.data["history"]["lists"]["resolved"]
    previous = query(
        altered.settings,
        """select facility_id, metric_id, group_value from public_marts.fct_signals
           where run_id = %s""",
        (CONTAINER_RUN_ID,),
    )
    known = {(r["facility_id"], r["metric_id"], r["group_value"]) for r in previous}
    for row in resolved:
        assert row["signal_id"] is None
        assert (row["facility_id"], row["metric_id"], row["group_value"]) in known
    assert not page.has_id("no-history")
    assert altered.synthetic.page.data["history"] is not None  # the relation exists


def test_no_history_section_without_the_history_mart(altered: Altered, tmp_path: Path) -> None:
    """A warehouse built before the history mart existed (the relation is renamed away)."""
    rename = "alter table public_marts.{} rename to {}"
    with psycopg.connect(altered.settings.conninfo(), autocommit=True) as conn:
        conn.execute(rename.format("fct_signal_history", "fct_signal_history_away").encode())
        try:
            rendered = render(altered.settings, tmp_path / "no_history.html", run_id=SYNTHETIC_RUN)
        finally:
            conn.execute(rename.format("fct_signal_history_away", "fct_signal_history").encode())
    assert rendered.page.data["history"] is None
    assert not rendered.page.has_id("history")
    assert "fct_signal_history" in rendered.page.by_id("no-history").text


def test_the_report_reads_only_marts_and_semantic_tables(altered: Altered, tmp_path: Path) -> None:
    """As a role that may read public_marts and public_semantic and nothing else."""
    role = f"qc_report_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(altered.settings.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
        for schema in ("public_marts", "public_semantic"):
            conn.execute(
                sql.SQL("grant usage on schema {} to {}").format(
                    sql.Identifier(schema), sql.Identifier(role)
                )
            )
            conn.execute(
                sql.SQL("grant select on all tables in schema {} to {}").format(
                    sql.Identifier(schema), sql.Identifier(role)
                )
            )
    reader = dataclasses.replace(altered.settings, user=role, password="")
    try:
        with (
            psycopg.connect(reader.conninfo()) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("select count(*) from public_staging.stg_runs")
        rendered = render(reader, tmp_path / "reader.html", run_id=HOST_RUN_ID, top=3)
        assert rendered.page.data["history"] is not None
        assert rendered.result.signals > 0
    finally:
        with psycopg.connect(altered.settings.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


# -- the file itself and the command line --------------------------------------------------


def test_the_page_is_self_contained(synthetic: Rendered) -> None:
    html = synthetic.page.html
    root = synthetic.page.root
    # No element refers to anything outside the page.
    for element in root.iter():
        for attribute in ("src", "href", "action", "data", "poster"):
            value = element.attrs.get(attribute)
            if value is not None:
                assert value.startswith("#"), f"<{element.tag} {attribute}={value!r}>"
    assert not root.iter("link") and not root.iter("iframe")
    assert "@import" not in html
    style = root.iter("style")[0].text
    assert "url(" not in style and "@font-face" not in style
    csp = next(
        m for m in root.iter("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"
    )
    assert "default-src 'none'" in csp.attrs["content"]
    assert "connect-src" not in csp.attrs["content"]  # falls back to default-src 'none'
    assert synthetic.result.bytes == len(html.encode("utf-8"))


def test_the_vendored_chart_library_is_the_recorded_one() -> None:
    from importlib import resources

    library = resources.files("quality_compass.report").joinpath(ECHARTS_FILE).read_bytes()
    assert hashlib.sha256(library).hexdigest() == ECHARTS_SHA256
    folder = resources.files("quality_compass.report").joinpath("static/echarts")
    for licence in ("LICENSE", "NOTICE", "LICENSE-d3", "VENDORED.md"):
        assert folder.joinpath(licence).is_file(), licence
    assert ECHARTS_SHA256 in folder.joinpath("VENDORED.md").read_text()


def test_qc_report_command(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in warehouse.settings.dbt_env().items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "cli.html"
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["report", "--run", SYNTHETIC_RUN, "--out", str(out), "--top", "3", "--rows", "20",
         "--artefacts", str(warehouse.target_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(out.resolve())
    page = ReportPage.parse(out.read_text(encoding="utf-8"))
    assert len(page.body_rows("signals-table")) == 20
    assert len(page.data["details"]) == 3

    missing = runner.invoke(app, ["report", "--run", "19990101000000", "--out", str(out)])
    assert missing.exit_code == 2
    assert "run '19990101000000' is not in the marts" in missing.output


def test_qc_report_on_a_database_without_marts(fresh_db: DbSettings, tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"the marts are not built in database"):
        write_report(fresh_db, ReportOptions(), tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


# -- in a real browser -----------------------------------------------------------------------


def chromium_executable(candidates: list[str] | None = None) -> str:
    """Debian's chromium (CI installs it); a clear failure when it is missing."""
    if candidates is None:
        candidates = [
            os.environ.get("QC_CHROMIUM", ""),
            shutil.which("chromium") or "",
            "/usr/bin/chromium",
        ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    message = (
        "headless Chromium not found: install it with `apt-get install -y chromium` "
        "(Debian; .ci/run does this), point QC_CHROMIUM at a chromium binary, or set "
        "QC_SKIP_BROWSER=1 to skip the browser tests"
    )
    if os.environ.get("QC_SKIP_BROWSER") == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def test_a_missing_chromium_fails_with_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = [str(tmp_path / "no-chromium")]
    monkeypatch.delenv("QC_SKIP_BROWSER", raising=False)
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y chromium"):
        chromium_executable(missing)
    monkeypatch.setenv("QC_SKIP_BROWSER", "1")
    with pytest.raises(pytest.skip.Exception):
        chromium_executable(missing)


@dataclass
class BrowserRecord:
    console_errors: list[str]
    requests: list[str]
    dialogs: list[str]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def open_page(browser: Any, path: Path) -> tuple[Any, BrowserRecord]:
    record = BrowserRecord([], [], [])
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    url = path.resolve().as_uri()

    def route(route_: Any) -> None:
        # Only the page itself may load; anything else is blocked (and recorded below).
        if route_.request.url == url:
            route_.continue_()
        else:
            route_.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda request: record.requests.append(request.url))
    page.on(
        "console",
        lambda message: (
            record.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: record.console_errors.append(str(error)))
    page.on("dialog", lambda dialog: (record.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(url)
    page.wait_for_selector("body[data-report-ready=true]", timeout=20_000)
    return page, record


def visible_rows(page: Any) -> list[dict[str, str]]:
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        "#signals-table tbody tr:not([hidden])",
        "rows => rows.map(r => ({signal: r.dataset.signal, type: r.cells[4].textContent.trim(),"
        " z: r.cells[6].dataset.sort}))",
    )


def check_charts_rendered(page: Any, data: dict[str, Any]) -> None:
    """The table and the charts: heat map cells, a timeline, contributions, sparklines."""
    assert len(visible_rows(page)) == len(data["table"]) == 60
    heatmap = page.evaluate(
        """() => {
            const chart = echarts.getInstanceByDom(document.getElementById('chart-type-severity'));
            return chart ? chart.getOption().series[0].data.length : -1;
        }"""
    )
    matrix = data["overview"]["type_by_severity"]
    assert heatmap == len(matrix["rows"]) * len(matrix["columns"])
    assert page.locator("#chart-type-severity canvas").count() >= 1
    page.locator("[data-chart=timeline]").first.scroll_into_view_if_needed()
    page.wait_for_selector("[data-chart=timeline][data-rendered=true] canvas", timeout=10_000)
    page.locator("[data-chart=contributions]").first.scroll_into_view_if_needed()
    page.wait_for_selector("[data-chart=contributions][data-rendered=true]", timeout=10_000)
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("#signals-table").scroll_into_view_if_needed()
    page.wait_for_selector("[data-chart=sparkline][data-rendered=true] canvas", timeout=10_000)


def check_filter_and_sort(page: Any, signals: list[dict[str, Any]]) -> None:
    """Filtering by a facility id, then by a signal type; sorting by z-score."""
    facility = signals[0]["facility_id"]
    page.fill("#signal-filter", facility.lower())
    shown = visible_rows(page)
    assert [row["signal"] for row in shown] == [
        s["signal_id"] for s in signals if s["facility_id"] == facility
    ]
    assert page.text_content("#filter-count") == f"{len(shown)} of 60 rows"
    signal_type = signals[-1]["signal_type"]
    page.fill("#signal-filter", signal_type.replace("_", " "))
    shown = visible_rows(page)
    assert len(shown) == sum(s["signal_type"] == signal_type for s in signals) > 0
    assert {row["type"] for row in shown} == {signal_type.replace("_", " ")}
    page.fill("#signal-filter", "")
    assert len(visible_rows(page)) == 60
    # Sorting by z-score: largest first, empty values last.
    page.click("#signals-table thead th:nth-child(7)")
    values = [float(row["z"]) for row in visible_rows(page) if row["z"] != ""]
    assert values == sorted(values, reverse=True)


def check_facility_view(page: Any, altered: Altered, data: dict[str, Any], facility: str) -> None:
    """The facility view, from the top signal's row: the hostile name is text, nothing ran."""
    page.click(f'#signals-table tbody tr[data-signal="{altered.signal_id}"] a.facility-link')
    page.wait_for_selector("#facility-view:not([hidden])")
    title = page.text_content("#facility-title")
    assert title == f"{HOSTILE_NAME} ({facility})"
    view = data["facilities"][facility]
    assert page.locator("#facility-signals tbody tr").count() == len(view["signals"])
    page.wait_for_selector("#chart-facility[data-rendered=true] canvas")
    page.keyboard.press("Escape")
    page.wait_for_selector("#facility-view", state="hidden")


def save_screenshot(page: Any, tmp_path: Path) -> None:
    """A full-page screenshot (also where QC_REPORT_SCREENSHOT says, for a developer)."""
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    if os.environ.get("QC_REPORT_SCREENSHOT"):
        target = Path(os.environ["QC_REPORT_SCREENSHOT"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


@pytest.mark.browser
def test_report_in_headless_chromium(browser: Any, altered: Altered, tmp_path: Path) -> None:
    rendered = altered.synthetic
    data = rendered.page.data
    page, record = open_page(browser, rendered.result.path)
    try:
        check_charts_rendered(page, data)
        signals = [rendered.page.signal(index) for index in data["table"]]
        check_filter_and_sort(page, signals)
        check_facility_view(page, altered, data, signals[0]["facility_id"])
        save_screenshot(page, tmp_path)
    finally:
        page.context.close()
    assert record.dialogs == [], "a script from the data ran"
    assert record.console_errors == []
    assert record.requests == [rendered.result.path.resolve().as_uri()]


@pytest.mark.browser
def test_history_report_in_headless_chromium(browser: Any, altered: Altered) -> None:
    page, record = open_page(browser, altered.history.result.path)
    try:
        assert page.is_visible("#history")
        assert page.text_content("#history-counts [data-status=new]") == "7"
        # The partial run's first table rows have no statistics: no sparkline, no error.
        assert page.locator("#signals-table tbody tr").count() == 40
    finally:
        page.context.close()
    assert record.console_errors == []
    assert record.dialogs == []
    assert record.requests == [altered.history.result.path.resolve().as_uri()]


def test_report_page_module_reads_what_it_parses() -> None:
    page = ReportPage.parse(
        '<p id="a">x<br>y</p><script type="application/json" id="report-data">{"k": 1}</script>'
    )
    assert page.by_id("a").text == "xy"
    assert page.data == {"k": 1}
