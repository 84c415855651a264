"""``analysis/contribution/<child_node_id>.<metric>.jsonl`` (§6.3).

For each ``segments_into`` edge, every child entity's share of its parent entity's
encounters and its weighted contribution, for the metric and the two aggregate z-scores.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from quality_compass.needle.layout import (
    contribution_file_name,
    contribution_path,
    node_result_path,
)
from quality_compass.synth.generate.clock import CONTRIBUTION_STAGE, TASK_SLOT
from quality_compass.synth.generate.entities import EntitySet
from quality_compass.synth.generate.files import RunFiles, TaskResult
from quality_compass.synth.generate.graph import EdgeSpec
from quality_compass.synth.generate.json_text import json_numbers
from quality_compass.synth.generate.peer_stats import AggregateStats
from quality_compass.synth.generate.plan import RunPlan
from quality_compass.synth.generate.universe import FloatArray


@dataclass(frozen=True)
class _Edge:
    """The fixed text of one edge's records and how child entities map to parents."""

    head: str
    child_head: str
    parent_json: list[str]
    parent_index: np.ndarray
    weight: list[str]
    share: FloatArray
    share_text: list[str]


class ContributionFiles:
    """Writes the contribution files of one node task."""

    def __init__(self, plan: RunPlan, files: RunFiles, task: TaskResult) -> None:
        self.plan = plan
        self.files = files
        self.task = task

    def write(
        self,
        edge: EdgeSpec,
        parent_entities: EntitySet,
        parent: AggregateStats,
        child_entities: EntitySet,
        child: AggregateStats,
    ) -> None:
        """Three files for the edge: the metric, ``simple_zscore`` and ``robust_zscore``."""
        shape = self._edge(edge, parent_entities, child_entities)
        artifacts = self.task.artifacts.setdefault(edge.source.id, [])
        size = child_entities.size
        for j, (metric, child_values, parent_values) in enumerate(
            (
                (edge.target.metric_id, child.value, parent.value),
                ("simple_zscore", child.simple, parent.simple),
                ("robust_zscore", child.robust, parent.robust),
            )
        ):
            base = CONTRIBUTION_STAGE + TASK_SLOT * self.task.index + 8.0 * j
            stamps = self.plan.clock.series(base, size, 11, "Z")
            lines = _lines(shape, child_entities, metric, child_values, parent_values, stamps)
            name = contribution_file_name(edge.target.id, metric)
            self.files.write_lines(contribution_path(name), "", lines)
            self.task.contribution_lines += size
            artifacts.append((metric, name, size))

    def _edge(self, edge: EdgeSpec, parent_entities: EntitySet, child_entities: EntitySet) -> _Edge:
        parent_node, child_node = edge.source, edge.target
        width = len(parent_node.dims)
        index = {key: i for i, key in enumerate(parent_entities.keys)}
        parent_index = np.array([index[key[:width]] for key in child_entities.keys], dtype=np.int64)
        weight = child_entities.encounters.sum(axis=1).astype(np.float64)
        total = np.bincount(parent_index, weights=weight, minlength=parent_entities.size)
        share = weight / total[parent_index]
        parent_file = f"{self.plan.prod_root}/{node_result_path(parent_node.id)}"
        child_file = f"{self.plan.prod_root}/{node_result_path(child_node.id)}"
        return _Edge(
            head=(
                f'{{"run_id":"{self.plan.run_id}","parent_node_id":"{parent_node.id}",'
                f'"parent_node_file":"{parent_file}","parent_entity":'
            ),
            child_head=(
                f'"child_node_id":"{child_node.id}","child_node_file":"{child_file}",'
                '"child_entity":'
            ),
            parent_json=[parent_entities.key_json[p] for p in parent_index.tolist()],
            parent_index=parent_index,
            weight=json_numbers(weight),
            share=share,
            share_text=json_numbers(share),
        )


def _lines(
    edge: _Edge,
    child_entities: EntitySet,
    metric: str,
    child_values: FloatArray,
    parent_values: FloatArray,
    stamps: list[str],
) -> Iterator[str]:
    """The records of one contribution file."""
    parent_value = parent_values[edge.parent_index]
    raw = json_numbers(edge.share * child_values)
    excess = json_numbers(edge.share * (child_values - parent_value))
    child_text, parent_text = json_numbers(child_values), json_numbers(parent_value)
    middle = f'"metric_id":"{metric}","method":"weighted_mean","child_value":'
    tail = (
        f'"parent_statistics":null,"assumptions":["child_metric={metric}",'
        f'"weighted_mean_parent"],"fallbacks":[],"missing_inputs":['
    )
    head, child_head, weight, share = edge.head, edge.child_head, edge.weight, edge.share_text
    for i in range(child_entities.size):
        missing = []
        if child_text[i] == "null":
            missing.append('"child_value"')
        if parent_text[i] == "null":
            missing.append('"parent_value"')
        child_key = child_entities.key_json[i]
        yield (
            f"{head}{edge.parent_json[i]},{child_head}{child_key},{middle}{child_text[i]},"
            f'"parent_value":{parent_text[i]},"weight_field":"encounters",'
            f'"weight_value":{weight[i]},"weight_share":{share[i]},'
            f'"weighted_child_value":{raw[i]},"contribution_value":{share[i]},'
            f'"raw_component":{raw[i]},"excess_over_parent":{excess[i]},{tail}'
            f'{",".join(missing)}],"dataset_row_locator":{{"key":{child_key}}},'
            f'"timestamp":"{stamps[i]}"}}\n'
        )
