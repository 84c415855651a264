"""``qc validate``: real runs pass, generated runs pass, broken copies fail precisely."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from quality_compass.needle.layout import CLASSIFICATION_JSONL
from quality_compass.synth.generate.json_text import dumps_compact
from quality_compass.synth.generate.options import GenerateOptions, GenerateResult
from quality_compass.synth.generate.run import generate_run
from quality_compass.synth.validate.report import Issue, Report, ValidateError
from quality_compass.synth.validate.run import validate_run

BACKEND = Path(__file__).resolve().parents[1]
CONTAINER_RUN = BACKEND / "sample_runs" / "insight_graph" / "test_minimal" / "20260115110810"
HOST_RUN = BACKEND / "sample_runs" / "test_minimal" / "20260115153108"
FACILITY_AGG = "losIndex__medicareId__aggregate_time_period"
FACILITY_MONTH = "losIndex__medicareId__dischargeMonth"
SL_AGG = "losIndex__medicareId_vizientServiceLine__aggregate_time_period"
AGG_FILE = f"results/nodes/{FACILITY_AGG}.jsonl"
MONTH_FILE = f"results/nodes/{FACILITY_MONTH}.jsonl"
CONTRIB_FILE = f"analysis/contribution/{SL_AGG}.losIndex.jsonl"
CLASS_FILE = CLASSIFICATION_JSONL


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> GenerateResult:
    out = tmp_path_factory.mktemp("gen")
    return generate_run(GenerateOptions(out_dir=out, facilities=40, months=6, seed=11))


@pytest.fixture
def broken(generated: GenerateResult, tmp_path: Path) -> Path:
    """A private copy of the generated run (same graph/run_id folder names)."""
    target = tmp_path / generated.run_dir.parent.name / generated.run_dir.name
    shutil.copytree(generated.run_dir, target)
    return target


def real_copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / source.parent.name / source.name
    shutil.copytree(source, target)
    return target


def edit_line(path: Path, number: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite line ``number`` (1-based) of a JSONL file after ``change`` edits it."""
    lines = path.read_bytes().splitlines(keepends=True)
    record = orjson.loads(lines[number - 1])
    change(record)
    lines[number - 1] = (dumps_compact(record) + "\n").encode()
    path.write_bytes(b"".join(lines))


def errors(report: Report) -> list[Issue]:
    return [i for i in report.issues if i.severity == "error"]


def rendered(report: Report) -> list[str]:
    return [i.render() for i in report.issues]


def method(record: dict[str, Any], index: int) -> dict[str, Any]:
    return record["statistical_methods"][index]


# -- valid runs ------------------------------------------------------------------------


def test_real_container_run_passes() -> None:
    report = validate_run(CONTAINER_RUN)
    assert report.errors == 0, report.lines(20)
    # Only the known absences of the reference runs: 4 multi-dimension node files,
    # 6 contribution files and the classification JSONL.
    assert report.by_rule == {"10": [0, 11]}
    assert report.lines_read > 6000


def test_real_host_run_passes() -> None:
    report = validate_run(HOST_RUN)
    assert report.errors == 0, report.lines(20)
    assert set(report.by_rule) == {"10", "9.6-33"}


def test_generated_run_passes_without_warnings(generated: GenerateResult) -> None:
    report = validate_run(generated.run_dir)
    assert report.errors == 0, report.lines(20)
    assert report.warnings == 0, report.lines(20)
    assert report.files >= 20


# -- broken copies: exact file, line and rule --------------------------------------------


def test_corrupted_simple_zscore(broken: Path) -> None:
    def bump(record: dict[str, Any]) -> None:
        simple = method(record, 0)
        z = simple["statistics"]["simple_zscore"]
        # Stay inside the tier so that only the formula breaks, not the label.
        new = z + (0.001 if z < 0 else -0.001)
        simple["statistics"]["simple_zscore"] = new
        simple["anomalies"][0]["methods"][0]["statistic_value"] = new

    edit_line(broken / AGG_FILE, 5, bump)
    report = validate_run(broken)
    found = errors(report)
    assert [(i.file, i.line, i.rule) for i in found] == [(AGG_FILE, 5, "9.2-11")]
    assert (
        found[0].render().startswith(f"{AGG_FILE}:5: [9.2-11] simple_zscore ")
        and "!= (value - peer_mean)/max(peer_std, std_floor) = " in found[0].render()
    )


def test_corrupted_zscore_in_a_real_run(tmp_path: Path) -> None:
    run = real_copy(CONTAINER_RUN, tmp_path)

    def bump(record: dict[str, Any]) -> None:
        robust = method(record, 1)
        new = robust["statistics"]["robust_zscore"] + 0.0001
        robust["statistics"]["robust_zscore"] = new
        robust["anomalies"][0]["methods"][0]["statistic_value"] = new

    edit_line(run / AGG_FILE, 2, bump)
    report = validate_run(run)
    assert [(i.file, i.line, i.rule) for i in errors(report)] == [(AGG_FILE, 2, "9.2-12")]
    assert (
        "robust_zscore 0.2722319334 != (value - global_metric_median)" in errors(report)[0].message
    )


def test_corrupted_slope(broken: Path) -> None:
    def bump(record: dict[str, Any]) -> None:
        stats = method(record, 2)["statistics"]
        stats["slope"] += 1e-6  # small enough to keep every slope percentile
        stats["slope_weighted"] = stats["slope"]

    edit_line(broken / MONTH_FILE, 4, bump)
    report = validate_run(broken)
    found = errors(report)
    assert [(i.file, i.line, i.rule) for i in found] == [(MONTH_FILE, 4, "9.3-19")]
    assert "!= OLS(value ~ period index) = " in found[0].message


def test_wrong_anomaly_label(broken: Path) -> None:
    labels: dict[str, str] = {}

    def relabel(record: dict[str, Any]) -> None:
        item = method(record, 1)["anomalies"][0]["methods"][0]
        labels["old"] = item["anomaly"]
        new = "extremely_high" if item["anomaly"] != "extremely_high" else "normal"
        labels["new"] = new
        item["anomaly"] = new
        template = item["interpretation"]["template_id"]
        item["interpretation"]["template_id"] = template.rsplit("__", 1)[0] + "__" + new

    edit_line(broken / AGG_FILE, 7, relabel)
    report = validate_run(broken)
    found = errors(report)
    assert [(i.file, i.line, i.rule) for i in found] == [(AGG_FILE, 7, "9.4-23")]
    assert found[0].message.startswith(f"robust_zscore anomaly '{labels['new']}' != tier(")
    assert found[0].message.endswith(f") = '{labels['old']}'")


def test_broken_weight_share(broken: Path) -> None:
    path = broken / CONTRIB_FILE
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    parent = records[9]["parent_entity"]
    first = 1 + next(i for i, r in enumerate(records) if r["parent_entity"] == parent)

    def shift(record: dict[str, Any]) -> None:
        record["weight_share"] += 0.05

    edit_line(path, 10, shift)
    report = validate_run(broken)
    found = {(i.file, i.line, i.rule) for i in errors(report)}
    assert (CONTRIB_FILE, first, "9.5-26") in found
    assert (CONTRIB_FILE, 10, "9.5-27") in found
    assert (CONTRIB_FILE, 10, "9.5-28") in found
    assert {rule for _, _, rule in found} == {"9.5-26", "9.5-27", "9.5-28"}
    assert (
        f"{CONTRIB_FILE}:{first}: [9.5-26] sum of weight_share for parent "
        f"['{parent['medicareId']}'] is 1.05, not 1"
    ) in rendered(report)


def test_truncated_file(broken: Path) -> None:
    path = broken / MONTH_FILE
    data = path.read_bytes()
    starts = [0] + [i + 1 for i, b in enumerate(data) if b == 10]
    path.write_bytes(data[: starts[9] + 100])  # 9 full lines, then 100 bytes of line 10
    report = validate_run(broken)
    lines = rendered(report)
    assert any(line.startswith(f"{MONTH_FILE}:10: [2.1] invalid JSON line: ") for line in lines)
    assert f"{MONTH_FILE}: [2.1] file does not end with a newline (truncated?)" in lines
    assert f"{MONTH_FILE}:1: [9.1-6] entity_results_count 40 != 9 entity lines" in lines
    assert not report.ok


def test_bad_json_line(broken: Path) -> None:
    path = broken / CLASS_FILE
    lines = path.read_bytes().splitlines(keepends=True)
    lines[4] = b'{"run_id": oops\n'
    path.write_bytes(b"".join(lines))
    report = validate_run(broken)
    assert [(i.file, i.line, i.rule) for i in errors(report)] == [(CLASS_FILE, 5, "2.1")]
    assert errors(report)[0].message.startswith("invalid JSON line: ")


def test_run_id_mismatch(broken: Path) -> None:
    manifest = broken / "run_manifest.json"
    doc = json.loads(manifest.read_text())
    doc["run_id"] = "20990101000000"
    manifest.write_text(json.dumps(doc, indent=2, sort_keys=True))
    report = validate_run(broken)
    assert [i.render() for i in errors(report)] == [
        f"run_manifest.json: [9.1-1] run_id '20990101000000' != run folder '{broken.name}'"
    ]


def test_missing_results_nodes_folder(broken: Path) -> None:
    shutil.rmtree(broken / "results" / "nodes")
    report = validate_run(broken)
    assert "results/nodes: [9.1-2] folder missing: no node result files" in rendered(report)
    assert not report.ok


def test_severity_outside_its_range(broken: Path) -> None:
    path = broken / "analysis/classification/classification_summary.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[3].split(",")
    header = lines[0].split(",")
    at = header.index("severity")
    cells[at] = "101"
    lines[3] = ",".join(cells)
    path.write_text("".join(lines), encoding="utf-8")
    report = validate_run(broken)
    rules = {(i.file, i.line, i.rule) for i in errors(report)}
    assert ("analysis/classification/classification_summary.csv", 4, "9.6-34") in rules
    assert (CLASS_FILE, 3, "9.6-32") in rules  # the JSONL record no longer matches its row


def test_missing_single_dimension_node_is_an_error(tmp_path: Path) -> None:
    run = real_copy(CONTAINER_RUN, tmp_path)
    (run / MONTH_FILE).unlink()
    report = validate_run(run)
    assert f"{MONTH_FILE}: [9.1-2] node result file missing" in rendered(report)


def test_missing_folder_raises() -> None:
    with pytest.raises(ValidateError, match="run folder not found"):
        validate_run(Path("/nonexistent/run/20260101000000"))


# -- CLI -----------------------------------------------------------------------------------------


def _qc(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_POSTGRES_")}
    return subprocess.run(
        [sys.executable, "-m", "quality_compass", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_validate_real_run() -> None:
    result = _qc("validate", str(CONTAINER_RUN))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s), 11 warning(s)" in result.stdout


def test_cli_validate_reports_and_fails(broken: Path) -> None:
    def bump(record: dict[str, Any]) -> None:
        method(record, 0)["statistics"]["peer_std"] *= 2

    edit_line(broken / AGG_FILE, 3, bump)
    result = _qc("validate", str(broken), "--max-errors", "1")
    assert result.returncode == 1
    out = result.stdout.splitlines()
    assert out[0].startswith(f"{AGG_FILE}:3: [9.2-10] peer_mean/peer_std ")
    assert out[1].startswith("... ") and "more issue(s) not shown (--max-errors 1)" in out[1]
    assert "invalid run:" in result.stderr
    as_json = _qc("validate", str(broken), "--json")
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)
    assert doc["ok"] is False and doc["errors"] >= 1
    assert doc["issues"][0]["file"] == AGG_FILE and doc["issues"][0]["line"] == 3
    assert doc["by_rule"]["9.2-10"]["errors"] == 1


def test_cli_validate_missing_folder() -> None:
    result = _qc("validate", "/nonexistent/20260101000000")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: run folder not found: /nonexistent/20260101000000"
    assert _qc("validate", "--help").returncode == 0
