"""The content of a run's configuration files: node and edge YAML, defaults, graphviz.

The graph source YAML of §4.5, as the engine's scaffold writes it, and the descriptions
and rationales that ``graph.json`` repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from quality_compass.needle.methods import AGGREGATE_METHODS, METHOD_CONTRACTS, TREND_METHODS
from quality_compass.needle.vocabulary import SEGMENTS_INTO, TRENDS_TO
from quality_compass.synth.generate.graph import EdgeSpec, NodeSpec
from quality_compass.synth.generate.plan import COMPARISON_GROUP, RunPlan
from quality_compass.synth.generate.texts import DIM_PHRASES

#: Metadata columns of every node (the inpatient throughput dataset), in real order.
META_COLUMNS = (
    "encounters",
    "systemName",
    "facility",
    "losOutliers",
    "uniquePatients",
    "losMeanObservedDays",
    "losMeanExpectedDays",
    "losVarianceDays",
)


def node_yaml(plan: RunPlan, node: NodeSpec) -> dict[str, Any]:
    methods = TREND_METHODS if node.temporal else AGGREGATE_METHODS
    dims_words = "_".join(
        DIM_PHRASES.get(d, d).replace(" ", "_").replace("-", "_") for d in node.dims[1:]
    )
    dataset_id = f"inpatient_throughput_medicareid_{'month' if node.temporal else 'year'}"
    if dims_words:
        dataset_id += f"_{dims_words}"
    contract: dict[str, Any] = (
        {
            "contract_id": "contract__trending_time_period",
            "purpose": "Shared contract for trending peer comparison using peer z-score methods.",
        }
        if node.temporal
        else {
            "contract_id": "contract__aggregated_time_period",
            "purpose": "Shared contract for z-score based peer comparison at an aggregated time period grain.",
        }
    )
    contract["methods"] = [
        {
            "id": m,
            "anomaly_profile": METHOD_CONTRACTS[m][0],
            "anomaly_methods": list(METHOD_CONTRACTS[m][1]),
            "anomaly_method": METHOD_CONTRACTS[m][1][0],
        }
        for m in methods
    ]
    aggregation = "per_period" if node.temporal else "sum"
    return {
        "schema_version": "0.1.0",
        "id": node.id,
        "metric_id": node.metric_id,
        "group_by_set": node.set_id,
        "group_bys": [{"type": d, "dataset_field": d} for d in node.dims],
        "data_source": {"dataset_id": dataset_id},
        "multi_method_contract": contract,
        "time_grain": node.time_grain,
        "comparison_group": COMPARISON_GROUP,
        "comparison_type": "distribution",
        "metric_method_set": "trending_time_period" if node.temporal else "aggregated_time_period",
        "metric_dependencies": [],
        "tags": _tags(node.metric_id),
        "pii_flag": False,
        "description": description(plan, node),
        "facet_family_id": node.family,
        "graph_entry_point": entry_point(node),
        "metadata_columns": [
            {
                "id": c,
                "dataset_field": c,
                "aggregation": "first" if c in {"systemName", "facility"} else aggregation,
            }
            for c in META_COLUMNS
        ],
    }


def _tags(metric_id: str) -> list[str]:
    return ["los", "throughput"] if metric_id.startswith("los") else ["throughput"]


def entry_point(node: NodeSpec) -> bool:
    return len(node.dims) == 1 and not node.temporal


def description(plan: RunPlan, node: NodeSpec) -> str:
    short = plan.short_metric(node.metric_id)
    if len(node.dims) == 1:
        return (
            f"Monthly {short} trend relative to peer cohort"
            if node.temporal
            else f"Facility {short} distribution against peer cohort (annual)"
        )
    phrase = " and ".join(DIM_PHRASES.get(d, d) for d in node.dims[1:])
    if node.dims[1:] == ["vizientServiceLine"]:  # the real runs' wording
        annual, monthly = "by Vizient service line", "by service line"
    else:
        annual = monthly = f"segmented by {phrase}"
    return f"Monthly {short} trend {monthly}" if node.temporal else f"Annual {short} {annual}"


def rationale(plan: RunPlan, edge: EdgeSpec) -> str:
    short = plan.short_metric(edge.source.metric_id)
    phrase = DIM_PHRASES.get(edge.target.dims[-1], edge.target.dims[-1])
    if edge.type == TRENDS_TO:
        if len(edge.source.dims) == 1:
            return f"Annual to monthly {short} trend comparison"
        return f"Annual to monthly trend for {phrase} facets"
    if edge.type == SEGMENTS_INTO:
        return f"Drill into {phrase} peers"
    return f"Explore {phrase} as potential {short} driver"


def edge_dict(plan: RunPlan, edge: EdgeSpec, sort: bool) -> dict[str, Any]:
    conditions = [
        {"field": d, "operator": "equals", "value": f"{{{{{d}}}}}"} for d in edge.target.dims
    ]
    body = {
        "id": edge.id,
        "source": edge.source.id,
        "target": edge.target.id,
        "type": edge.type,
        "direction": "forward",
        "conditions": conditions,
        "rationale": rationale(plan, edge),
    }
    return dict(sorted(body.items())) if sort else body


def yaml_document(about: tuple[str, str], body: Any) -> str:
    return f"# ABOUTME: {about[0]}\n# ABOUTME: {about[1]}\n" + yaml.safe_dump(
        body, sort_keys=False, default_flow_style=False
    )


def facet_family_defaults(plan: RunPlan) -> dict[str, Any]:
    families: dict[str, Any] = {}
    for metric in plan.metric_ids:
        for set_id in plan.set_ids:
            families[f"`{metric}__{'_'.join(plan.taxonomy.sets[set_id])}`"] = {
                "metric_id": metric,
                "comparison_group": COMPARISON_GROUP,
                "comparison_type": "distribution",
                "metric_dependencies": [],
                "tags": [metric],
                "data_quality_messages": [],
            }
    first = plan.metric_ids[0]

    def template(methods: Sequence[str], method_set: str, kind: str) -> dict[str, Any]:
        return {
            "metric_method_set": method_set,
            "multi_method_contract": {
                "methods": [
                    {
                        "id": m,
                        "anomaly_profile": METHOD_CONTRACTS[m][0],
                        "anomaly_method": METHOD_CONTRACTS[m][1][0],
                    }
                    for m in methods
                ]
            },
            "metric_id": first,
            "comparison_group": COMPARISON_GROUP,
            "comparison_type": kind,
        }

    return {
        "defaults": {
            "families": families,
            "nodes": {
                "aggregate__aggregated_time_period": template(
                    AGGREGATE_METHODS, "aggregated_time_period", "distribution"
                ),
                "trend__trending_time_period": template(
                    TREND_METHODS, "trending_time_period", "trend"
                ),
            },
            "edge_macros": {},
        }
    }


def graphviz_dot(plan: RunPlan) -> str:
    lines = [
        "digraph insight_graph {",
        "  rankdir=LR;",
        '  graph [ranksep=1.4, nodesep=1.0, pad="0.4", splines=true];',
        '  node [margin="0.3,0.2"];',
        "  edge [minlen=2, labeldistance=2.0];",
    ]
    for node in reversed(plan.graph.nodes):
        lines.append(
            f'  "{node.id}" [shape="box", style="rounded,filled", fillcolor="#FFFFFF", '
            f'color="#696969", fontcolor="#696969", label="{node.metric_id}\n{node.set_id}\n'
            f'{node.time_grain}"];'
        )
    styles = {
        "trends_to": 'color="#565EAA", style="dashed", penwidth="1.4"',
        "segments_into": 'color="#38A169", penwidth="1.6"',
        "potentially_driven_by": 'color="#DD6B20", penwidth="1.6"',
    }
    for edge in plan.graph.edges:
        lines.append(
            f'  "{edge.source.id}" -> "{edge.target.id}" [{styles[edge.type]}, '
            f'fontcolor="#696969", xlabelfontcolor="#696969", xlabel="{edge.type}"];'
        )
    lines.append("}")
    return "\n".join(lines)
