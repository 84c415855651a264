"""The loader's verdict on bad input: one test per kind, exact messages (no database but
for the test that checks what a reordered CSV loads)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import psycopg
import pytest

from quality_compass.errors import QcError
from quality_compass.load.loader import load_run
from quality_compass.load.records import classification_from_csv, parse_json
from quality_compass.load.report import LoadOptions, LoadReport
from quality_compass.needle.layout import CLASSIFICATION_CSV
from quality_compass.needle.run_folder import resolve_run_dir
from quality_compass.warehouse.settings import DbSettings

AGG = "results/nodes/losIndex__medicareId__aggregate_time_period.jsonl"
TEMPORAL = "results/nodes/losIndex__medicareId__dischargeMonth.jsonl"
CSV = CLASSIFICATION_CSV


def _dry(run: Path) -> LoadReport:
    return load_run(run, None, LoadOptions(dry_run=True))


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")


def _set_line(path: Path, number: int, text: bytes) -> None:
    lines = _lines(path)
    lines[number - 1] = text
    path.write_bytes(b"\n".join(lines))


def _edit_json_line(path: Path, number: int, edit: Callable[[dict], None]) -> None:
    lines = _lines(path)
    obj = orjson.loads(lines[number - 1])
    edit(obj)
    lines[number - 1] = orjson.dumps(obj)
    path.write_bytes(b"\n".join(lines))


def _only_reject(report: LoadReport) -> str:
    assert report.reject_count == 1, [str(r) for r in report.rejects]
    assert report.status == "invalid"
    return str(report.rejects[0])


def test_real_runs_are_valid(run_copy: Callable[..., Path]) -> None:
    report = _dry(run_copy())
    assert report.status == "valid"
    assert report.reject_count == 0
    assert report.rows["raw_entity_results"] == 236
    assert report.rows["raw_node_results"] == 2
    assert report.rows["raw_classifications"] == 6207
    assert report.rows["raw_contributions"] == 0
    assert report.rows["raw_run_documents"] == 9


def test_partial_run_gives_warnings_not_errors(run_copy: Callable[..., Path]) -> None:
    report = _dry(run_copy())
    warnings = "\n".join(report.warnings)
    assert (
        "results/nodes/losIndex__medicareId_vizientServiceLine__aggregate_time_period.jsonl: "
        "listed in results/index.json but missing (node not loaded)" in warnings
    )
    assert (
        "analysis/contribution/: 6 contribution file(s) listed in index.json are missing"
        in warnings
    )
    assert (
        "classifications.jsonl: missing; classifications loaded from classification_summary.csv"
        in warnings
    )


def test_invalid_json_line(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    _set_line(run / AGG, 57, b'{"entity":[{"id":"medicareId","value":"X"}')
    assert _only_reject(_dry(run)) == (
        f"{AGG}:57: invalid JSON (unexpected end of data at column 43)"
    )


def test_line_that_is_not_an_object(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    _set_line(run / AGG, 3, b"[1, 2, 3]")
    assert _only_reject(_dry(run)) == f"{AGG}:3: expected an entity result object, got array"


def test_missing_required_key(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    _edit_json_line(run / AGG, 10, lambda obj: obj.pop("statistical_methods"))
    assert _only_reject(_dry(run)) == f"{AGG}:10: missing required key 'statistical_methods'"


def test_wrong_type(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    _edit_json_line(run / AGG, 11, lambda obj: obj["metric"][0].__setitem__("values", "1.2"))
    assert _only_reject(_dry(run)) == (
        f"{AGG}:11: aggregate node: metric[0].values must be a number or null, got string"
    )


def test_temporal_values_must_be_a_timeline(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    _edit_json_line(run / TEMPORAL, 5, lambda obj: obj["metric"][0].__setitem__("values", 1.0))
    assert _only_reject(_dry(run)) == (
        f"{TEMPORAL}:5: temporal node: metric[0].values must be an object with a 'timeline' array, got number"
    )


def test_entity_metric_contradicts_node(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    _edit_json_line(
        run / AGG,
        12,
        lambda obj: obj["metric"][0]["metadata"].__setitem__("metric_id", "readmitRate"),
    )
    assert _only_reject(_dry(run)) == (
        f"{AGG}:12: metric_id 'readmitRate' differs from the node's metric_id 'losIndex'"
    )


def test_header_contradicts_file_name(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    _edit_json_line(
        run / AGG, 1, lambda obj: obj.__setitem__("canonical_node_id", "losIndex__other__x")
    )
    report = _dry(run)
    # The header is rejected and the node's 118 entity lines are not loaded with it.
    assert str(report.rejects[0]) == (
        f"{AGG}:1: canonical_node_id 'losIndex__other__x' does not match the file name "
        "'losIndex__medicareId__aggregate_time_period'"
    )
    assert report.reject_count == 119
    assert str(report.rejects[1]) == f"{AGG}:2: not loaded: the node header (line 1) was rejected"


def test_header_must_be_node_metadata(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    _edit_json_line(run / AGG, 1, lambda obj: obj.__setitem__("type", "entity"))
    report = _dry(run)
    assert (
        str(report.rejects[0])
        == f"{AGG}:1: line 1 must be the node header (type \"node_metadata\"), got type 'entity'"
    )


def test_truncated_file_at_a_line_boundary(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    lines = _lines(run / AGG)
    (run / AGG).write_bytes(b"\n".join(lines[:51]) + b"\n")
    assert _only_reject(_dry(run)) == (
        f"{AGG}:51: the header declares entity_results_count=118 but the file has 50 entity line(s) "
        "(truncated or padded file?)"
    )


def test_truncated_file_mid_line(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    data = (run / TEMPORAL).read_bytes()
    (run / TEMPORAL).write_bytes(data[: len(data) // 2])
    report = _dry(run)
    reasons = [str(r) for r in report.rejects]
    assert report.reject_count == 2
    assert reasons[0].startswith(f"{TEMPORAL}:60: invalid JSON (")
    assert reasons[1] == (
        f"{TEMPORAL}:60: the header declares entity_results_count=118 but the file has 59 entity line(s) "
        "(truncated or padded file?)"
    )


def test_empty_node_file(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    (run / AGG).write_bytes(b"")
    assert _only_reject(_dry(run)) == f"{AGG}:1: empty file: no node_metadata header line"


def test_duplicate_entity(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    lines = _lines(run / AGG)
    lines[20] = lines[19]
    (run / AGG).write_bytes(b"\n".join(lines))
    entity = orjson.loads(lines[19])["entity"][0]["value"]
    assert _only_reject(_dry(run)) == f"{AGG}:21: duplicate entity key medicareId={entity}"


def test_nul_character(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    _edit_json_line(run / AGG, 7, lambda obj: obj["metadata"].__setitem__("facility", "A\x00B"))
    assert _only_reject(_dry(run)) == (
        f"{AGG}:7: contains a \\u0000 (NUL) character, which PostgreSQL jsonb cannot store"
    )


def test_tolerated_variants_bom_crlf_blank_lines_nan(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    path = run / AGG
    lines = [line for line in _lines(path) if line]
    lines[4] = (
        lines[4]
        .replace(b'"losOutliers":0.0', b'"losOutliers":NaN')
        .replace(b'"uniquePatients":', b'"extra":-Infinity,"uniquePatients":')
    )
    assert b"NaN" in lines[4]
    body = (
        b"\xef\xbb\xbf"
        + b"\r\n".join(lines[:10])
        + b"\r\n\r\n   \r\n"
        + b"\r\n".join(lines[10:])
        + b"\r\n"
    )
    path.write_bytes(body)
    report = _dry(run)
    assert report.reject_count == 0, [str(r) for r in report.rejects]
    assert report.rows["raw_entity_results"] == 236
    value, payload = parse_json(lines[4])
    assert (
        payload is not None
        and value["metadata"]["losOutliers"] is None
        and value["metadata"]["extra"] is None
    )


def test_csv_bad_number(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    lines = _lines(run / CSV)
    fields = lines[99].split(b",")
    fields[7] = b"high"  # severity
    lines[99] = b",".join(fields)
    (run / CSV).write_bytes(b"\n".join(lines))
    assert _only_reject(_dry(run)) == f"{CSV}:100: severity: 'high' is not a number"


def test_csv_missing_column(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    lines = _lines(run / CSV)
    lines[0] = lines[0].replace(b"signal_type", b"signal_kind")
    (run / CSV).write_bytes(b"\n".join(lines))
    assert _only_reject(_dry(run)) == f"{CSV}:1: CSV header lacks required column(s): signal_type"


def test_csv_truncated_against_index(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    lines = _lines(run / CSV)
    (run / CSV).write_bytes(b"\n".join(lines[:3001]) + b"\n")
    assert _only_reject(_dry(run)) == (
        f"{CSV}:3001: classification index.json declares total_entities=6207 but the file has 3000 record(s) "
        "(truncated file?)"
    )


def test_malformed_document(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    text = (run / "graph.json").read_text()
    (run / "graph.json").write_text(text.replace('"edges": [', '"edges": [,', 1))
    reject = _only_reject(_dry(run))
    assert reject.startswith("graph.json:2: invalid JSON (")


def _contribution(child: str, metric: str, **changes: object) -> bytes:
    record = {
        "run_id": "20260115110810",
        "parent_node_id": "losIndex__medicareId__aggregate_time_period",
        "parent_entity": {"medicareId": "AFP658"},
        "child_node_id": child,
        "child_entity": {"medicareId": "AFP658", "vizientServiceLine": "Cardiology"},
        "metric_id": metric,
        "method": "weighted_mean",
        "child_value": 1.21,
        "parent_value": 1.16,
        "weight_field": "encounters",
        "weight_value": 2950.0,
        "weight_share": 0.5,
        "excess_over_parent": 0.025,
    }
    record.update(changes)
    return orjson.dumps(record)


def test_contribution_contradicting_its_file(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    child = "losIndex__medicareId_vizientServiceLine__aggregate_time_period"
    name = f"{child}.losIndex.jsonl"
    good = _contribution(child, "losIndex")
    bad_metric = _contribution(child, "simple_zscore")
    bad_type = _contribution(child, "losIndex", weight_share="0.5")
    other_child = "losIndex__medicareId_dischargeStatus__aggregate_time_period"
    bad_child = _contribution(other_child, "losIndex")
    (run / "analysis/contribution" / name).write_bytes(
        b"\n".join([good, bad_metric, bad_type, bad_child]) + b"\n"
    )
    report = _dry(run)
    rel = f"analysis/contribution/{name}"
    assert [str(r) for r in report.rejects] == [
        f"{rel}:2: metric_id 'simple_zscore' differs from the file name's 'losIndex'",
        f"{rel}:3: 'weight_share' must be a number or null, got string",
        f"{rel}:4: child_node_id '{other_child}' differs from the file name's '{child}'",
        f"{rel}:4: contribution index.json declares row_count=3554 but the file has 4 line(s) (truncated file?)",
    ]


def test_classification_jsonl_wrong_type(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    record = {
        "node_id": "losIndex__medicareId__aggregate_time_period",
        "metric_id": "losIndex",
        "entity_key": {"medicareId": "AFP658"},
        "signal_type": "baseline",
        "severity": "30",
    }
    path = run / "analysis/classification/classifications.jsonl"
    path.write_bytes(orjson.dumps(record) + b"\n")
    report = _dry(run)
    assert str(report.rejects[0]) == (
        "analysis/classification/classifications.jsonl:1: 'severity' must be a number, got string"
    )


def test_missing_folders_are_errors(tmp_path: Path, run_copy: Callable[..., Path]) -> None:
    with pytest.raises(QcError, match=r"^run folder not found: .*/nope$"):
        resolve_run_dir(tmp_path / "nope")
    run = run_copy()
    import shutil

    shutil.rmtree(run / "results/nodes")
    with pytest.raises(QcError, match=r"has no results/nodes/ folder$") as caught:
        resolve_run_dir(run)
    assert caught.value.exit_code == 2


def test_broken_link_is_an_error(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    (run / "results/nodes/ghost.jsonl").symlink_to(run / "does-not-exist.jsonl")
    with pytest.raises(
        QcError, match=r"^cannot read results/nodes/ghost.jsonl: broken symbolic link$"
    ):
        _dry(run)


def test_latest_picks_newest_run(run_copy: Callable[..., Path]) -> None:
    older = run_copy(run_id="20250101000000")
    newer = run_copy(run_id="20260301000000")
    (older.parent / "notes").mkdir()
    assert resolve_run_dir(older.parent, latest=True) == newer
    assert resolve_run_dir(None, older.parent.parent, "test_minimal", latest=True) == newer
    assert resolve_run_dir(None, older.parent.parent, "test_minimal/20250101000000") == older


def test_csv_mapping_has_the_jsonl_shape() -> None:
    row = {
        "run_id": "20260115110810",
        "node_id": "losIndex__medicareId_vizientServiceLine__aggregate_time_period",
        "metric_id": "losIndex",
        "dischargeStatus": "",
        "medicareId": "AFP658",
        "vizientServiceLine": "Cardiology",
        "signal_type": "suspect_data",
        "severity": "50",
        "severity_range_min": "50",
        "severity_range_max": "50",
        "aggregate_zscore": "-0.63",
        "slope_percentile": "",
        "acceleration": "",
        "zscore_std": "0.65",
        "max_abs_deviation": "1.59",
        "position": "favorable",
        "trend": "stable",
        "momentum": "neutral",
        "consistency": "variable",
        "has_spike": "False",
        "suppressed": "True",
        "period_count": "4",
        "timestamp": "2026-01-16T15:06:43.427679+00:00",
    }
    record = classification_from_csv(row, ["dischargeStatus", "medicareId", "vizientServiceLine"])
    # The keys of the spec's classifications.jsonl record (section 7.4).
    spec_example = json.loads(
        '{"run_id":"1","node_id":"n","metric_id":"m","entity_key":{},"signal_type":"s","severity":1,'
        '"severity_range":[1,2],"inputs":{"aggregate_zscore":0,"slope_percentile":0,"acceleration":0,'
        '"zscore_std":0,"max_abs_deviation":0},"derived_indicators":{"position":"p","trend":"t",'
        '"momentum":"m","consistency":"c","has_spike":false},"classification_reasoning":"r",'
        '"severity_calculation":{},"suppressed":false,"period_count":12,"magnitude_tier":null,'
        '"trajectory_tier":null,"consistency_tier":null,"coefficient_of_variation":null,"timestamp":"t"}'
    )
    assert set(record) == set(spec_example)
    assert set(record["inputs"]) == set(spec_example["inputs"])
    assert set(record["derived_indicators"]) == set(spec_example["derived_indicators"])
    assert record["entity_key"] == {"medicareId": "AFP658", "vizientServiceLine": "Cardiology"}
    assert record["severity"] == 50 and record["severity_range"] == [50, 50]
    assert (
        record["inputs"]["slope_percentile"] is None
        and record["inputs"]["aggregate_zscore"] == -0.63
    )
    assert record["suppressed"] is True and record["derived_indicators"]["has_spike"] is False
    assert record["period_count"] == 4


def test_csv_dimension_columns_ignore_extra_fields() -> None:
    from quality_compass.load.records import csv_dimension_columns

    header = [
        "run_id",
        "node_id",
        "metric_id",
        "medicareId",
        "vizientServiceLine",
        "signal_type",
        "severity",
    ]
    extra = [*header, "magnitude_tier", "note"]
    assert csv_dimension_columns(extra, None) == ["medicareId", "vizientServiceLine", "note"]
    assert csv_dimension_columns(
        extra, {"medicareId", "vizientServiceLine", "dischargeStatus"}
    ) == [
        "medicareId",
        "vizientServiceLine",
    ]


def _csv_entity_keys(path: Path) -> Counter[tuple[str, str]]:
    """(node_id, entity key) of every row of a classification CSV, from its header: the
    dimension columns lie between metric_id and signal_type (format spec 7.3)."""
    import csv

    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        dimensions = fields[fields.index("metric_id") + 1 : fields.index("signal_type")]
        return Counter(
            (row["node_id"], json.dumps({d: row[d] for d in dimensions if row[d]}, sort_keys=True))
            for row in reader
        )


def test_csv_with_reordered_and_extra_columns_loads_the_same_keys(
    run_copy: Callable[..., Path], fresh_db: DbSettings
) -> None:
    """Columns reordered and a free-text column added: every row loads with the entity key
    of the original file - its dimension columns, nothing else."""
    import csv
    import io

    run = run_copy()
    path = run / CSV
    expected = _csv_entity_keys(path)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    order = list(reversed(range(len(rows[0]))))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*(rows[0][i] for i in order), "note"])
    for row in rows[1:]:
        writer.writerow([*(row[i] for i in order), "free text, not a dimension"])
    path.write_text(out.getvalue(), encoding="utf-8")
    report = _dry(run)
    assert report.reject_count == 0, [str(r) for r in report.rejects]
    assert report.rows["raw_classifications"] == 6207
    load_run(run, fresh_db)
    with psycopg.connect(fresh_db.conninfo()) as conn:
        loaded = Counter(
            (str(node_id), json.dumps(key, sort_keys=True))
            for node_id, key in conn.execute(
                "select json_data ->> 'node_id', json_data -> 'entity_key' from raw_classifications"
            )
        )
    assert sum(expected.values()) == 6207
    assert loaded == expected
