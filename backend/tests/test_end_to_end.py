"""End to end: `qc pipeline` on a real fixture run and a complete synthetic run, in a
subprocess, then every mart value checked against the run files.

The expectations are computed here from the JSONL/CSV files (tests/mart_expectations.py):
counts per node, z-scores, labels, temporal enrichment, classification, contribution
weights, ranks and directions. Also: a failing step exits non-zero.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import CONTAINER_RUN
from helpers import qc_env
from mart_expectations import (
    close,
    contribution_key,
    expected_contributions,
    expected_signals,
    mismatches,
    read_run,
    signal_key,
)
from quality_compass.warehouse.settings import DbSettings

pytestmark = pytest.mark.dbt

E2E_SYNTHETIC = {
    "facilities": 30,
    "months": 12,
    "metrics": 1,
    "seed": 21,
    "run_id": "20260203070000",
    "graph": "e2e_synthetic",
}


@dataclass
class PipelineRun:
    settings: DbSettings
    runs: dict[str, Path]
    process: subprocess.CompletedProcess[str]
    report: Path

    def rows(self, statement: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with psycopg.connect(self.settings.conninfo()) as conn:
            cursor = conn.execute(statement.encode(), params)
            names = [column.name for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def qc(
    settings: DbSettings, *args: str, target_path: Path, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """`python -m quality_compass <args>` against `settings`, dbt artifacts in target_path."""
    env = qc_env(settings)
    env["DBT_TARGET_PATH"] = str(target_path)  # never the shared backend/dbt/target
    env["COLUMNS"] = "200"  # rich tables: keep the summary readable in captured output
    return subprocess.run(
        [sys.executable, "-m", "quality_compass", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def pipeline_run(
    database_factory: Callable[[str], DbSettings], tmp_path_factory: pytest.TempPathFactory
) -> PipelineRun:
    from quality_compass.synth.generate.options import GenerateOptions
    from quality_compass.synth.generate.run import generate_run

    settings = database_factory("qc_test_e2e")
    synthetic = generate_run(
        GenerateOptions(out_dir=tmp_path_factory.mktemp("e2e_runs"), **E2E_SYNTHETIC)  # type: ignore[arg-type]
    ).run_dir
    runs = {"real": CONTAINER_RUN, "synthetic": synthetic}
    report = tmp_path_factory.mktemp("e2e_report") / "report.html"
    process = qc(
        settings,
        "pipeline",
        str(CONTAINER_RUN),
        str(synthetic),
        "--report",
        str(report),
        target_path=tmp_path_factory.mktemp("e2e_target"),
    )
    return PipelineRun(settings=settings, runs=runs, process=process, report=report)


def test_pipeline_exits_zero_and_prints_a_summary_of_every_mart(pipeline_run: PipelineRun) -> None:
    out = pipeline_run.process.stdout + pipeline_run.process.stderr
    assert pipeline_run.process.returncode == 0, out[-5000:]
    for step in ("dbt seed", "dbt build", "dbt source freshness"):
        assert step in out, step
    assert "fct_signals: excluded" in out
    for title in (
        "signals by type and severity",
        "top signals",
        "contributions by child node and metric",
    ):
        assert title in out, title
    counts = pipeline_run.rows(
        """
        select
            (select count(*) from public_marts.fct_signals) as fct_signals,
            (select count(*) from public_marts.fct_contributions) as fct_contributions,
            (select count(*) from public_marts.dim_facilities) as dim_facilities,
            (select count(*) from public_marts.dim_metrics) as dim_metrics
        """
    )[0]
    for mart, rows in counts.items():
        assert rows > 0, mart
        assert f"public_marts.{mart}" in out
        assert f"{rows:,}" in out


def test_pipeline_writes_the_report_of_the_newest_run(pipeline_run: PipelineRun) -> None:
    from report_page import ReportPage

    assert pipeline_run.process.returncode == 0
    assert f"{pipeline_run.report.resolve()}" in pipeline_run.process.stdout.replace("\n", "")
    page = ReportPage.parse(pipeline_run.report.read_text(encoding="utf-8"))
    newest = pipeline_run.rows(
        "select run_id from public_marts.dim_runs order by detected_at desc, run_id desc limit 1"
    )[0]["run_id"]
    assert page.data["run"]["run_id"] == newest
    # The artefacts of this pipeline's build and freshness check (DBT_TARGET_PATH).
    health = page.data["build_health"]
    assert health["run_results"]["command"] == "build"
    assert health["run_results"]["tests"]["passed"] > 0
    assert health["freshness"]["status"] == "pass"


NULL_WITHOUT_ENTITY = ("metric_value", "simple_zscore", "anomaly_classification", "severity")


@pytest.mark.parametrize("run", ["real", "synthetic"])
def test_fct_signals_equals_the_run_files(pipeline_run: PipelineRun, run: str) -> None:
    """Every column of every signal, as tests/mart_expectations.py computes it."""
    files = read_run(pipeline_run.runs[run])
    expected = expected_signals(files)
    rows = pipeline_run.rows(
        "select * from public_marts.fct_signals where run_id = %s", (files.run_id,)
    )
    actual = {signal_key(row): row for row in rows}
    assert len(actual) == len(rows) == len(expected)
    assert mismatches(actual, expected) == []
    for key, want in expected.items():
        if not want["has_entity_result"]:
            assert all(actual[key][c] is None for c in NULL_WITHOUT_ENTITY), key
        if want["has_temporal_twin"]:
            # format spec 7: the classification's aggregate_zscore is the twin's mean simple z
            assert close(
                actual[key]["mean_simple_zscore"],
                want["classification_inputs"]["aggregate_zscore"],
            )
    twins = sum(1 for want in expected.values() if want["has_temporal_twin"])
    if run == "real":
        # partial run: 6,207 classifications - 54 suppressed; 118 facility entities loaded
        assert len(rows) == 6207 - 54
        assert twins == 118
    else:
        assert twins == len(rows)


def test_fct_contributions_equals_the_contribution_files(pipeline_run: PipelineRun) -> None:
    files = read_run(pipeline_run.runs["synthetic"])
    expected = expected_contributions(files)
    rows = pipeline_run.rows(
        "select * from public_marts.fct_contributions where run_id = %s", (files.run_id,)
    )
    actual = {contribution_key(row): row for row in rows}
    assert len(actual) == len(rows) == len(expected) > 0
    ranks = {key: row.pop("contribution_rank_range") for key, row in expected.items()}
    assert mismatches(actual, expected) == []
    for key, (low, high) in ranks.items():
        assert low <= actual[key]["contribution_rank"] <= high, key
    assert {"positive", "negative"} <= {str(row["contribution_direction"]) for row in rows}
    # the real run ships no contribution files: none of its rows
    real = pipeline_run.rows(
        "select count(*) as n from public_marts.fct_contributions where run_id = %s",
        (pipeline_run.runs["real"].name,),
    )
    assert real == [{"n": 0}]


def test_a_failing_step_exits_non_zero(
    database_factory: Callable[[str], DbSettings], tmp_path: Path
) -> None:
    settings = database_factory("qc_test_e2e_fail")
    # a dbt step fails (no such target in profiles.yml): the load has run, dbt seed fails
    failed = qc(
        settings,
        "pipeline",
        str(CONTAINER_RUN),
        "--target",
        "no_such_target",
        target_path=tmp_path / "target",
        timeout=300,
    )
    assert failed.returncode != 0
    assert "dbt seed --target no_such_target" in failed.stderr + failed.stdout
    # a missing run folder: one error line, exit 2, nothing built
    missing = qc(
        settings, "pipeline", str(tmp_path / "no_such_run"), target_path=tmp_path / "target2"
    )
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert "Traceback" not in missing.stderr


def test_pipeline_on_a_partial_real_run_warns_about_the_empty_mart(
    database_factory: Callable[[str], DbSettings], tmp_path: Path
) -> None:
    # The real runs ship no contribution files: fct_contributions is legitimately empty.
    # That is a warning, not a failure (qc demo, whose data covers every file kind, is
    # stricter).
    settings = database_factory("qc_test_e2e_partial")
    result = qc(
        settings, "pipeline", str(CONTAINER_RUN), target_path=tmp_path / "target", timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = " ".join((result.stdout + result.stderr).split())
    assert (
        "warning: public_marts.fct_contributions is empty "
        "(no loaded run has analysis/contribution/*.jsonl files)" in output
    )
    with psycopg.connect(settings.conninfo()) as conn:
        signals = conn.execute("select count(*) from public_marts.fct_signals").fetchone()
    assert signals == (6153,)
