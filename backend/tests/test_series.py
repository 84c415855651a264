"""Series of synthetic runs (``qc generate --series``) and the signal history they make.

Generator (no database): the first run of a series is the single run of the same options;
the same seed gives the same bytes (any worker count, any series length); the runs are one
month apart (run id, started_at, the months' window); months two runs share hold the same
data; later runs miss a few facilities; every run passes ``qc validate``; with the default
options, three runs show every change status (computed in plain Python from the files,
tests/history_expectations.py).

Warehouse (the session database holds the synthetic run's series of three): the whole
fct_signal_history equals that recomputation, every status occurs in the series, and the
report and the pipeline summary of the newest run (the series' last) show the mart's
changes.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from rich.console import Console

from conftest import WAREHOUSE_SERIES, WAREHOUSE_SYNTHETIC, Warehouse
from helpers import mart_history
from history_expectations import expected_history
from quality_compass.cli.output import print_history_summary
from quality_compass.pipeline import HISTORY_ROWS, HistorySummary, history_summary
from quality_compass.report.build import ReportOptions
from quality_compass.report.writer import write_report
from quality_compass.synth.generate.options import GenerateError, GenerateOptions, GenerateResult
from quality_compass.synth.generate.run import generate_run
from quality_compass.synth.generate.series import generate_series, shift_run_id
from quality_compass.synth.validate.run import validate_run
from report_page import ReportPage

STATUSES = {"new", "type_changed", "escalated", "deescalated", "persisting", "resolved"}
SMALL: dict[str, Any] = {"facilities": 24, "months": 6, "seed": 5}
FACILITY_NODE = "losIndex__medicareId__aggregate_time_period"
FACILITY_TREND = "losIndex__medicareId__dischargeMonth"


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> list[GenerateResult]:
    out = tmp_path_factory.mktemp("series")
    return generate_series(GenerateOptions(out_dir=out, **SMALL), 3)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _entities(run_dir: Path, node_id: str) -> dict[str, dict[str, Any]]:
    """The entity lines of a single-dimension node, by facility."""
    with open(run_dir / "results" / "nodes" / f"{node_id}.jsonl", "rb") as handle:
        lines = [orjson.loads(line) for line in handle][1:]
    return {line["entity"][0]["value"]: line for line in lines}


# -- the generator -------------------------------------------------------------------------------


def test_the_first_run_is_the_single_run(series: list[GenerateResult], tmp_path: Path) -> None:
    single = generate_run(GenerateOptions(out_dir=tmp_path, **SMALL))
    assert single.run_dir.name == series[0].run_dir.name
    assert _tree(single.run_dir) == _tree(series[0].run_dir)


def test_same_seed_same_bytes_for_any_worker_count_and_length(
    series: list[GenerateResult], tmp_path: Path
) -> None:
    shorter = generate_series(GenerateOptions(out_dir=tmp_path / "a", workers=1, **SMALL), 2)
    assert [r.run_id for r in shorter] == [r.run_id for r in series[:2]]
    assert _tree(shorter[1].run_dir) == _tree(series[1].run_dir)
    other = generate_series(GenerateOptions(out_dir=tmp_path / "b", **{**SMALL, "seed": 6}), 2)
    node = Path("results/nodes") / f"{FACILITY_NODE}.jsonl"
    assert (other[1].run_dir / node).read_bytes() != (series[1].run_dir / node).read_bytes()


def test_runs_are_one_month_apart(series: list[GenerateResult]) -> None:
    started = []
    for step, result in enumerate(series):
        manifest = json.loads((result.run_dir / "run_manifest.json").read_text())
        assert manifest["run_id"] == result.run_id == result.run_dir.name
        started.append(datetime.fromisoformat(manifest["started_at"]))
        header = _header(result.run_dir, FACILITY_TREND)
        context = header["summary"]["temporal_context"]
        assert (context["start_period"], context["end_period"]) == (
            f"2025{1 + step:02d}",
            f"2025{6 + step:02d}",
        )
    assert [r.run_id[4:6] for r in series] == ["01", "02", "03"]
    assert len({r.run_id[:4] + r.run_id[6:] for r in series}) == 1  # same day and time
    assert [(b - a).days for a, b in itertools.pairwise(started)] == [31, 28]


def _header(run_dir: Path, node_id: str) -> dict[str, Any]:
    with open(run_dir / "results" / "nodes" / f"{node_id}.jsonl", "rb") as handle:
        return orjson.loads(handle.readline())  # type: ignore[no-any-return]


def test_shift_run_id_keeps_the_day_or_the_months_last_day() -> None:
    assert shift_run_id("20260131080000", 1) == "20260228080000"
    assert shift_run_id("20260131080000", 2) == "20260331080000"
    assert shift_run_id("20241231235959", 2) == "20250228235959"
    assert shift_run_id("20240229120000", 12) == "20250228120000"
    with pytest.raises(GenerateError, match="past the year 9999"):
        generate_series(GenerateOptions(out_dir=Path("/nonexistent"), run_id="99991115000000"), 3)
    with pytest.raises(GenerateError, match="--series must be between 1 and 120, got 0"):
        generate_series(GenerateOptions(out_dir=Path("/nonexistent")), 0)


def test_months_two_runs_share_hold_the_same_data(series: list[GenerateResult]) -> None:
    """Run k+1 covers the months of run k but its first, plus one new month."""
    for before, after in itertools.pairwise(series):
        earlier, later = (_entities(r.run_dir, FACILITY_TREND) for r in (before, after))
        common = set(earlier) & set(later)
        assert len(common) >= SMALL["facilities"] - 2
        for facility in common:
            old, new = earlier[facility], later[facility]
            old_timeline = old["metric"][0]["values"]["timeline"]
            new_timeline = new["metric"][0]["values"]["timeline"]
            assert old_timeline[1:] == new_timeline[:-1]
            old_encounters = old["metadata"]["per_period"]["encounters"]
            new_encounters = new["metadata"]["per_period"]["encounters"]
            assert old_encounters[1:] == new_encounters[:-1]
            assert new_timeline[-1]["value"] is not None  # facilities observe every month


def test_later_runs_miss_a_few_facilities_in_every_file(series: list[GenerateResult]) -> None:
    everyone = set(_entities(series[0].run_dir, FACILITY_NODE))
    assert len(everyone) == SMALL["facilities"] == series[0].facilities
    missing = []
    for result in series[1:]:
        present = set(_entities(result.run_dir, FACILITY_NODE))
        absent = everyone - present
        assert present < everyone and len(absent) == 1  # 5 % of 24, at least one
        assert result.facilities == len(present)
        files = [*result.run_dir.glob("results/nodes/*.jsonl")]
        files += [*result.run_dir.glob("analysis/**/*.jsonl")]
        files += [*result.run_dir.glob("analysis/**/*.csv")]
        for path in files:
            text = path.read_text()
            assert not any(facility in text for facility in absent), path
        missing.append(absent)
    assert missing[0] != missing[1]  # drawn per run: the first run's absentee is back


def test_every_run_validates(series: list[GenerateResult]) -> None:
    for result in series:
        report = validate_run(result.run_dir)
        assert report.errors == 0 and report.warnings == 0, report.lines(20)


def test_three_default_runs_show_every_change_status(tmp_path: Path) -> None:
    results = generate_series(GenerateOptions(out_dir=tmp_path), 3)
    history = expected_history([result.run_dir for result in results])
    by_run: dict[str, Counter[str]] = {}
    for (run_id, *_), row in history.items():
        by_run.setdefault(run_id, Counter())[row["change_status"]] += 1
    first, second, third = (by_run[result.run_id] for result in results)
    assert set(first) == {"new"}
    assert set(second) == STATUSES - {"new"}  # nobody is back yet
    assert set(third) == STATUSES
    report = validate_run(results[-1].run_dir)
    assert report.errors == 0 and report.warnings == 0, report.lines(20)


def _qc(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_POSTGRES_")}
    return subprocess.run(
        [sys.executable, "-m", "quality_compass", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_generate_series(tmp_path: Path) -> None:
    args = ("generate", str(tmp_path), "--facilities", "8", "--months", "4", "--seed", "3")
    result = _qc(*args, "--series", "2", "--run-id", "20260131060000")
    assert result.returncode == 0, result.stderr
    runs = [line.split("run: ", 1)[1] for line in result.stdout.splitlines() if "run: " in line]
    assert [Path(run).name for run in runs] == ["20260131060000", "20260228060000"]
    assert "8 facilities" in result.stdout and "7 facilities" in result.stdout
    bad = _qc(*args, "--series", "0")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: --series must be between 1 and 120, got 0"
    help_text = _qc("generate", "--help")
    assert "--series" in help_text.stdout and "--absent-share" in help_text.stdout


# -- the warehouse's series ------------------------------------------------------------------------

SERIES_RUNS = ("synthetic", *(f"synthetic_{i}" for i in range(2, WAREHOUSE_SERIES + 1)))


def mart_counts(warehouse: Warehouse, run_id: str) -> dict[str, int]:
    return {
        str(status): int(count)
        for status, count in warehouse.query(
            """select change_status, count(*) from public_marts.fct_signal_history
               where run_id = %s group by 1""",
            (run_id,),
        )
    }


def test_the_warehouse_series_history_equals_the_run_files(warehouse: Warehouse) -> None:
    assert warehouse.build.ok, warehouse.build.output[-3000:]
    expected = expected_history(list(warehouse.runs.values()))
    actual = mart_history(warehouse.settings)
    assert actual.keys() == expected.keys()
    wrong = [(key, actual[key], expected[key]) for key in expected if actual[key] != expected[key]]
    assert wrong[:5] == []
    series = [warehouse.runs[name].name for name in SERIES_RUNS]
    statuses = Counter(
        row["change_status"]
        for row in actual.values()
        if row["graph_name"] == WAREHOUSE_SYNTHETIC["graph"]
    )
    assert set(statuses) == STATUSES, statuses
    latest = mart_counts(warehouse, series[-1])
    assert set(latest) == STATUSES, latest
    assert {row["previous_run_id"] for key, row in actual.items() if key[0] == series[-1]} == {
        series[-2]
    }
    assert max(row["consecutive_runs"] for row in actual.values()) == WAREHOUSE_SERIES


def test_the_report_of_the_newest_run_shows_its_history(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """The series' last run is the newest: qc report's default run, with its changes."""
    latest, previous = warehouse.runs[SERIES_RUNS[-1]].name, warehouse.runs[SERIES_RUNS[-2]].name
    result = write_report(
        warehouse.settings,
        ReportOptions(top=5, table_rows=20, target_path=warehouse.target_path),
        tmp_path / "newest.html",
    )
    assert result.run_id == latest
    page = ReportPage.parse(result.path.read_text(encoding="utf-8"))
    expected = mart_counts(warehouse, latest)
    shown = {
        span.attrs["data-status"]: int(span.text.replace(",", ""))
        for span in page.by_id("history-counts").iter("span")
        if "data-status" in span.attrs
    }
    assert shown == expected
    assert page.data["history"]["previous_run_ids"] == [previous]
    for status in ("new", "escalated", "type_changed", "resolved"):
        rows = page.body_rows(f"history-{status}")
        assert len(rows) == min(expected[status], page.data["history"]["limit"]) > 0, status


def test_the_pipeline_summary_shows_the_newest_runs_changes(warehouse: Warehouse) -> None:
    latest, previous = warehouse.runs[SERIES_RUNS[-1]].name, warehouse.runs[SERIES_RUNS[-2]].name
    summary = history_summary(warehouse.settings)
    assert summary is not None
    assert (summary.run_id, summary.previous_run_id) == (latest, previous)
    expected = mart_counts(warehouse, latest)
    assert {status: n for status, n in summary.counts.items() if n} == expected
    with psycopg.connect(warehouse.settings.conninfo()) as conn:
        for status in ("new", "escalated", "resolved"):
            rows = summary.rows[status]
            assert len(rows) == min(HISTORY_ROWS, expected[status])
            most_severe = conn.execute(
                """select coalesce(signal_severity, previous_signal_severity)
                   from public_marts.fct_signal_history
                   where run_id = %s and change_status = %s
                   order by 1 desc limit %s""",
                (latest, status, HISTORY_ROWS),
            ).fetchall()
            shown = [row["signal_severity"] or row["previous_signal_severity"] for row in rows]
            assert shown == [severity for (severity,) in most_severe], status
    console = Console(record=True, width=220)
    print_history_summary(console, summary)
    text = console.export_text()
    graph = WAREHOUSE_SYNTHETIC["graph"]
    assert f"changes in the newest run {graph}/{latest} since run {previous}" in text
    assert f"new {expected['new']:,}, escalated {expected['escalated']:,}" in text
    for status in ("new", "escalated", "resolved"):
        assert f"{status} signals: the {HISTORY_ROWS} most severe of {expected[status]:,}" in text


def test_the_history_summary_prints_data_as_plain_text() -> None:
    hostile = "[bold red]HOSTILE[/] [link=http://x]y[/link]"
    row = {
        "facility_id": hostile,
        "facility_name": "[i]name[/i]",
        "metric_id": "losIndex",
        "group_value": hostile,
        "groupby_label": None,
        "signal_type": "baseline",
        "signal_severity": 40,
        "previous_run_id": "[r]",
        "previous_signal_type": "baseline",
        "previous_signal_severity": 39,
        "severity_change": 1,
    }
    summary = HistorySummary(
        run_id="[run]",
        graph_name="[graph]",
        previous_run_id="[r]",
        counts={"new": 1, "escalated": 1, "resolved": 1},
        rows={status: [{**row, "change_status": status}] for status in ("new", "escalated")},
    )
    console = Console(record=True, width=400)
    print_history_summary(console, summary)
    text = console.export_text()
    assert "changes in the newest run [graph]/[run] since run [r]" in text
    assert text.count(hostile) == 4 and "[i]name[/i]" in text
    assert "not in run [r]" in text and "39 -> 40 (+1)" in text
