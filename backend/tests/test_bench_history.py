"""`qc bench --history`: what the scenario reports and how it is written down.

The scenario itself builds ten 100 MB runs several times (minutes): it is run by hand
(`qc bench --history`, docs/performance.md), never by the suite. Here: the numbers it
derives from dbt's run_results.json, its Markdown, and its usage errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers import run_qc
from quality_compass.bench import render_markdown
from quality_compass.bench_history import (
    HistoryResult,
    grown_nodes,
    history_markdown,
    node_name,
    node_sums,
    node_times,
)
from quality_compass.warehouse.dbt_runner import DbtResult
from quality_compass.warehouse.settings import DbSettings


def _build(times: dict[str, float]) -> DbtResult:
    results = [{"unique_id": node, "execution_time": seconds} for node, seconds in times.items()]
    return DbtResult(["build"], 0, 1.0, "", run_results={"results": results})


ALONE = {
    "model.quality_compass.stg_nodes": 1.0,
    "model.quality_compass.fct_signal_history": 0.5,
    "test.quality_compass.unique_fct_signals_signal_id.1a2b3c4d5e": 0.2,
    "unit_test.quality_compass.fct_signal_history.every_status": 0.1,
    "seed.quality_compass.ref_facilities": 0.3,
}
DAILY = {
    **ALONE,
    "model.quality_compass.stg_nodes": 1.1,
    "model.quality_compass.fct_signal_history": 2.5,
    "test.quality_compass.unique_fct_signals_signal_id.1a2b3c4d5e": 0.9,
}


def test_node_times_and_sums_come_from_run_results() -> None:
    times = node_times(_build(DAILY))
    assert times == DAILY
    assert node_sums(times) == {"models": 3.6, "tests": 1.0}
    assert node_times(DbtResult(["build"], 1, 1.0, "failed")) == {}


def test_the_nodes_that_grow_most_come_first_by_name() -> None:
    assert grown_nodes(ALONE, DAILY, count=3) == [
        ("fct_signal_history", 0.5, 2.5),
        ("unique_fct_signals_signal_id", 0.2, 0.9),
        ("stg_nodes", 1.0, 1.1),
    ]
    assert grown_nodes({}, {"model.p.new_model": 0.4}) == [("new_model", 0.0, 0.4)]
    assert node_name("unit_test.quality_compass.fct_signal_history.every_status") == "every_status"
    assert node_name("operation") == "operation"


def _history(**changes: Any) -> dict[str, Any]:
    result = HistoryResult(runs=10, run_jsonl_mb=101.2, series_dir="/x", rounds=3)
    result.alone_build_seconds = [20.0, 22.0, 30.0]
    result.daily_build_seconds = [23.0, 24.5, 21.0]
    result.nothing_new_seconds = [17.0, 16.0, 18.0]
    result.full_refresh_seconds = 180.5
    result.first_build_seconds = 160.0
    result.ratio = round(23.0 / 22.0, 3)
    result.daily_runs_built = ["20261015102726"]
    result.new_load_seconds = [3.1]
    result.alone_load_seconds = [2.9]
    result.daily_models_built = 30
    result.node_seconds = {"alone": {"models": 30.0, "tests": 40.0}}
    result.grown = [("fct_signal_history", 0.5, 2.5)]
    payload = dict(result.__dict__)
    payload.update(changes)
    return payload


def test_history_markdown_reports_medians_ratio_and_growth() -> None:
    text = "\n".join(history_markdown(_history()))
    assert "10 runs of one graph, 101.2 MB of JSONL each, 3 round(s)" in text
    assert (
        "| run 10 alone (empty database) | 22.00 (median of 20.0, 22.0, 30.0) | 30.0 | 40.0 |"
        in text
    )
    assert (
        "| run 10 after 9 runs built (daily build) | 23.00 (median of 23.0, 24.5, 21.0) | – | – |"
        in text
    )
    assert "| nothing new (fixed cost) | 17.00 (median of 17.0, 16.0, 18.0) |" in text
    assert "| `--full-refresh`, all 10 runs | 180.5 | | |" in text
    assert "**1.045×** (target ≤ 1.25×) ✓" in text
    assert "built run(s) 20261015102726 in 30 models" in text
    assert "`qc load` of run 10: 3.1 s with the earlier runs loaded, 2.9 s alone" in text
    assert "fct_signal_history 0.5 → 2.5 s" in text
    over = "\n".join(history_markdown(_history(ratio=1.4, ok=False)))
    assert "**1.4×** (target ≤ 1.25×) ✗ over target" in over
    assert "A dbt command failed" in over


def test_a_history_only_bench_renders_without_the_sizes_table() -> None:
    payload = {
        "timestamp": "2026-01-01T00:00:00Z",
        "results_file": "/x/bench/results/2026-01-01T000000Z.json",
        "machine": {
            "cpu": "cpu",
            "cores": 2,
            "memory_gb": 8,
            "python": "3.11",
            "postgresql": "18",
            "embedded": True,
        },
        "results": [],
        "history": _history(),
    }
    text = render_markdown(payload)
    assert "| size |" not in text
    assert "History scenario (10 runs" in text


def test_history_usage_errors_exit_2(pg_server: DbSettings, tmp_path: Path) -> None:
    result = run_qc(
        pg_server,
        "bench",
        "--history",
        "--history-runs",
        "1",
        "--no-update-docs",
        "--results-dir",
        str(tmp_path),
    )
    assert result.returncode == 2
    assert "--history-runs must be at least 2" in result.stderr
    assert list(tmp_path.iterdir()) == []
