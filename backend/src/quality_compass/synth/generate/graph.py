"""The graph of a generated run: an aggregate node and its monthly twin per (metric, set),
and the edges between them (``trends_to``, ``segments_into``, ``potentially_driven_by``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from quality_compass.needle.conventions import canonical_node_id
from quality_compass.needle.vocabulary import (
    AGGREGATE_TIME_PERIOD,
    POTENTIALLY_DRIVEN_BY,
    SEGMENTS_INTO,
    TIME_GRAIN,
    TRENDS_TO,
)
from quality_compass.synth.generate.taxonomy import Taxonomy

#: Dimensions whose child nodes are drill-downs (``segments_into`` + contributions); every
#: other dimension is explored as a driver (``potentially_driven_by``), as in real runs.
SEGMENT_DIMS = frozenset({"vizientServiceLine", "vizientSubServiceLine"})


@dataclass
class NodeSpec:
    """One node of the graph (aggregate, or its temporal twin)."""

    id: str
    metric_id: str
    set_id: str
    dims: list[str]
    temporal: bool

    @property
    def time_grain(self) -> str:
        return TIME_GRAIN if self.temporal else AGGREGATE_TIME_PERIOD

    @property
    def family(self) -> str:
        return f"`{self.metric_id}__{'_'.join(self.dims)}`"

    @property
    def file_name(self) -> str:
        return f"{self.id}.jsonl"


@dataclass
class EdgeSpec:
    """One edge (source -> target, of an edge type)."""

    source: NodeSpec
    target: NodeSpec
    type: str

    @property
    def id(self) -> str:
        return f"{self.source.id}__to__{self.target.id}"


@dataclass
class Graph:
    nodes: list[NodeSpec]
    edges: list[EdgeSpec]

    def children(self, node: NodeSpec) -> list[EdgeSpec]:
        return sorted((e for e in self.edges if e.source.id == node.id), key=lambda e: e.id)

    def parents(self, node: NodeSpec) -> list[EdgeSpec]:
        return sorted((e for e in self.edges if e.target.id == node.id), key=lambda e: e.id)


def build_graph(taxonomy: Taxonomy, metric_ids: Sequence[str], set_ids: Sequence[str]) -> Graph:
    nodes: dict[str, NodeSpec] = {}
    edges: list[EdgeSpec] = []
    by_dims = {tuple(taxonomy.sets[s]): s for s in set_ids}
    for metric in metric_ids:
        for set_id in set_ids:
            dims = taxonomy.sets[set_id]
            agg = NodeSpec(canonical_node_id(metric, dims, False), metric, set_id, dims, False)
            trend = NodeSpec(canonical_node_id(metric, dims, True), metric, set_id, dims, True)
            nodes[agg.id] = agg
            nodes[trend.id] = trend
            edges.append(EdgeSpec(agg, trend, TRENDS_TO))
        for set_id in set_ids:
            dims = taxonomy.sets[set_id]
            if len(dims) == 1:
                continue
            parent_set = by_dims.get(tuple(dims[:-1]), "facility_base")
            parent = nodes[canonical_node_id(metric, taxonomy.sets[parent_set], False)]
            child = nodes[canonical_node_id(metric, dims, False)]
            kind = SEGMENTS_INTO if dims[-1] in SEGMENT_DIMS else POTENTIALLY_DRIVEN_BY
            edges.append(EdgeSpec(parent, child, kind))
    return Graph(sorted(nodes.values(), key=lambda n: n.id), sorted(edges, key=lambda e: e.id))
