"""``qc generate``: complete run folders in the real format, with the spec's numbers.

The statistics are recomputed here independently (plain numpy, no quality_compass.stats)
from the generated files, so a formula bug in the generator cannot hide behind the same
bug in a shared helper.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from quality_compass.needle import vocabulary
from quality_compass.synth.generate.json_text import dumps_compact
from quality_compass.synth.generate.options import (
    GenerateError,
    GenerateOptions,
    GenerateResult,
    parse_size,
)
from quality_compass.synth.generate.run import generate_run
from quality_compass.synth.validate.run import validate_run

BACKEND = Path(__file__).resolve().parents[1]
REAL_RUN = BACKEND / "sample_runs" / "insight_graph" / "test_minimal" / "20260115110810"
FACILITY_AGG = "losIndex__medicareId__aggregate_time_period"
FACILITY_MONTH = "losIndex__medicareId__dischargeMonth"
SL_AGG = "losIndex__medicareId_vizientServiceLine__aggregate_time_period"
SL_MONTH = "losIndex__medicareId_vizientServiceLine__dischargeMonth"
DS_AGG = "losIndex__medicareId_dischargeStatus__aggregate_time_period"
SIGNAL_TYPES = set(vocabulary.SIGNAL_TYPES)


def small(out: Path, **overrides: Any) -> GenerateOptions:
    base: dict[str, Any] = {"out_dir": out, "facilities": 40, "months": 6, "seed": 7}
    base.update(overrides)
    return GenerateOptions(**base)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> GenerateResult:
    return generate_run(small(tmp_path_factory.mktemp("gen")))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, "rb") as fh:
        return [orjson.loads(line) for line in fh]


def node_lines(run: GenerateResult, node: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lines = read_jsonl(run.run_dir / "results" / "nodes" / f"{node}.jsonl")
    return lines[0], lines[1:]


def stats_of(record: dict[str, Any], short: str) -> dict[str, Any]:
    for method in record["statistical_methods"]:
        if method["statistical_method"].split("__")[1] == short:
            return method["statistics"]
    raise KeyError(short)


def key_paths(obj: Any, path: str = "") -> set[tuple[str, tuple[str, ...]]]:
    """Every object path with its ordered key list (array elements merged)."""
    out: set[tuple[str, tuple[str, ...]]] = set()
    if isinstance(obj, dict):
        out.add((path, tuple(obj)))
        for key, value in obj.items():
            out |= key_paths(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for value in obj:
            out |= key_paths(value, f"{path}[]")
    return out


# -- layout and formats ------------------------------------------------------------------


def test_every_file_kind_of_a_container_run(run: GenerateResult) -> None:
    root = run.run_dir
    assert root.parent.name == "synthetic_graph"
    assert re.fullmatch(r"\d{14}", root.name)
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    expected = {
        "run_manifest.json",
        "run_manifest.semantic.json",
        "metadata_bundle.json",
        "graph.json",
        "defaults/facet_family_defaults.yaml",
        "nodes/losIndex/manifests/base.yaml",
        "nodes/losIndex/manifests/facets.yaml",
        "edges/losIndex/manifests/base.yaml",
        "results/index.json",
        "analysis/contribution/index.json",
        "analysis/contribution/manifests/cli/run_args.json",
        "analysis/classification/index.json",
        "analysis/classification/manifest.json",
        "analysis/classification/classification_summary.csv",
        "analysis/classification/classifications.jsonl",
        "graphviz/graphviz_condensed.dot",
        *(f"results/nodes/{n}.jsonl" for n in (FACILITY_AGG, FACILITY_MONTH, SL_AGG, SL_MONTH)),
        f"results/nodes/{DS_AGG}.jsonl",
        "results/nodes/losIndex__medicareId_dischargeStatus__dischargeMonth.jsonl",
        *(
            f"analysis/contribution/{SL_AGG}.{m}.jsonl"
            for m in ("losIndex", "simple_zscore", "robust_zscore")
        ),
        f"nodes/losIndex/base/facility_base/{FACILITY_AGG}.yaml",
        f"nodes/losIndex/base/facility_service_line/{SL_AGG}.yaml",
        f"edges/losIndex/base/facility_base/{FACILITY_AGG}__to__{SL_AGG}.yaml",
        f"edges/losIndex/base/facility_base/{FACILITY_AGG}__to__{DS_AGG}.yaml",
    }
    assert expected <= files
    assert len([f for f in files if f.startswith("nodes/") and "/base/" in f]) == 6
    assert len([f for f in files if f.startswith("edges/") and "/base/" in f]) == 5
    # No leftovers of the task part files or of the staging folder.
    assert not [f for f in files if "/." in f or f.startswith(".")]
    assert not list(root.parent.glob(".*.partial"))


def test_graph_edges_and_types(run: GenerateResult) -> None:
    graph = json.loads((run.run_dir / "graph.json").read_text())
    edges = {(e["source"], e["target"]): e["type"] for e in graph["edges"]}
    assert edges == {
        (FACILITY_AGG, FACILITY_MONTH): "trends_to",
        (FACILITY_AGG, SL_AGG): "segments_into",
        (FACILITY_AGG, DS_AGG): "potentially_driven_by",
        (SL_AGG, SL_MONTH): "trends_to",
        (DS_AGG, "losIndex__medicareId_dischargeStatus__dischargeMonth"): "trends_to",
    }
    bundle = json.loads((run.run_dir / "metadata_bundle.json").read_text())
    assert {"potentially_driven_by", "segments_into", "trends_to"} <= {
        e["id"] for e in bundle["edge_types"]
    }
    semantic = json.loads((run.run_dir / "run_manifest.semantic.json").read_text())
    assert semantic["taxonomy_hash"] == bundle["taxonomy_hash"]
    assert re.fullmatch(r"[0-9a-f]{16}", bundle["taxonomy_hash"])


def test_serialisation_matches_the_real_writers(run: GenerateResult) -> None:
    root = run.run_dir
    for path in root.rglob("*.json"):
        text = path.read_text(encoding="ascii")
        assert not text.endswith("\n"), path
        obj = json.loads(text)
        if path.name == "index.json" and path.parent.name == "classification":
            assert text == json.dumps(obj, separators=(",", ":"))
        else:
            sort = path.name in {"graph.json", "run_manifest.json"} or (
                path.name == "index.json" and path.parent.name == "results"
            )
            assert text == json.dumps(obj, indent=2, sort_keys=sort), path
    for path in root.rglob("*.jsonl"):
        data = path.read_bytes()
        assert data.isascii() and data.endswith(b"\n"), path
        for line in data.splitlines(keepends=True)[:50]:
            # Compact, insertion-ordered, orjson float format: the same bytes the real
            # engine writes (the same function reproduces the sample runs exactly).
            assert dumps_compact(orjson.loads(line)) + "\n" == line.decode(), path
    for path in root.rglob("*.yaml"):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("# ABOUTME: ") and lines[1].startswith("# ABOUTME: ")
    manifest = json.loads((root / "analysis/classification/manifest.json").read_text())
    assert manifest["generated_at"].endswith("+00:00Z")
    csv_text = (root / "analysis/classification/classification_summary.csv").read_text("utf-8")
    assert ",False,False," in csv_text and "\r" not in csv_text


def test_dumps_compact_reproduces_real_node_files() -> None:
    for path in (REAL_RUN / "results" / "nodes").glob("*.jsonl"):
        with open(path, encoding="ascii") as fh:
            for line in fh:
                assert dumps_compact(orjson.loads(line)) + "\n" == line


def test_records_have_the_real_key_order(run: GenerateResult) -> None:
    for node in (FACILITY_AGG, FACILITY_MONTH):
        real = read_jsonl(REAL_RUN / "results" / "nodes" / f"{node}.jsonl")
        generated = node_lines(run, node)
        assert key_paths(real[0]) == key_paths(generated[0])
        assert key_paths(real[1]) == key_paths(generated[1][0])


# -- entities ----------------------------------------------------------------------------


def test_entities_look_like_the_real_ones(run: GenerateResult) -> None:
    bundle = json.loads((run.run_dir / "metadata_bundle.json").read_text())
    vocab = {g["id"]: {v["code"] for v in g["allowed_values"]} for g in bundle["group_by_types"]}
    _, facilities = node_lines(run, FACILITY_AGG)
    ids = [r["entity"][0]["value"] for r in facilities]
    assert len(ids) == 40 and ids == sorted(ids)
    assert all(re.fullmatch(r"[A-Z]{3}\d{3}", i) for i in ids)
    assert all(re.fullmatch(r"[A-Z]+_[A-Z]+", r["metadata"]["facility"]) for r in facilities)
    _, lines = node_lines(run, SL_AGG)
    lines_by_facility: dict[str, set[str]] = defaultdict(set)
    for record in lines:
        fid, line = (e["value"] for e in record["entity"])
        assert line in vocab["vizientServiceLine"]
        lines_by_facility[fid].add(line)
    counts = [len(v) for v in lines_by_facility.values()]
    assert max(counts) < len(vocab["vizientServiceLine"])  # not every facility has every line
    assert 15 < sum(counts) / len(counts) < 36
    keys = [tuple(e["value"] for e in r["entity"]) for r in lines]
    assert keys == sorted(keys)
    _, statuses = node_lines(run, DS_AGG)
    assert all(r["entity"][1]["value"] in vocab["dischargeStatus"] for r in statuses)


def test_realism_knobs_show_up(run: GenerateResult) -> None:
    header, lines = node_lines(run, SL_AGG)
    facets = header["statistical_methods"][0]["summary"]["global_statistics"]["facets"]
    small_facets = {
        f["facet_values"]["vizientServiceLine"]
        for f in facets
        if f["facet_counts"]["entity_count"] < 15
    }
    assert small_facets, "some peer groups are below min_peer_count"
    for record in lines:
        simple = stats_of(record, "simple_zscore")
        anomaly = record["statistical_methods"][0]["anomalies"][0]["methods"][0]
        if record["entity"][1]["value"] in small_facets:
            assert simple["suppressed"] is True and simple["simple_zscore"] is None
            assert anomaly["anomaly"] == "no_score" and anomaly["statistic_value"] is None
        else:
            assert simple["suppressed"] is False
    _, months = node_lines(run, SL_MONTH)
    gappy = [r for r in months if r["metric"][0]["temporal_runtime"]["missing_count"] > 0]
    assert gappy
    for record in gappy[:20]:
        timeline = [p["value"] for p in record["metric"][0]["values"]["timeline"]]
        zs = stats_of(record, "trending_simple_zscore")["per_period_simple_zscores"]
        assert [v is None for v in timeline] == [z is None for z in zs]
        slope = stats_of(record, "slope_percentile")
        observed = sum(v is not None for v in timeline)
        assert slope["period_count"] == observed
        assert (slope["slope"] is None) == (observed < 6)
        assert slope["acceleration"] is None


def test_all_nine_signal_types_are_reachable(run: GenerateResult) -> None:
    assert set(run.signal_types) == SIGNAL_TYPES


# -- the numbers, recomputed independently ---------------------------------------------------


def test_aggregate_statistics_recomputed(run: GenerateResult) -> None:
    header, lines = node_lines(run, FACILITY_AGG)
    values = np.array([r["metric"][0]["values"] for r in lines])
    mean, std = values.mean(), values.std(ddof=0)
    median = np.median(values)
    mad = 1.4826 * np.median(np.abs(values - median))
    facet = header["statistical_methods"][1]["summary"]["global_statistics"]["facets"][0]
    assert facet["method_statistics"]["global_mad"] == pytest.approx(mad, abs=1e-12)
    for value, record in zip(values, lines, strict=True):
        simple = stats_of(record, "simple_zscore")
        assert simple["peer_mean"] == pytest.approx(mean, abs=1e-12)
        assert simple["simple_zscore"] == pytest.approx((value - mean) / std, abs=1e-9)
        below, equal = (values < value).sum(), (values == value).sum()
        assert simple["percentile_rank"] == pytest.approx(100 * (below + 0.5 * equal) / 40)
        robust = stats_of(record, "robust_zscore")
        assert robust["robust_zscore"] == pytest.approx((value - median) / mad, abs=1e-9)
        label = record["statistical_methods"][0]["anomalies"][0]["methods"][0]["anomaly"]
        bounds = [-3, -2, -1, -0.5, 0.5, 1, 2, 3]
        tiers = ["extremely_low", "very_low", "moderately_low", "slightly_low", "normal"]
        tiers += ["slightly_high", "moderately_high", "very_high", "extremely_high"]
        z = simple["simple_zscore"]
        assert label == tiers[next((i for i, b in enumerate(bounds) if z <= b), 8)]


def test_multi_dimension_peer_groups_are_per_facet(run: GenerateResult) -> None:
    _, lines = node_lines(run, SL_AGG)
    by_facet: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in lines:
        by_facet[record["entity"][1]["value"]].append(record)
    checked = 0
    for records in by_facet.values():
        if len(records) < 15:
            continue
        values = np.array([r["metric"][0]["values"] for r in records])
        for value, record in zip(values, records, strict=True):
            z = stats_of(record, "simple_zscore")["simple_zscore"]
            assert z == pytest.approx((value - values.mean()) / values.std(), abs=1e-9)
        checked += 1
    assert checked >= 10


def test_temporal_statistics_recomputed(run: GenerateResult) -> None:
    header, lines = node_lines(run, FACILITY_MONTH)
    matrix = np.array([[p["value"] for p in r["metric"][0]["values"]["timeline"]] for r in lines])
    z = (matrix - matrix.mean(axis=0)) / matrix.std(axis=0)
    slopes = np.polyfit(np.arange(6), matrix.T, 1)[0]
    trends = header["statistical_methods"][1]["summary"]["global_statistics"]["percentile_trends"]
    assert trends["p50"] == pytest.approx(list(np.percentile(matrix, 50, axis=0)))
    assert trends["sample_sizes"] == [40] * 6
    assert trends["periods"] == ["202501", "202502", "202503", "202504", "202505", "202506"]
    for i, record in enumerate(lines):
        simple = stats_of(record, "trending_simple_zscore")
        assert simple["per_period_simple_zscores"] == pytest.approx(list(z[i]), abs=1e-9)
        assert simple["mean_simple_zscore"] == pytest.approx(z[i].mean(), abs=1e-9)
        assert simple["latest_period"] == "2025-06"
        slope = stats_of(record, "slope_percentile")
        assert slope["slope"] == pytest.approx(slopes[i], abs=1e-9)
        first = np.polyfit(np.arange(3), matrix[i, :3], 1)[0]
        second = np.polyfit(np.arange(3, 6), matrix[i, 3:], 1)[0]
        assert slope["acceleration"] == pytest.approx(second - first, abs=1e-9)
        assert slope["slope_percentile"] == slope["percentile_rank"]
        assert slope["trend_direction"] == ("increasing" if slopes[i] > 0 else "decreasing")
        assert slope["momentum"] == ("gaining" if slope["acceleration"] > 0 else "slowing")
        encounters = record["metadata"]["per_period"]["encounters"]
        assert record["metadata"]["encounters"] == sum(p["value"] for p in encounters)
        assert encounters[0]["period"] == "2025-01"


def test_contributions_recomputed(run: GenerateResult) -> None:
    root = run.run_dir
    _, parents = node_lines(run, FACILITY_AGG)
    _, children = node_lines(run, SL_AGG)
    parent_value = {r["entity"][0]["value"]: r["metric"][0]["values"] for r in parents}
    child_value = {
        tuple(e["value"] for e in r["entity"]): r["metric"][0]["values"] for r in children
    }
    index = json.loads((root / "analysis/contribution/index.json").read_text())
    parent = next(p for p in index["parents"] if p["parent_node_id"] == FACILITY_AGG)
    assert parent["child_rows"] == sum(a["row_count"] for a in parent["metric_artifacts"])
    records = read_jsonl(root / f"analysis/contribution/{SL_AGG}.losIndex.jsonl")
    assert len(records) == len(children)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        groups[rec["parent_entity"]["medicareId"]].append(rec)
        key = (rec["child_entity"]["medicareId"], rec["child_entity"]["vizientServiceLine"])
        assert rec["child_value"] == child_value[key]
        assert rec["parent_value"] == parent_value[rec["parent_entity"]["medicareId"]]
        share = rec["weight_share"]
        assert rec["raw_component"] == pytest.approx(share * rec["child_value"], abs=1e-12)
        assert rec["excess_over_parent"] == pytest.approx(
            share * (rec["child_value"] - rec["parent_value"]), abs=1e-12
        )
    for items in groups.values():
        total = sum(r["weight_value"] for r in items)
        assert sum(r["weight_share"] for r in items) == pytest.approx(1.0, abs=1e-9)
        for rec in items:
            assert rec["weight_share"] == pytest.approx(rec["weight_value"] / total, abs=1e-12)
    zfile = read_jsonl(root / f"analysis/contribution/{SL_AGG}.simple_zscore.jsonl")
    z_of = {
        tuple(e["value"] for e in r["entity"]): stats_of(r, "simple_zscore")["simple_zscore"]
        for r in children
    }
    for rec in zfile[:100]:
        key = (rec["child_entity"]["medicareId"], rec["child_entity"]["vizientServiceLine"])
        assert rec["child_value"] == z_of[key]


def test_classifications_follow_the_twin(run: GenerateResult) -> None:
    root = run.run_dir
    _, twins = node_lines(run, FACILITY_MONTH)
    twin = {r["entity"][0]["value"]: r for r in twins}
    records = read_jsonl(root / "analysis/classification/classifications.jsonl")
    with open(root / "analysis/classification/classification_summary.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(records) == len(rows) == run.classification_lines
    node_order = [r["node_id"] for r in records]
    assert node_order == sorted(node_order)
    index = json.loads((root / "analysis/classification/index.json").read_text())
    assert index["total_entities"] == len(rows)
    assert index["signal_type_distribution"] == run.signal_types
    for rec, row in zip(records, rows, strict=True):
        assert rec["signal_type"] == row["signal_type"]
        low, high = rec["severity_range"]
        assert low <= rec["severity"] <= high
        calc = rec["severity_calculation"]
        adjustments = sum(r["adjustment"] for r in calc["refinements"])
        assert calc["base_severity"] + adjustments == calc["final_severity"] == rec["severity"]
        if rec["node_id"] != FACILITY_AGG:
            continue
        t = twin[rec["entity_key"]["medicareId"]]
        zs = np.array(stats_of(t, "trending_simple_zscore")["per_period_simple_zscores"])
        inputs = rec["inputs"]
        assert (
            inputs["aggregate_zscore"]
            == stats_of(t, "trending_simple_zscore")["mean_simple_zscore"]
        )
        assert inputs["zscore_std"] == pytest.approx(zs.std(), abs=1e-12)
        assert inputs["max_abs_deviation"] == pytest.approx(np.abs(zs).max(), abs=1e-12)
        assert inputs["slope_percentile"] == stats_of(t, "slope_percentile")["slope_percentile"]


# -- determinism, size, options --------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_same_seed_same_bytes_for_any_worker_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = generate_run(small(tmp_path / "a", facilities=25, workers=2))
    monkeypatch.setattr(
        "quality_compass.synth.generate.node_files.ENTITY_BLOCK", 7
    )  # serialisation block size
    second = generate_run(small(tmp_path / "b", facilities=25, workers=1))
    assert _tree(first.run_dir) == _tree(second.run_dir)
    other = generate_run(small(tmp_path / "c", facilities=25, seed=8))
    assert first.run_dir.name != other.run_dir.name
    a = (first.run_dir / "results/nodes" / f"{SL_AGG}.jsonl").read_bytes()
    b = (other.run_dir / "results/nodes" / f"{SL_AGG}.jsonl").read_bytes()
    assert a != b


def test_target_size_is_roughly_honoured(tmp_path: Path) -> None:
    result = generate_run(GenerateOptions(out_dir=tmp_path, target_size=parse_size("20MB")))
    jsonl = sum(p.stat().st_size for p in result.run_dir.rglob("*.jsonl"))
    assert jsonl == result.jsonl_bytes
    assert 15e6 <= jsonl <= 25e6


def test_more_group_by_sets_and_metrics_validate(tmp_path: Path) -> None:
    sets = (
        "facility_service_line",
        "facility_discharge_status",
        "facility_sub_service_line",
        "facility_service_line_sub_service_line",
        "facility_payer_segment",
    )
    result = generate_run(small(tmp_path, facilities=10, months=3, metrics=2, group_by_sets=sets))
    graph = json.loads((result.run_dir / "graph.json").read_text())
    kinds = {
        (e["source"].split("__")[1], e["target"].split("__")[1]): e["type"] for e in graph["edges"]
    }
    assert (
        kinds[
            ("medicareId_vizientServiceLine", "medicareId_vizientServiceLine_vizientSubServiceLine")
        ]
        == "segments_into"
    )
    assert kinds[("medicareId", "medicareId_payerSegment")] == "potentially_driven_by"
    assert len({n["metric_id"] for n in graph["nodes"]}) == 2
    report = validate_run(result.run_dir)
    assert report.errors == 0, report.lines(20)
    assert report.warnings == 0, report.lines(20)


def test_parse_size() -> None:
    assert parse_size("500MB") == 500_000_000
    assert parse_size("1GB") == 1_000_000_000
    assert parse_size("1.5g") == 1_500_000_000
    assert parse_size("20MiB") == 20 * 1024**2
    with pytest.raises(GenerateError, match="invalid size 'lots'"):
        parse_size("lots")


def test_bad_options_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GenerateError, match="unknown group-by set 'facility_bogus'"):
        generate_run(small(tmp_path, group_by_sets=("facility_bogus",)))
    with pytest.raises(GenerateError, match="--run-id must be 14 digits"):
        generate_run(small(tmp_path, run_id="2026"))
    done = generate_run(small(tmp_path, facilities=5, months=3))
    with pytest.raises(GenerateError, match="already exists"):
        generate_run(small(tmp_path, facilities=5, months=3))
    again = generate_run(small(tmp_path, facilities=5, months=3, overwrite=True))
    assert again.run_dir == done.run_dir


def _qc(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_POSTGRES_")}
    return subprocess.run(
        [sys.executable, "-m", "quality_compass", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_generate(tmp_path: Path) -> None:
    result = _qc("generate", str(tmp_path), "--facilities", "12", "--months", "4", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "12 facilities, 6 nodes, 5 edges" in result.stdout
    assert "MB/s" in result.stdout
    bad = _qc("generate", str(tmp_path), "--months", "0")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: --months must be between 1 and 120, got 0"
    help_text = _qc("generate", "--help")
    assert help_text.returncode == 0 and "--target-size" in help_text.stdout
