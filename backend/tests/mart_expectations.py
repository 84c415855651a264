"""What the marts must hold for run folders, computed straight from their files.

Nothing here reads the database or reuses the loader, dbt or the generator: the node result
JSONL, classification JSONL/CSV, contribution JSONL, graph.json, metadata_bundle.json, the
run manifests and the facility seed are read with the standard library, and the mart rules
(docs/architecture/marts.md, the models' headers) are re-implemented in plain Python so the
tests compare two independent computations. That includes the keys: dbt's surrogate keys
are md5 texts (``surrogate_key``) over the entity key, itself the md5 of the entity's
jsonb text (``jsonb_text`` re-implements PostgreSQL's jsonb output), so a key built from
the wrong columns shows up here.

Every column of every mart is either recomputed (``expected_signals``,
``expected_contributions``, ``expected_facilities``, ``expected_metrics``,
``expected_runs``; fct_signal_history: ``history_expectations``) or listed in
``PASS_THROUGH`` with the reason it needs no recomputation; ``test_marts`` checks that the
two together name every column the marts have.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

FACILITY = "medicareId"
NON_KEY = {"systemName"}
SERVICE_LINE = "vizientServiceLine"
SUB_SERVICE_LINE = "vizientSubServiceLine"
SEVERITY_BY_PREFIX = {
    "extremely": "Critical",
    "very": "High",
    "moderately": "Moderate",
    "slightly": "Watch",
}
SEVERITY_ORDER = ("Critical", "High", "Moderate", "Watch")
WEIGHT_SHARE_TOLERANCE = 1e-6
DEFAULT_DISPLAY_FORMAT = "{:.2f}"
PER_PERIOD_KEYS = ("per_period_simple_zscores", "per_period_robust_zscores")
EntityKey = tuple[tuple[str, str], ...]

#: Columns that are not recomputed here, per mart, and why (the rest are).
PASS_THROUGH: dict[str, dict[str, str]] = {
    "fct_signals": {},
    "fct_contributions": {
        "contribution_method": "the record's `method`, copied",
        "weight_field": "the record's `weight_field`, copied",
    },
    "dim_facilities": {},
    "dim_metrics": {},
    "dim_runs": {
        "loaded_at": "when `qc load` ran (the loader's clock); no run file knows it",
        "reject_count": "the loader's count of refused lines (0 for a run that loaded clean)",
    },
}


# -- small rules ---------------------------------------------------------------------------------


def severity_of(label: str | None) -> str | None:
    """The 4-level severity of a 9-tier label (null for normal / no_score / null)."""
    if label is None:
        return None
    return SEVERITY_BY_PREFIX.get(label.split("_", 1)[0]) if "_" in label else None


def entity_key(entity: dict[str, Any]) -> EntityKey:
    """Canonical entity identity: sorted (dimension, value) pairs without systemName."""
    return tuple(sorted((k, str(v)) for k, v in entity.items() if k not in NON_KEY))


def jsonb_text(entity: dict[str, str]) -> str:
    """PostgreSQL's text form of a jsonb object of text values: keys ordered by their length
    in bytes, then bytewise; ``"key": "value"`` pairs joined by ``, ``; JSON escapes for
    quotes, backslashes and control characters, other characters as they are."""
    keys = sorted(entity, key=lambda key: (len(key.encode()), key.encode()))
    pairs = (
        f"{json.dumps(key, ensure_ascii=False)}: {json.dumps(entity[key], ensure_ascii=False)}"
        for key in keys
    )
    return "{" + ", ".join(pairs) + "}"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def surrogate_key(*parts: str | None) -> str:
    """The project's surrogate key: md5 of the parts' texts joined by '-', null spelled
    '_qc_null_' (dbt macro surrogate_key)."""
    return md5("-".join("_qc_null_" if part is None else part for part in parts))


def entity_hash(entity: dict[str, Any]) -> str:
    """The entity_key column: md5 of the entity's jsonb text without systemName."""
    return md5(jsonb_text({k: str(v) for k, v in entity.items() if k not in NON_KEY}))


def peer_dimensions(entity: dict[str, Any]) -> dict[str, str]:
    """The entity without the facility and display-only keys (entity_dimensions)."""
    return {k: str(v) for k, v in entity.items() if k != FACILITY and k not in NON_KEY}


def parse_timestamp(text: str | None) -> datetime | None:
    """An ISO timestamp as the loader and staging read it: 'Z' is UTC, the malformed
    '+00:00Z' of real manifests drops its 'Z', no offset counts as UTC."""
    if not isinstance(text, str) or not text:
        return None
    cleaned = re.sub(r"([+-]\d\d(:?\d\d)?)Z$", r"\1", text.strip())
    cleaned = cleaned[:-1] + "+00:00" if cleaned.endswith("Z") else cleaned
    moment = datetime.fromisoformat(cleaned)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def close(a: float | None, b: float | None, tol: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=tol, abs_tol=tol)


def same_value(got: Any, want: Any) -> bool:
    """Deep equality with a float tolerance (numbers from jsonb, numeric or float8)."""
    if isinstance(want, list | tuple):
        return (
            isinstance(got, list | tuple)
            and len(got) == len(want)
            and all(same_value(g, w) for g, w in zip(got, want, strict=True))
        )
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(same_value(got[k], want[k]) for k in want)
        )
    numbers = (float, Decimal)
    if isinstance(want, numbers) or (isinstance(got, numbers) and not isinstance(want, bool)):
        return (
            want is not None
            and got is not None
            and not isinstance(got, bool)
            and close(float(got), float(want))
        )
    return bool(got == want)


def mismatches(
    actual: dict[Any, dict[str, Any]], expected: dict[Any, dict[str, Any]], limit: int = 10
) -> list[tuple[Any, str, Any, Any]]:
    """(key, column, got, want) for every expected column a row gets wrong, and rows missing
    on either side (column '<row>')."""
    found: list[tuple[Any, str, Any, Any]] = []
    for key in expected.keys() | actual.keys():
        if key not in actual or key not in expected:
            found.append((key, "<row>", key in actual, key in expected))
            continue
        row = actual[key]
        for column, want in expected[key].items():
            if column not in row or not same_value(row[column], want):
                found.append((key, column, row.get(column, "<missing>"), want))
    return sorted(found, key=str)[:limit]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None


# -- run folder ---------------------------------------------------------------------------------


@dataclass
class NodeFile:
    header: dict[str, Any]
    entities: dict[EntityKey, dict[str, Any]]


@dataclass
class RunFiles:
    run_dir: Path
    run_id: str
    graph: dict[str, Any]
    bundle: dict[str, Any]
    manifest: dict[str, Any] = field(default_factory=dict)
    semantic: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, NodeFile] = field(default_factory=dict)
    classifications: list[dict[str, Any]] = field(default_factory=list)
    contributions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def graph_nodes(self) -> dict[str, dict[str, Any]]:
        return {node["id"]: node for node in self.graph["nodes"]}

    @property
    def detected_at(self) -> datetime | None:
        """run_manifest.json started_at (the load time otherwise, which files do not know)."""
        return parse_timestamp(self.manifest.get("started_at"))

    @property
    def graph_name(self) -> str:
        for document, key in ((self.semantic, "graph_name"), (self.manifest, "run_label")):
            if isinstance(document.get(key), str) and document[key]:
                return str(document[key])
        return self.run_dir.parent.name

    def twin_of(self, node_id: str) -> str | None:
        targets = sorted(
            edge["target"]
            for edge in self.graph["edges"]
            if edge["source"] == node_id and edge["type"] == "trends_to"
        )
        return targets[0] if targets else None

    def dimension_order(self, node_id: str) -> list[str]:
        return [group_by["type"] for group_by in self.graph_nodes[node_id]["group_bys"]]

    def metric_domain(self, metric_id: str) -> str | None:
        for metric in self.bundle["metrics"]:
            if metric["metric_id"] == metric_id:
                return str(metric["domain"])
        return None

    def groupby_label(self, node_id: str) -> str:
        names = {g["id"]: g["display_name"] for g in self.bundle["group_by_types"]}
        labels = []
        for dimension in self.dimension_order(node_id):
            if dimension == FACILITY or dimension in NON_KEY:
                continue
            labels.append(names.get(dimension, dimension).removeprefix("Vizient "))
        return " / ".join(labels) or "Facility-wide"

    def group_value(self, node_id: str, entity: dict[str, str]) -> str:
        values = [
            entity[d]
            for d in self.dimension_order(node_id)
            if d != FACILITY and d not in NON_KEY and d in entity
        ]
        return " / ".join(values) or "Facility-wide"

    @cached_property
    def facility_attributes(self) -> dict[str, tuple[str | None, str | None]]:
        """(system_name, facility_name) per facility: the value most entity lines of the run
        report (metadata.systemName, else the entity's systemName; metadata.facility), ties
        to the alphabetically first: nodes of one run disagree (format spec 8)."""
        systems: dict[str, Counter[str]] = defaultdict(Counter)
        names: dict[str, Counter[str]] = defaultdict(Counter)
        for node in self.nodes.values():
            for record in node.entities.values():
                entity = {e["id"]: e["value"] for e in record["entity"]}
                facility = entity.get(FACILITY)
                if facility is None:
                    continue
                metadata = record.get("metadata") or {}
                system = metadata.get("systemName", entity.get("systemName"))
                if system is not None:
                    systems[str(facility)][str(system)] += 1
                if metadata.get("facility") is not None:
                    names[str(facility)][str(metadata["facility"])] += 1

        def most_reported(counts: Counter[str]) -> str | None:
            if not counts:
                return None
            return min(counts, key=lambda value: (-counts[value], value))

        return {
            facility: (most_reported(systems[facility]), most_reported(names[facility]))
            for facility in systems.keys() | names.keys()
        }


@lru_cache(maxsize=4)
def read_run(run_dir: Path) -> RunFiles:
    """The run folder's files, parsed (cached: several tests read the same runs; callers
    must not change the result)."""
    files = RunFiles(
        run_dir=run_dir,
        run_id=run_dir.name,
        graph=json.loads((run_dir / "graph.json").read_text()),
        bundle=json.loads((run_dir / "metadata_bundle.json").read_text()),
        manifest=_read_json(run_dir / "run_manifest.json") or {},
        semantic=_read_json(run_dir / "run_manifest.semantic.json") or {},
    )
    for path in sorted((run_dir / "results" / "nodes").glob("*.jsonl")):
        records = read_jsonl(path)
        header, lines = records[0], records[1:]
        files.nodes[path.stem] = NodeFile(
            header=header,
            entities={
                entity_key({e["id"]: e["value"] for e in record["entity"]}): record
                for record in lines
            },
        )
    files.classifications = _read_classifications(run_dir / "analysis" / "classification")
    for path in sorted((run_dir / "analysis" / "contribution").glob("*.jsonl")):
        files.contributions.extend(read_jsonl(path))
    return files


def _jsonl_classification(record: dict[str, Any]) -> dict[str, Any]:
    indicators = record.get("derived_indicators")
    calculation = record.get("severity_calculation")
    return {
        "node_id": record["node_id"],
        "metric_id": record["metric_id"],
        "entity": {k: str(v) for k, v in record["entity_key"].items()},
        "signal_type": record["signal_type"],
        "severity": int(record["severity"]),
        "severity_range": [int(v) for v in record["severity_range"]],
        "inputs": record["inputs"],
        "suppressed": bool(record.get("suppressed")),
        "reasoning": record.get("classification_reasoning"),
        "indicators": indicators if isinstance(indicators, dict) else None,
        "severity_calculation": calculation if isinstance(calculation, dict) else None,
        "tiers": {name: record.get(name) for name in TIER_COLUMNS},
        "source_format": "jsonl",
        "timestamp": record.get("timestamp"),
    }


TIER_COLUMNS = ("magnitude_tier", "trajectory_tier", "consistency_tier")
INDICATORS = ("position", "trend", "momentum", "consistency")


def _csv_classification(row: dict[str, str], dimensions: list[str]) -> dict[str, Any]:
    def number(text: str) -> float | None:
        return float(text) if text != "" else None

    return {
        "node_id": row["node_id"],
        "metric_id": row["metric_id"],
        "entity": {d: row[d] for d in dimensions if row[d] != ""},
        "signal_type": row["signal_type"],
        "severity": int(row["severity"]),
        "severity_range": [int(row["severity_range_min"]), int(row["severity_range_max"])],
        "inputs": {
            "aggregate_zscore": number(row["aggregate_zscore"]),
            "slope_percentile": number(row["slope_percentile"]),
            "acceleration": number(row["acceleration"]),
            "zscore_std": number(row["zscore_std"]),
            "max_abs_deviation": number(row["max_abs_deviation"]),
        },
        "suppressed": row["suppressed"] == "True",
        "reasoning": row.get("classification_reasoning") or None,
        # the CSV is the JSONL flattened: the same indicators object, has_spike a boolean
        "indicators": {
            **{name: row.get(name) or None for name in INDICATORS},
            "has_spike": row["has_spike"] == "True",
        },
        "severity_calculation": None,
        "tiers": {name: row.get(name) or None for name in TIER_COLUMNS},
        "source_format": "csv",
        "timestamp": row.get("timestamp"),
    }


def _read_classifications(folder: Path) -> list[dict[str, Any]]:
    jsonl = folder / "classifications.jsonl"
    if jsonl.is_file():
        return [_jsonl_classification(record) for record in read_jsonl(jsonl)]
    with (folder / "classification_summary.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        dimensions = fields[fields.index("metric_id") + 1 : fields.index("signal_type")]
        return [_csv_classification(row, dimensions) for row in reader]


# -- fct_signals -----------------------------------------------------------------------------


def short_method_name(method_id: str) -> str | None:
    """simple_zscore / robust_zscore / slope_percentile, by substring (trending variants
    fold in)."""
    return next(
        (s for s in ("slope_percentile", "robust_zscore", "simple_zscore") if s in method_id),
        None,
    )


def _methods(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The entity's methods by short name (simple_zscore / robust_zscore / slope_percentile)."""
    methods: dict[str, dict[str, Any]] = {}
    for method in record["statistical_methods"]:
        short = short_method_name(method["statistical_method"])
        if short is not None:
            methods[short] = method
    return methods


def _method_labels(method: dict[str, Any]) -> dict[str, str]:
    return {
        anomaly["applies_to"]: anomaly["anomaly"]
        for profile in method.get("anomalies") or []
        for anomaly in profile.get("methods") or []
    }


def _labels(record: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for method in record["statistical_methods"]:
        labels.update(_method_labels(method))
    return labels


def methods_document(record: dict[str, Any]) -> list[dict[str, Any]]:
    """fct_signals.statistical_methods: every method in file order with its statistics as
    written (without the per-period arrays) and its labels by statistic."""
    return [
        {
            "statistical_method": method["statistical_method"],
            "method": short_method_name(method["statistical_method"]),
            "suppressed": bool(method["statistics"].get("suppressed") or False),
            "statistics": {
                key: value
                for key, value in method["statistics"].items()
                if key not in PER_PERIOD_KEYS
            },
            "anomalies": _method_labels(method),
        }
        for method in record["statistical_methods"]
    ]


def _facet_mean(header: dict[str, Any], dimensions: dict[str, str]) -> float | None:
    for method in header["statistical_methods"]:
        if "simple_zscore" not in method["statistical_method"]:
            continue
        for facet in method["summary"]["global_statistics"]["facets"]:
            values = {k: str(v) for k, v in (facet.get("facet_values") or {}).items()}
            if values == dimensions:
                return facet["method_statistics"].get("global_metric_mean")  # type: ignore[no-any-return]
    return None


def percentile_bands(header: dict[str, Any]) -> dict[str, Any] | None:
    """A temporal node's peer bands (the robust method's percentile_trends, else the first
    method by id that has some), as fct_signals.peer_percentile_trends holds them."""
    carriers = [
        method
        for method in header["statistical_methods"]
        if isinstance(
            ((method.get("summary") or {}).get("global_statistics") or {}).get("percentile_trends"),
            dict,
        )
    ]
    if not carriers:
        return None
    chosen = min(
        carriers,
        key=lambda m: (
            short_method_name(m["statistical_method"]) != "robust_zscore",
            m["statistical_method"],
        ),
    )
    trends = chosen["summary"]["global_statistics"]["percentile_trends"]
    periods = [str(period) for period in trends.get("periods") or []]
    bands: dict[str, Any] = {
        "periods": periods,
        "period_dates": [f"{p[:4]}-{p[4:6]}-01" for p in periods],
    }
    for band in ("p10", "p25", "p50", "p75", "p90", "sample_sizes"):
        values = trends.get(band) or []
        bands[band] = [values[i] if i < len(values) else None for i in range(len(periods))]
    return bands


SignalKey = tuple[str, EntityKey, str]


def signal_key(row: dict[str, Any]) -> SignalKey:
    """The key of an fct_signals row (as ``expected_signals`` keys its rows)."""
    return (
        row["canonical_node_id"],
        entity_key({**row["entity_dimensions"], FACILITY: row["facility_id"]}),
        row["metric_id"],
    )


def _signal_identity(files: RunFiles, classification: dict[str, Any]) -> dict[str, Any]:
    node_id = classification["node_id"]
    entity = classification["entity"]
    key = entity_hash(entity)
    metric_id = classification["metric_id"]
    facility = entity[FACILITY]
    system_name, facility_name = files.facility_attributes.get(facility, (None, None))
    return {
        "signal_id": surrogate_key(files.run_id, node_id, key, metric_id),
        "run_id": files.run_id,
        "canonical_node_id": node_id,
        "temporal_node_id": files.twin_of(node_id),
        "facility_id": facility,
        "metric_id": metric_id,
        "entity_key": key,
        "entity_result_id": surrogate_key(files.run_id, node_id, key),
        "facility_sk": surrogate_key(facility),
        "metric_sk": surrogate_key(metric_id),
        "system_name": system_name,
        "facility_name": facility_name,
        "service_line": entity.get(SERVICE_LINE),
        "sub_service_line": entity.get(SUB_SERVICE_LINE),
        "entity_dimensions": peer_dimensions(entity),
        "group_value": files.group_value(node_id, entity),
        "groupby_label": files.groupby_label(node_id),
        "domain": files.metric_domain(metric_id),
        "detected_at": files.detected_at,
    }


def _signal_classification(classification: dict[str, Any]) -> dict[str, Any]:
    indicators = classification["indicators"] or {}
    tiers = classification["tiers"]
    return {
        "signal_type": classification["signal_type"],
        "signal_severity": classification["severity"],
        "signal_severity_range": classification["severity_range"],
        "classification_inputs": classification["inputs"],
        "classification_reasoning": classification["reasoning"],
        "classification_indicators": classification["indicators"],
        "position_indicator": indicators.get("position"),
        "trend_indicator": indicators.get("trend"),
        "momentum_indicator": indicators.get("momentum"),
        "consistency_indicator": indicators.get("consistency"),
        "has_spike": bool(indicators.get("has_spike") or False),
        "severity_calculation": classification["severity_calculation"],
        **{
            name: tiers[name].strip().lower() if isinstance(tiers[name], str) else None
            for name in TIER_COLUMNS
        },
        "classification_source_format": classification["source_format"],
        "classified_at": parse_timestamp(classification["timestamp"]),
    }


def _entity_values(
    node: NodeFile, record: dict[str, Any], dimensions: dict[str, str]
) -> dict[str, Any]:
    """The aggregate entity's own columns (null when its node file is not shipped)."""
    methods = _methods(record)
    simple = methods["simple_zscore"]["statistics"]
    robust = methods["robust_zscore"]["statistics"]
    labels = _labels(record)
    value = record["metric"][0]["values"]
    facet_mean = _facet_mean(node.header, dimensions)
    benchmark = facet_mean if facet_mean is not None else simple.get("peer_mean")
    return {
        "metric_value": value,
        "encounters": int(float(record["metadata"]["encounters"])),
        "simple_zscore": simple.get("simple_zscore"),
        "robust_zscore": robust.get("robust_zscore"),
        "percentile_rank": simple.get("percentile_rank"),
        "peer_mean": simple.get("peer_mean"),
        "peer_std": simple.get("peer_std"),
        "peer_count": methods["simple_zscore"]["runtime"]["anomaly_statistics"]["peer_count"],
        "benchmark_value": benchmark,
        "variance_percent": (
            100 * (value - benchmark) / benchmark
            if value is not None and benchmark not in (None, 0)
            else None
        ),
        "simple_zscore_anomaly": labels.get("simple_zscore"),
        "robust_zscore_anomaly": labels.get("robust_zscore"),
        "anomaly_classification": labels.get("simple_zscore"),
        "severity": severity_of(labels.get("simple_zscore")),
        "statistical_methods": methods_document(record),
    }


ENTITY_COLUMNS = (
    "metric_value",
    "encounters",
    "simple_zscore",
    "robust_zscore",
    "percentile_rank",
    "peer_mean",
    "peer_std",
    "peer_count",
    "benchmark_value",
    "variance_percent",
    "simple_zscore_anomaly",
    "robust_zscore_anomaly",
    "anomaly_classification",
    "severity",
    "statistical_methods",
)


def _twin_values(twin_node: NodeFile, twin: dict[str, Any]) -> dict[str, Any]:
    """The trend columns from the temporal twin entity and its node."""
    methods = _methods(twin)
    simple = methods["simple_zscore"]["statistics"]
    robust = methods["robust_zscore"]["statistics"]
    slope = methods["slope_percentile"]["statistics"]
    labels = _labels(twin)
    runtime = twin["metric"][0].get("temporal_runtime") or {}
    return {
        "latest_simple_zscore": simple.get("latest_simple_zscore"),
        "mean_simple_zscore": simple.get("mean_simple_zscore"),
        "latest_robust_zscore": robust.get("latest_robust_zscore"),
        "mean_robust_zscore": robust.get("mean_robust_zscore"),
        "monthly_z_scores": simple.get("per_period_simple_zscores"),
        "slope": slope.get("slope"),
        "slope_percentile": slope.get("slope_percentile"),
        "acceleration": slope.get("acceleration"),
        "end_start_delta": slope.get("end_start_delta"),
        "trend_direction": slope.get("trend_direction"),
        "momentum": slope.get("momentum"),
        "period_count": slope.get("period_count"),
        "observed_period_count": runtime.get("observed_count"),
        "coverage_ratio": runtime.get("coverage_ratio"),
        "metric_trend_timeline": twin["metric"][0]["values"]["timeline"],
        "peer_percentile_trends": percentile_bands(twin_node.header),
        "latest_simple_zscore_anomaly": labels.get("latest_simple_zscore"),
        "mean_simple_zscore_anomaly": labels.get("mean_simple_zscore"),
        "latest_robust_zscore_anomaly": labels.get("latest_robust_zscore"),
        "mean_robust_zscore_anomaly": labels.get("mean_robust_zscore"),
        "slope_anomaly": labels.get("slope_percentile"),
    }


TWIN_COLUMNS = (
    "latest_simple_zscore",
    "mean_simple_zscore",
    "latest_robust_zscore",
    "mean_robust_zscore",
    "monthly_z_scores",
    "slope",
    "slope_percentile",
    "acceleration",
    "end_start_delta",
    "trend_direction",
    "momentum",
    "period_count",
    "observed_period_count",
    "coverage_ratio",
    "metric_trend_timeline",
    "peer_percentile_trends",
    "latest_simple_zscore_anomaly",
    "mean_simple_zscore_anomaly",
    "latest_robust_zscore_anomaly",
    "mean_robust_zscore_anomaly",
    "slope_anomaly",
)


def expected_signals(files: RunFiles) -> dict[SignalKey, dict[str, Any]]:
    """One expected fct_signals row (every column) per unsuppressed classification, keyed by
    (canonical_node_id, entity key, metric_id)."""
    signals: dict[SignalKey, dict[str, Any]] = {}
    for classification in files.classifications:
        if classification["suppressed"]:
            continue
        node_id = classification["node_id"]
        entity = classification["entity"]
        key = entity_key(entity)
        row = _signal_identity(files, classification) | _signal_classification(classification)
        node = files.nodes.get(node_id)
        record = node.entities.get(key) if node else None
        row["has_entity_result"] = record is not None
        if record is not None and node is not None:
            row.update(_entity_values(node, record, peer_dimensions(entity)))
        else:
            row.update(dict.fromkeys(ENTITY_COLUMNS))
        twin_id = row["temporal_node_id"]
        twin_node = files.nodes.get(twin_id) if twin_id else None
        twin = twin_node.entities.get(key) if twin_node else None
        row["has_temporal_twin"] = twin is not None
        if twin is not None and twin_node is not None:
            row.update(_twin_values(twin_node, twin))
        else:
            row.update(dict.fromkeys(TWIN_COLUMNS))
            if twin_node is not None:
                row["peer_percentile_trends"] = percentile_bands(twin_node.header)
        signals[(node_id, key, classification["metric_id"])] = row
    return signals


def suppressed_count(files: RunFiles) -> int:
    return sum(1 for c in files.classifications if c["suppressed"])


# -- fct_contributions -------------------------------------------------------------------------

ContributionKey = tuple[str, EntityKey, str, EntityKey, str]


def contribution_key(row: dict[str, Any]) -> ContributionKey:
    """The key of an fct_contributions row (as ``expected_contributions`` keys its rows)."""
    facility = {FACILITY: row["facility_id"]}
    return (
        row["parent_node_id"],
        entity_key({**row["parent_entity_dimensions"], **facility}),
        row["child_node_id"],
        entity_key({**row["child_entity_dimensions"], **facility}),
        row["metric_id"],
    )


@dataclass(frozen=True)
class _RunContext:
    """What every contribution line of a run looks up: node metrics, signalled entities."""

    node_metric: dict[str, str]
    signalled: set[SignalKey]

    @classmethod
    def of(cls, files: RunFiles) -> _RunContext:
        return cls(
            node_metric={node["id"]: node["metric_id"] for node in files.graph["nodes"]},
            signalled={
                (c["node_id"], entity_key(c["entity"]), c["metric_id"])
                for c in files.classifications
                if not c["suppressed"]
            },
        )


def _contribution_row(
    files: RunFiles, context: _RunContext, record: dict[str, Any]
) -> dict[str, Any]:
    """Everything of one contribution line that needs no other line."""
    node_metric, signalled = context.node_metric, context.signalled
    run_id = files.run_id
    parent_node, child_node = record["parent_node_id"], record["child_node_id"]
    parent_entity = {k: str(v) for k, v in record["parent_entity"].items()}
    child_entity = {
        k: str(v)
        for k, v in (
            record.get("child_entity") or (record.get("dataset_row_locator") or {}).get("key", {})
        ).items()
    }
    parent_key, child_key = entity_hash(parent_entity), entity_hash(child_entity)
    metric = node_metric.get(child_node, child_node.split("__")[0])
    excess, share = record.get("excess_over_parent"), record.get("weight_share")
    weight = abs(excess) * share if excess is not None and share is not None else None

    def signal(node_id: str, entity: dict[str, str], key: str) -> str | None:
        if (node_id, entity_key(entity), metric) not in signalled:
            return None
        return surrogate_key(run_id, node_id, key, metric)

    missing = record.get("missing_inputs")
    return {
        "contribution_id": surrogate_key(
            run_id, parent_node, parent_key, child_node, child_key, record["metric_id"]
        ),
        "run_id": run_id,
        "metric_id": record["metric_id"],
        "node_metric_id": metric,
        "parent_entity_key": parent_key,
        "child_entity_key": child_key,
        "parent_entity_result_id": surrogate_key(run_id, parent_node, parent_key),
        "child_entity_result_id": surrogate_key(run_id, child_node, child_key),
        "parent_signal_id": signal(parent_node, parent_entity, parent_key),
        "child_signal_id": signal(child_node, child_entity, child_key),
        "facility_id": parent_entity[FACILITY],
        "facility_sk": surrogate_key(parent_entity[FACILITY]),
        "metric_sk": surrogate_key(metric),
        "parent_entity_dimensions": peer_dimensions(parent_entity),
        "child_entity_dimensions": peer_dimensions(child_entity),
        "child_segment": {k: v for k, v in child_entity.items() if k not in parent_entity},
        "parent_groupby_label": files.groupby_label(parent_node),
        "parent_group_value": files.group_value(parent_node, parent_entity),
        "child_groupby_label": files.groupby_label(child_node),
        "child_group_value": files.group_value(child_node, child_entity),
        "child_service_line": child_entity.get(SERVICE_LINE),
        "child_sub_service_line": child_entity.get(SUB_SERVICE_LINE),
        "child_value": record.get("child_value"),
        "parent_value": record.get("parent_value"),
        "weight_value": record.get("weight_value"),
        "weight_share": share,
        "weighted_child_value": record.get("weighted_child_value"),
        "raw_component": record.get("raw_component"),
        "excess_over_parent": excess,
        "contribution_weight": weight,
        "contribution_direction": (
            None
            if excess is None
            else "positive"
            if excess > 0
            else "negative"
            if excess < 0
            else "neutral"
        ),
        "is_metric_contribution": record["metric_id"] == metric,
        "has_missing_inputs": isinstance(missing, list) and len(missing) > 0,
        "detected_at": files.detected_at,
        "computed_at": parse_timestamp(record.get("timestamp")),
    }


def expected_contributions(files: RunFiles) -> dict[ContributionKey, dict[str, Any]]:
    """One expected fct_contributions row per contribution line, keyed by (parent node,
    parent entity, child node, child entity, metric). contribution_rank is given as the
    range of ranks a tie allows (``contribution_rank_range``)."""
    rows: dict[ContributionKey, dict[str, Any]] = {}
    groups: dict[tuple[str, EntityKey, str, str], list[ContributionKey]] = defaultdict(list)
    context = _RunContext.of(files)
    for record in files.contributions:
        row = _contribution_row(files, context, record)
        parent = entity_key(record["parent_entity"])
        key = (
            record["parent_node_id"],
            parent,
            record["child_node_id"],
            entity_key({**row["child_entity_dimensions"], FACILITY: row["facility_id"]}),
            record["metric_id"],
        )
        rows[key] = row
        groups[
            (record["parent_node_id"], parent, record["child_node_id"], record["metric_id"])
        ].append(key)
    for members in groups.values():
        _group_columns([rows[k] for k in members])
    return rows


def _group_columns(members: list[dict[str, Any]]) -> None:
    """The columns a row takes from its parent group (same parent, child node, metric)."""
    known = [w for row in members if (w := row["contribution_weight"]) is not None]
    total = sum(known) if known else None
    shares = [row["weight_share"] for row in members]
    present = [s for s in shares if s is not None]
    share_sum = sum(present) if present else None
    valid = (
        share_sum is not None
        and all(s is None or 0 <= s <= 1 for s in shares)
        and all(s is not None for s in shares)
        and abs(share_sum - 1) <= WEIGHT_SHARE_TOLERANCE
    )
    for row in members:
        weight = row["contribution_weight"]
        if weight is None:
            # nulls rank after every known weight, in some order among themselves
            row["contribution_rank_range"] = (len(known) + 1, len(members))
        else:
            greater = sum(1 for w in known if w > weight)
            equal = sum(1 for w in known if w == weight)
            row["contribution_rank_range"] = (greater + 1, greater + equal)
        row["group_child_count"] = len(members)
        row["group_weight_share_sum"] = share_sum
        row["group_contribution_weight"] = total
        row["is_weight_share_valid"] = valid
        row["contribution_pct"] = 100 * weight / total if weight is not None and total else None


# -- dimensions ----------------------------------------------------------------------------------


def _run_order(runs: list[RunFiles]) -> list[RunFiles]:
    """Oldest first: detected_at, then run_id (byte order)."""
    return sorted(runs, key=lambda run: (run.detected_at, run.run_id.encode()))


def _facility_sightings(files: RunFiles) -> dict[str, dict[str, Any]]:
    """The facilities of one run (node results, classifications, contribution parents)."""
    attributes = files.facility_attributes
    classified = Counter(c["entity"].get(FACILITY) for c in files.classifications)
    seen = set(attributes) | {f for f in classified if f is not None}
    seen |= {str(r["parent_entity"][FACILITY]) for r in files.contributions}
    return {
        facility: {
            "system_name": attributes.get(facility, (None, None))[0],
            "facility_name": attributes.get(facility, (None, None))[1],
            "classification_count": classified.get(facility, 0),
        }
        for facility in seen
    }


def read_seed(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["facility_id"]: row for row in csv.DictReader(handle)}


def expected_facilities(
    runs: list[RunFiles], seed: dict[str, dict[str, str]]
) -> dict[str, dict[str, Any]]:
    """dim_facilities: one row per facility of any run; reported attributes from the newest
    run that has it, master data from the seed."""
    sightings: dict[str, list[tuple[RunFiles, dict[str, Any]]]] = defaultdict(list)
    for run in _run_order(runs):
        for facility, seen in _facility_sightings(run).items():
            sightings[facility].append((run, seen))
    rows: dict[str, dict[str, Any]] = {}
    for facility, seen_in in sightings.items():
        first, (last, latest) = seen_in[0][0], seen_in[-1]
        master = seed.get(facility)
        rows[facility] = {
            "facility_sk": surrogate_key(facility),
            "facility_name": (master or {}).get("facility_name")
            or latest["facility_name"]
            or facility,
            "reported_facility_name": latest["facility_name"],
            "system_name": latest["system_name"],
            "health_system": master["health_system"] if master else None,
            "facility_type": master["facility_type"] if master else None,
            "region": master["region"] if master else None,
            "state": master["state"] if master else None,
            "bed_count": int(master["bed_count"]) if master and master["bed_count"] else None,
            "first_run_id": first.run_id,
            "last_run_id": last.run_id,
            "first_seen_run_id": first.run_id,
            "last_seen_run_id": last.run_id,
            "run_count": len(seen_in),
            "latest_classification_count": latest["classification_count"],
            "has_master_data": master is not None,
            "first_seen_at": first.detected_at,
            "last_seen_at": last.detected_at,
        }
    return rows


_DOMAIN_RULES = (
    (r"(^los|los[A-Z_]|lengthofstay|length_of_stay|cost|charge|wait|throughput)", "Efficiency"),
    (r"readmi", "Effectiveness"),
    (r"(mortality|death|infection|sepsis|fall|return|complication)", "Safety"),
    (r"(icu|utiliz|encounter|cases|admission)", "Utilization"),
)


def metric_domain(metric_id: str, taxonomy_domain: str | None) -> str:
    """The taxonomy's domain when not blank, else the name heuristic (classify_metric_domain;
    its patterns match case-insensitively, as PostgreSQL's ~*)."""
    if taxonomy_domain and taxonomy_domain.strip():
        return taxonomy_domain.strip()
    for pattern, domain in _DOMAIN_RULES:
        if re.search(pattern, metric_id, flags=re.IGNORECASE):
            return domain
    return "Other"


def _used_metrics(files: RunFiles) -> set[str]:
    used = {node["metric_id"] for node in files.graph["nodes"] if node.get("metric_id")}
    used |= {node.header["metric_id"] for node in files.nodes.values()}
    return used | {c["metric_id"] for c in files.classifications}


def expected_metrics(runs: list[RunFiles]) -> dict[str, dict[str, Any]]:
    """dim_metrics: every metric of any run's taxonomy, nodes or classifications; taxonomy
    attributes from the newest run whose taxonomy lists it."""
    ordered = _run_order(runs)
    seen_in: dict[str, list[RunFiles]] = defaultdict(list)
    taxonomy: dict[str, list[tuple[RunFiles, dict[str, Any]]]] = defaultdict(list)
    used: set[str] = set()
    for run in ordered:
        listed = {metric["metric_id"]: metric for metric in run.bundle["metrics"]}
        run_used = _used_metrics(run)
        used |= run_used
        for metric_id in listed.keys() | run_used:
            seen_in[metric_id].append(run)
        for metric_id, metric in listed.items():
            taxonomy[metric_id].append((run, metric))
    rows: dict[str, dict[str, Any]] = {}
    for metric_id, runs_of_metric in seen_in.items():
        entries = taxonomy.get(metric_id, [])
        source, entry = entries[-1] if entries else (None, {})
        name = (entry.get("display_name") or "").strip()
        polarity = entry.get("polarity")
        display_format = (entry.get("display_format") or "").strip()
        rows[metric_id] = {
            "metric_sk": surrogate_key(metric_id),
            "metric_name": name or re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", metric_id).title(),
            "description": entry.get("description"),
            "domain": metric_domain(metric_id, entry.get("domain")),
            "polarity": polarity,
            "direction_preference": (
                polarity
                if polarity in ("lower_is_better", "higher_is_better", "neutral")
                else "unknown"
            ),
            "unit_type": entry.get("unit_type"),
            "display_format": display_format or DEFAULT_DISPLAY_FORMAT,
            "null_fill_value": entry.get("null_fill_value"),
            "taxonomy_run_id": source.run_id if source else None,
            "taxonomy_hash": source.bundle.get("taxonomy_hash") if source else None,
            "taxonomy_run_count": len(entries),
            "first_seen_run_id": runs_of_metric[0].run_id,
            "last_seen_run_id": runs_of_metric[-1].run_id,
            "is_in_taxonomy": bool(entries),
            "is_used": metric_id in used,
        }
    return rows


def loaded_files(run_dir: Path) -> list[Path]:
    """The files `qc load` reads from a run folder: node results, contribution records, the
    classifications (JSONL, else the CSV summary) and the run documents."""
    classification = run_dir / "analysis" / "classification"
    files = sorted((run_dir / "results" / "nodes").glob("*.jsonl"))
    files += sorted((run_dir / "analysis" / "contribution").glob("*.jsonl"))
    jsonl = classification / "classifications.jsonl"
    csv_summary = classification / "classification_summary.csv"
    files += [jsonl] if jsonl.is_file() else [csv_summary] if csv_summary.is_file() else []
    documents = (
        "run_manifest.json",
        "run_manifest.semantic.json",
        "metadata_bundle.json",
        "graph.json",
        "results/index.json",
        "analysis/contribution/index.json",
        "analysis/classification/index.json",
        "analysis/classification/manifest.json",
        "analysis/contribution/manifests/cli/run_args.json",
    )
    return files + [run_dir / name for name in documents if (run_dir / name).is_file()]


def expected_runs(runs: list[RunFiles]) -> dict[str, dict[str, Any]]:
    """dim_runs: one row per run (loaded_at and reject_count: see PASS_THROUGH)."""
    rows: dict[str, dict[str, Any]] = {}
    for run in runs:
        files = loaded_files(run.run_dir)
        rows[run.run_id] = {
            "graph_name": run.graph_name,
            "taxonomy_hash": run.bundle.get("taxonomy_hash"),
            "file_count": len(files),
            "byte_count": sum(path.stat().st_size for path in files),
            "started_at": run.detected_at,
            "detected_at": run.detected_at,
        }
    return rows
