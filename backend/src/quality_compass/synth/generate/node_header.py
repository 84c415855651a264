"""Line 1 of a node result file: the node header with its per-facet statistics (§5.2).

Also the node facts that ``results/index.json`` repeats (entity scope, temporal context,
dataset path).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from quality_compass.needle.formulas import (
    AGGREGATE_MIN_PEER_COUNT,
    AGGREGATE_STD_FLOOR,
    MAD_FLOOR,
    TRENDING_MIN_PEER_COUNT,
    TRENDING_STD_FLOOR,
)
from quality_compass.needle.methods import (
    METHOD_ROBUST_ZSCORE,
    METHOD_SIMPLE_ZSCORE,
    METHOD_SLOPE_PERCENTILE,
    METHOD_TRENDING_ROBUST_ZSCORE,
    METHOD_TRENDING_SIMPLE_ZSCORE,
)
from quality_compass.needle.vocabulary import TIME_GRAIN
from quality_compass.synth.generate.graph import NodeSpec
from quality_compass.synth.generate.json_text import dumps_compact
from quality_compass.synth.generate.peer_stats import AggregateStats, FacetStats, TrendStats
from quality_compass.synth.generate.plan import APP_ROOT, COMPARISON_GROUP, RunPlan
from quality_compass.synth.generate.texts import DIM_FILE_TAGS, title_case

PERCENTILE_NAMES = ("p10", "p25", "p50", "p75", "p90")


def node_header(plan: RunPlan, node: NodeSpec, methods: list[dict[str, Any]], count: int) -> str:
    children = [
        {"canonical_child_node_id": e.target.id, "edge_type": e.type}
        for e in plan.graph.children(node)
    ]
    parents = [
        {"canonical_parent_node_id": e.source.id, "edge_type": e.type}
        for e in plan.graph.parents(node)
    ]
    header = {
        "type": "node_metadata",
        "canonical_node_id": node.id,
        "canonical_child_node_ids": children,
        "canonical_parent_node_ids": parents,
        "metric_id": node.metric_id,
        "dataset_path": dataset_path(node),
        "summary": node_summary(plan, node),
        "statistical_methods": methods,
        "entity_results_count": count,
    }
    return dumps_compact(header) + "\n"


def node_summary(plan: RunPlan, node: NodeSpec) -> dict[str, Any]:
    """The ``summary`` of a node: entity scope, and the temporal context of monthly nodes."""
    summary: dict[str, Any] = {
        "entity_scope": {
            "display_name": " + ".join(title_case(d) for d in node.dims),
            "comparison_group": COMPARISON_GROUP,
        }
    }
    if node.temporal:
        summary["temporal_context"] = {
            "time_grain": TIME_GRAIN,
            "start_period": plan.periods[0],
            "end_period": plan.periods[-1],
            "period_count": plan.months,
        }
    return summary


def dataset_path(node: NodeSpec) -> str:
    tags = "".join("_" + DIM_FILE_TAGS.get(d, d.lower()) for d in node.dims[1:])
    stem = "patient-outcomes" if node.metric_id.startswith("los") else "icu-outcomes"
    grain = "m" if node.temporal else "y"
    return f"{APP_ROOT}/data/{stem}_medicareid_{grain}{tags}__synth.csv"


def aggregate_header_methods(node: NodeSpec, aggregate: AggregateStats) -> list[dict[str, Any]]:
    simple_facets, robust_facets = _header_facets(
        node, aggregate.facets, AGGREGATE_STD_FLOOR, AGGREGATE_MIN_PEER_COUNT
    )
    records = int(aggregate.value.size)
    return [
        {
            "statistical_method": METHOD_SIMPLE_ZSCORE,
            "summary": _summary(node, simple_facets, records, {}),
        },
        {
            "statistical_method": METHOD_ROBUST_ZSCORE,
            "summary": _summary(node, robust_facets, records, {}),
        },
    ]


def trend_header_methods(plan: RunPlan, node: NodeSpec, trends: TrendStats) -> list[dict[str, Any]]:
    simple_facets, robust_facets = _header_facets(
        node, trends.facets, TRENDING_STD_FLOOR, TRENDING_MIN_PEER_COUNT
    )
    percentiles = trends.period_percentiles
    sizes = trends.sample_sizes.tolist()
    small = [s < TRENDING_MIN_PEER_COUNT for s in sizes]
    percentile_trends: dict[str, Any] = {"periods": list(plan.periods)}
    for i, name in enumerate(PERCENTILE_NAMES):
        percentile_trends[name] = [
            None if (flag or math.isnan(v)) else v
            for v, flag in zip(percentiles[i].tolist(), small, strict=True)
        ]
    percentile_trends["sample_sizes"] = sizes
    percentile_trends["suppression_applied"] = {name: list(small) for name in PERCENTILE_NAMES}
    return [
        {
            "statistical_method": METHOD_TRENDING_SIMPLE_ZSCORE,
            "summary": _summary(node, simple_facets, trends.record_count, {}),
        },
        {
            "statistical_method": METHOD_TRENDING_ROBUST_ZSCORE,
            "summary": _summary(
                node,
                robust_facets,
                trends.record_count,
                {"percentile_trends": percentile_trends},
            ),
        },
        {"statistical_method": METHOD_SLOPE_PERCENTILE},
    ]


def _summary(
    node: NodeSpec, facets: list[dict[str, Any]], records: int, extra: dict[str, Any]
) -> dict[str, Any]:
    stats_block: dict[str, Any] = {
        "group_by_columns": list(node.dims),
        "facets": facets,
        "aggregate_statistics": {"global_record_count": records},
    }
    stats_block.update(extra)
    return {"global_statistics": stats_block}


def _number_or_null(value: float) -> float | None:
    return None if math.isnan(value) else value


def _header_facets(
    node: NodeSpec, facets: Sequence[FacetStats], std_floor: float, min_peer_count: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The header facets of the simple and the robust z-score methods (§5.2)."""
    simple_facets = []
    robust_facets = []
    for facet in facets:
        counts = {
            "record_count": facet.record_count,
            "entity_count": facet.entity_count,
            "entity_with_statistics_count": facet.with_stats,
        }
        values = dict(zip(node.dims[1:], facet.values, strict=True))
        simple_facets.append(
            {
                "facet_values": values,
                "facet_counts": counts,
                "method_statistics": {
                    "global_metric_mean": _number_or_null(facet.mean),
                    "global_metric_std": _number_or_null(facet.std),
                    "std_floor": std_floor,
                    "std_floor_applied": bool(facet.std < std_floor),
                    "min_peer_count": min_peer_count,
                },
                "warnings": [],
            }
        )
        robust_facets.append(
            {
                "facet_values": values,
                "facet_counts": counts,
                "method_statistics": {
                    "global_metric_mean": _number_or_null(facet.mean),
                    "global_metric_median": _number_or_null(facet.median),
                    "global_mad": _number_or_null(facet.mad),
                    "mad_floor": MAD_FLOOR,
                    "mad_floor_applied": bool(facet.mad < MAD_FLOOR),
                    "winsor_percentile": 0.0,
                    "winsor_applied": False,
                    "min_peer_count": min_peer_count,
                },
                "warnings": [],
            }
        )
    return simple_facets, robust_facets
