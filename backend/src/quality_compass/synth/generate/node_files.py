"""``results/nodes/<canonical_node_id>.jsonl``: the header line, then one line per entity.

Entities are serialised in blocks of ``ENTITY_BLOCK``, so a node's text never sits in
memory at once; the block size does not change the bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from quality_compass.needle.layout import node_result_path
from quality_compass.synth.generate.aggregate_lines import aggregate_lines
from quality_compass.synth.generate.entities import EntitySet
from quality_compass.synth.generate.files import RunFiles, TaskResult
from quality_compass.synth.generate.graph import NodeSpec
from quality_compass.synth.generate.node_header import (
    aggregate_header_methods,
    node_header,
    trend_header_methods,
)
from quality_compass.synth.generate.peer_stats import AggregateStats, TrendStats
from quality_compass.synth.generate.plan import RunPlan
from quality_compass.synth.generate.trend_lines import TrendLines
from quality_compass.synth.generate.universe import FloatArray

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

ENTITY_BLOCK = 4096
#: The per-entity fields of each dataclass, cut into blocks together.
_ENTITY_FIELDS = (
    "facility",
    "keys",
    "encounters",
    "observed",
    "gappy",
    "expected_days",
    "observed_days",
    "unique_patients",
    "los_outliers",
    "entity_json",
    "key_json",
    "labels",
    "facility_meta",
)
_AGGREGATE_FIELDS = (
    "value",
    "simple",
    "robust",
    "peer_mean",
    "peer_std",
    "percentile",
    "peer_count",
    "suppressed",
)
_TREND_FIELDS = (
    "simple_z",
    "robust_z",
    "mean_simple_z",
    "mean_robust_z",
    "latest_simple_z",
    "latest_robust_z",
    "simple_percentile",
    "robust_percentile",
    "peer_median",
    "peer_mad",
    "suppressed",
    "observations",
    "slope",
    "acceleration",
    "end_start_delta",
    "slope_percentile",
    "slope_suppressed",
)

T = TypeVar("T", bound="DataclassInstance")


def _blocks(size: int) -> Iterator[slice]:
    for start in range(0, size, ENTITY_BLOCK):
        yield slice(start, min(start + ENTITY_BLOCK, size))


def _rows_of(obj: T, names: Sequence[str], rows: slice) -> T:
    """A shallow copy of a per-entity dataclass restricted to a block of entities."""
    changes: dict[str, Any] = {name: getattr(obj, name)[rows] for name in names}
    return replace(obj, **changes)


class NodeFiles:
    """Writes the two node files of a node task."""

    def __init__(self, plan: RunPlan, files: RunFiles, task: TaskResult) -> None:
        self.plan = plan
        self.files = files
        self.task = task

    def write_aggregate(
        self, node: NodeSpec, entities: EntitySet, aggregate: AggregateStats
    ) -> None:
        self._count(node, entities)
        header = node_header(
            self.plan, node, aggregate_header_methods(node, aggregate), entities.size
        )
        lines = (
            line
            for rows in _blocks(entities.size)
            for line in aggregate_lines(
                node,
                _rows_of(entities, _ENTITY_FIELDS, rows),
                _rows_of(aggregate, _AGGREGATE_FIELDS, rows),
            )
        )
        self.files.write_lines(node_result_path(node.id), header, lines)

    def write_trend(
        self, node: NodeSpec, entities: EntitySet, values: FloatArray, trends: TrendStats
    ) -> None:
        self._count(node, entities)
        header = node_header(
            self.plan, node, trend_header_methods(self.plan, node, trends), entities.size
        )
        writer = TrendLines(self.plan, node)
        lines = (
            line
            for rows in _blocks(entities.size)
            for line in writer.lines(
                _rows_of(entities, _ENTITY_FIELDS, rows),
                values[rows],
                _rows_of(trends, _TREND_FIELDS, rows),
            )
        )
        self.files.write_lines(node_result_path(node.id), header, lines)

    def _count(self, node: NodeSpec, entities: EntitySet) -> None:
        self.task.entity_lines += entities.size
