"""The numbers of a node task: entity sets, metric values and peer statistics, cached.

A task computes its aggregate node; its contributions also need the parent node's
aggregate statistics, computed on demand (and kept, when one process runs every task).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quality_compass.synth.generate.entities import EntitySet, build_entities
from quality_compass.synth.generate.graph import NodeSpec
from quality_compass.synth.generate.metric_model import (
    FacilityEffects,
    facility_effects,
    metric_values,
)
from quality_compass.synth.generate.peer_stats import AggregateStats, aggregate_stats
from quality_compass.synth.generate.series_model import SeriesStep
from quality_compass.synth.generate.universe import FloatArray, IntArray, Universe


@dataclass(frozen=True)
class ComputedNode:
    """An aggregate node's entities, monthly values, facets and statistics."""

    entities: EntitySet
    values: FloatArray  # (E, T) monthly values, the temporal twin's timeline
    facet: IntArray  # facet index of every entity
    facet_names: list[tuple[str, ...]]
    aggregate: AggregateStats


class NodeComputation:
    """Computes aggregate nodes from the universe, caching what several nodes share.

    ``series_step`` > 0: the run that many months after a series' first run
    (``series_model``); its entities and values continue the first run's.
    """

    def __init__(self, universe: Universe, series_step: int = 0) -> None:
        self.universe = universe
        self.series = SeriesStep(universe, series_step) if series_step else None
        self._first_sets: dict[str, EntitySet] = {}
        self._entity_sets: dict[str, EntitySet] = {}
        self._effects: dict[str, FacilityEffects] = {}
        self._aggregates: dict[str, tuple[EntitySet, AggregateStats]] = {}

    def facilities_present(self) -> int:
        """Facilities in the run (a series' later runs miss a few)."""
        absent = 0 if self.series is None else int(self.series.absent.sum())
        return self.universe.n - absent

    def first_entities(self, set_id: str) -> EntitySet:
        """The entity set of the series' first run (of a single run: the run's)."""
        if set_id not in self._first_sets:
            self._first_sets[set_id] = build_entities(self.universe, set_id)
        return self._first_sets[set_id]

    def entities(self, set_id: str) -> EntitySet:
        """The run's entities, over the run's months."""
        if set_id not in self._entity_sets:
            first = self.first_entities(set_id)
            self._entity_sets[set_id] = (
                first if self.series is None else self.series.entities(first)
            )
        return self._entity_sets[set_id]

    def facility_effects(self, metric: str) -> FacilityEffects:
        if metric not in self._effects:
            self._effects[metric] = facility_effects(self.universe, metric)
        return self._effects[metric]

    def compute(self, node: NodeSpec) -> ComputedNode:
        """Values and statistics of an aggregate node (the value: encounter-weighted mean)."""
        entities = self.entities(node.set_id)
        first = self.first_entities(node.set_id)
        model = metric_values(
            self.universe, first, node.metric_id, self.facility_effects(node.metric_id)
        )
        values = (
            model.values
            if self.series is None
            else self.series.values(first, node.metric_id, model)
        )
        facet, facet_names = entities.facet_index(self.universe)
        encounters = entities.encounters.astype(np.float64)
        with np.errstate(invalid="ignore"):
            aggregate_values = np.nansum(values * encounters, axis=1) / encounters.sum(axis=1)
        aggregate = aggregate_stats(aggregate_values, facet, facet_names)
        self._aggregates[node.id] = (entities, aggregate)
        return ComputedNode(entities, values, facet, facet_names, aggregate)

    def aggregate_of(self, node: NodeSpec) -> tuple[EntitySet, AggregateStats]:
        if node.id not in self._aggregates:
            self.compute(node)
        return self._aggregates[node.id]
