"""What the marts must hold for one run folder, computed straight from its files.

Nothing here reads the database or reuses the loader, dbt or the generator: the node result
JSONL, classification JSONL/CSV, contribution JSONL, graph.json and metadata_bundle.json
are read with the standard library, and the mart rules (docs/architecture/marts.md) are
re-implemented in plain Python so the tests compare two independent computations.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FACILITY = "medicareId"
NON_KEY = {"systemName"}
SEVERITY_BY_PREFIX = {
    "extremely": "Critical",
    "very": "High",
    "moderately": "Moderate",
    "slightly": "Watch",
}
SEVERITY_ORDER = ("Critical", "High", "Moderate", "Watch")
WEIGHT_SHARE_TOLERANCE = 1e-6
EntityKey = tuple[tuple[str, str], ...]


def severity_of(label: str | None) -> str | None:
    """The 4-level severity of a 9-tier label (null for normal / no_score / null)."""
    if label is None:
        return None
    return SEVERITY_BY_PREFIX.get(label.split("_", 1)[0]) if "_" in label else None


def entity_key(entity: dict[str, Any]) -> EntityKey:
    """Canonical entity identity: sorted (dimension, value) pairs without systemName."""
    return tuple(sorted((k, str(v)) for k, v in entity.items() if k not in NON_KEY))


def close(a: float | None, b: float | None, tol: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=tol, abs_tol=tol)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as handle:
        return [json.loads(line) for line in handle if line.strip()]


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
    nodes: dict[str, NodeFile] = field(default_factory=dict)
    classifications: list[dict[str, Any]] = field(default_factory=list)
    contributions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def graph_nodes(self) -> dict[str, dict[str, Any]]:
        return {node["id"]: node for node in self.graph["nodes"]}

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


def read_run(run_dir: Path) -> RunFiles:
    files = RunFiles(
        run_dir=run_dir,
        run_id=run_dir.name,
        graph=json.loads((run_dir / "graph.json").read_text()),
        bundle=json.loads((run_dir / "metadata_bundle.json").read_text()),
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


def _read_classifications(folder: Path) -> list[dict[str, Any]]:
    jsonl = folder / "classifications.jsonl"
    if jsonl.is_file():
        records = read_jsonl(jsonl)
        return [
            {
                "node_id": r["node_id"],
                "metric_id": r["metric_id"],
                "entity": {k: str(v) for k, v in r["entity_key"].items()},
                "signal_type": r["signal_type"],
                "severity": int(r["severity"]),
                "severity_range": [int(v) for v in r["severity_range"]],
                "inputs": r["inputs"],
                "suppressed": bool(r.get("suppressed")),
                "reasoning": r.get("classification_reasoning"),
            }
            for r in records
        ]
    with (folder / "classification_summary.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        dimensions = fields[fields.index("metric_id") + 1 : fields.index("signal_type")]

        def number(text: str) -> float | None:
            return float(text) if text != "" else None

        return [
            {
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
                "reasoning": None,
            }
            for row in reader
        ]


# -- fct_signals -----------------------------------------------------------------------------


def _methods(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The entity's methods by short name (simple_zscore / robust_zscore / slope_percentile)."""
    methods: dict[str, dict[str, Any]] = {}
    for method in record["statistical_methods"]:
        name = method["statistical_method"]
        short = next(
            (s for s in ("slope_percentile", "robust_zscore", "simple_zscore") if s in name), None
        )
        if short is not None:
            methods[short] = method
    return methods


def _labels(record: dict[str, Any]) -> dict[str, str]:
    return {
        anomaly["applies_to"]: anomaly["anomaly"]
        for method in record["statistical_methods"]
        for profile in method.get("anomalies") or []
        for anomaly in profile.get("methods") or []
    }


def _facet_mean(header: dict[str, Any], dimensions: dict[str, str]) -> float | None:
    for method in header["statistical_methods"]:
        if "simple_zscore" not in method["statistical_method"]:
            continue
        for facet in method["summary"]["global_statistics"]["facets"]:
            values = {k: str(v) for k, v in (facet.get("facet_values") or {}).items()}
            if values == dimensions:
                return facet["method_statistics"].get("global_metric_mean")  # type: ignore[no-any-return]
    return None


SignalKey = tuple[str, EntityKey, str]


def expected_signals(files: RunFiles) -> dict[SignalKey, dict[str, Any]]:
    """One expected fct_signals row per unsuppressed classification, keyed by
    (canonical_node_id, entity key, metric_id)."""
    signals: dict[SignalKey, dict[str, Any]] = {}
    for classification in files.classifications:
        if classification["suppressed"]:
            continue
        node_id = classification["node_id"]
        entity = classification["entity"]
        key = entity_key(entity)
        dimensions = {k: v for k, v in entity.items() if k != FACILITY and k not in NON_KEY}
        twin_id = files.twin_of(node_id)
        row: dict[str, Any] = {
            "canonical_node_id": node_id,
            "temporal_node_id": twin_id,
            "facility_id": entity[FACILITY],
            "metric_id": classification["metric_id"],
            "entity_dimensions": dimensions,
            "group_value": files.group_value(node_id, entity),
            "groupby_label": files.groupby_label(node_id),
            "domain": files.metric_domain(classification["metric_id"]),
            "signal_type": classification["signal_type"],
            "signal_severity": classification["severity"],
            "signal_severity_range": classification["severity_range"],
            "classification_inputs": classification["inputs"],
            "classification_reasoning": classification["reasoning"],
        }
        node = files.nodes.get(node_id)
        record = node.entities.get(key) if node else None
        row["has_entity_result"] = record is not None
        if record is not None and node is not None:
            methods = _methods(record)
            simple = methods["simple_zscore"]["statistics"]
            robust = methods["robust_zscore"]["statistics"]
            labels = _labels(record)
            value = record["metric"][0]["values"]
            facet_mean = _facet_mean(node.header, dimensions)
            benchmark = facet_mean if facet_mean is not None else simple.get("peer_mean")
            row.update(
                metric_value=value,
                encounters=int(float(record["metadata"]["encounters"])),
                simple_zscore=simple.get("simple_zscore"),
                robust_zscore=robust.get("robust_zscore"),
                percentile_rank=simple.get("percentile_rank"),
                peer_mean=simple.get("peer_mean"),
                peer_std=simple.get("peer_std"),
                peer_count=methods["simple_zscore"]["runtime"]["anomaly_statistics"]["peer_count"],
                benchmark_value=benchmark,
                variance_percent=(
                    100 * (value - benchmark) / benchmark
                    if value is not None and benchmark not in (None, 0)
                    else None
                ),
                simple_zscore_anomaly=labels.get("simple_zscore"),
                robust_zscore_anomaly=labels.get("robust_zscore"),
                anomaly_classification=labels.get("simple_zscore"),
                severity=severity_of(labels.get("simple_zscore")),
                method_count=len(record["statistical_methods"]),
            )
        twin_node = files.nodes.get(twin_id) if twin_id else None
        twin = twin_node.entities.get(key) if twin_node else None
        row["has_temporal_twin"] = twin is not None
        if twin is not None:
            methods = _methods(twin)
            simple = methods["simple_zscore"]["statistics"]
            robust = methods["robust_zscore"]["statistics"]
            slope = methods["slope_percentile"]["statistics"]
            labels = _labels(twin)
            row.update(
                latest_simple_zscore=simple.get("latest_simple_zscore"),
                mean_simple_zscore=simple.get("mean_simple_zscore"),
                latest_robust_zscore=robust.get("latest_robust_zscore"),
                mean_robust_zscore=robust.get("mean_robust_zscore"),
                monthly_z_scores=simple.get("per_period_simple_zscores"),
                slope=slope.get("slope"),
                slope_percentile=slope.get("slope_percentile"),
                acceleration=slope.get("acceleration"),
                trend_direction=slope.get("trend_direction"),
                momentum=slope.get("momentum"),
                period_count=slope.get("period_count"),
                metric_trend_timeline=twin["metric"][0]["values"]["timeline"],
                latest_simple_zscore_anomaly=labels.get("latest_simple_zscore"),
                mean_simple_zscore_anomaly=labels.get("mean_simple_zscore"),
                latest_robust_zscore_anomaly=labels.get("latest_robust_zscore"),
                mean_robust_zscore_anomaly=labels.get("mean_robust_zscore"),
                slope_anomaly=labels.get("slope_percentile"),
            )
            bands = [
                m["summary"]["global_statistics"].get("percentile_trends")
                for m in twin_node.header["statistical_methods"]  # type: ignore[union-attr]
                if "robust_zscore" in m["statistical_method"] and m.get("summary")
            ]
            row["peer_p50"] = bands[0]["p50"] if bands and bands[0] else None
        signals[(node_id, key, classification["metric_id"])] = row
    return signals


def suppressed_count(files: RunFiles) -> int:
    return sum(1 for c in files.classifications if c["suppressed"])


# -- fct_contributions -------------------------------------------------------------------------

ContributionKey = tuple[str, EntityKey, str, EntityKey, str]


def expected_contributions(files: RunFiles) -> dict[ContributionKey, dict[str, Any]]:
    """One expected fct_contributions row per contribution line, keyed by (parent node,
    parent entity, child node, child entity, metric)."""
    node_metric = {node["id"]: node["metric_id"] for node in files.graph["nodes"]}
    signalled = {
        (c["node_id"], entity_key(c["entity"]), c["metric_id"])
        for c in files.classifications
        if not c["suppressed"]
    }
    rows: dict[ContributionKey, dict[str, Any]] = {}
    groups: dict[tuple[str, EntityKey, str, str], list[ContributionKey]] = defaultdict(list)
    for record in files.contributions:
        child_entity = record.get("child_entity") or (record.get("dataset_row_locator") or {}).get(
            "key", {}
        )
        parent = entity_key(record["parent_entity"])
        child = entity_key(child_entity)
        key = (
            record["parent_node_id"],
            parent,
            record["child_node_id"],
            child,
            record["metric_id"],
        )
        excess, share = record.get("excess_over_parent"), record.get("weight_share")
        weight = abs(excess) * share if excess is not None and share is not None else None
        metric = node_metric[record["child_node_id"]]
        rows[key] = {
            "metric_id": record["metric_id"],
            "node_metric_id": metric,
            "facility_id": record["parent_entity"][FACILITY],
            "weight_share": share,
            "excess_over_parent": excess,
            "child_value": record.get("child_value"),
            "parent_value": record.get("parent_value"),
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
            "has_parent_signal": (record["parent_node_id"], parent, metric) in signalled,
            "has_child_signal": (record["child_node_id"], child, metric) in signalled,
            "child_group_value": files.group_value(
                record["child_node_id"], {k: str(v) for k, v in child_entity.items()}
            ),
        }
        groups[
            (record["parent_node_id"], parent, record["child_node_id"], record["metric_id"])
        ].append(key)
    for members in groups.values():
        known = [w for k in members if (w := rows[k]["contribution_weight"]) is not None]
        total = sum(known)
        shares = [rows[k]["weight_share"] for k in members]
        valid = all(s is not None and 0 <= s <= 1 for s in shares) and (
            abs(sum(s for s in shares if s is not None) - 1) <= WEIGHT_SHARE_TOLERANCE
        )
        for k in members:
            row = rows[k]
            weight = row["contribution_weight"]
            if weight is None:
                # nulls rank after every known weight, in some order among themselves
                row["contribution_rank_range"] = (len(known) + 1, len(members))
            else:
                greater = sum(1 for w in known if w > weight)
                equal = sum(1 for w in known if w == weight)
                row["contribution_rank_range"] = (greater + 1, greater + equal)
            row["group_child_count"] = len(members)
            row["is_weight_share_valid"] = valid
            row["contribution_pct"] = (
                100 * weight / total if weight is not None and total > 0 else None
            )
    return rows
