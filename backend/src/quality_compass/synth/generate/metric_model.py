"""Monthly metric values of one entity set: a small random-effects model.

value = mean + spread x (facility level + segment effect + entity effect + trend +
curvature + noise), with planted outliers, trends and one-month spikes (the knobs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quality_compass.synth.generate.entities import EntitySet
from quality_compass.synth.generate.universe import FloatArray, Universe, random_stream

#: (mean, spread) of each metric's values; other metrics use (10, 2).
METRIC_SCALES: dict[str, tuple[float, float]] = {
    "losIndex": (1.08, 0.16),
    "losMeanExpectedDays": (6.8, 0.9),
    "losMeanObservedDays": (6.6, 1.0),
    "losVarianceDays": (22.0, 6.0),
    "meanIcuDaysIcuFile": (3.6, 0.8),
    "pctAllReturnsToIcu": (4.5, 1.2),
    "pctIcuEncountersIcuFile": (14.0, 4.0),
    "icuCasesFromIcuFile": (55.0, 18.0),
}


@dataclass
class FacilityEffects:
    level: FloatArray
    slope: FloatArray
    curve: FloatArray


def facility_effects(universe: Universe, metric_id: str) -> FacilityEffects:
    rng = random_stream(universe.seed, "facility-effects", metric_id)
    n = universe.n
    level = rng.normal(0.0, 0.55, n)
    sign = np.where(rng.random(n) < 0.6, 1.0, -1.0)
    level += universe.outlier_flag * sign * rng.uniform(2.0, 3.0, n)
    tsign = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    slope = rng.normal(0.0, 0.015, n) + universe.trend_flag * tsign * rng.uniform(0.08, 0.16, n)
    csign = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    curve = universe.curve_flag * csign * rng.uniform(0.004, 0.012, n)
    return FacilityEffects(level, slope, curve)


@dataclass
class EntityValues:
    """Monthly values (E, T) of one metric for one entity set, NaN where unobserved, and
    the per-entity terms of the model they were drawn from (a series continues them)."""

    values: FloatArray
    level: FloatArray
    slope: FloatArray
    curve: FloatArray
    noise_sd: FloatArray


def metric_scale(metric_id: str) -> tuple[float, float]:
    """(mean, spread) of a metric's values."""
    return METRIC_SCALES.get(metric_id, (10.0, 2.0))


def metric_values(
    universe: Universe, entities: EntitySet, metric_id: str, effects: FacilityEffects
) -> EntityValues:
    """Monthly values (E, T) of one metric for one entity set; NaN where unobserved."""
    rng = random_stream(universe.seed, "values", metric_id, entities.set_id)
    size, months = entities.size, universe.months
    mean, spread = metric_scale(metric_id)
    facility = entities.facility
    if len(entities.dims) == 1:
        level = effects.level[facility].copy()
        slope = effects.slope[facility].copy()
        curve = effects.curve[facility].copy()
    else:
        level = 0.7 * effects.level[facility] + rng.normal(0.0, 0.35, size)
        for dim, codes in zip(entities.dims[1:], entities.codes, strict=True):
            code_effect = random_stream(universe.seed, "code-effects", metric_id, dim).normal(
                0.0, 0.3, len(universe.codes(dim))
            )
            level += code_effect[codes]
        slope = 0.8 * effects.slope[facility] + rng.normal(0.0, 0.02, size)
        curve = 0.8 * effects.curve[facility]
    monthly_mean = np.maximum(
        entities.encounters.sum(axis=1) / np.maximum(entities.observed.sum(axis=1), 1), 1
    )
    noise_sd = np.clip(0.55 * (2500.0 / monthly_mean) ** 0.25, 0.4, 1.4)
    t = np.arange(months, dtype=np.float64) - (months - 1) / 2.0
    t2 = t * t - (t * t).mean()
    x = (
        level[:, None]
        + slope[:, None] * t[None, :]
        + curve[:, None] * t2[None, :]
        + noise_sd[:, None] * rng.standard_normal((size, months))
    )
    spikes = rng.random(size) < universe.knobs.spike_share
    if spikes.any():
        rows = np.nonzero(spikes)[0]
        cols = rng.integers(0, months, size=rows.size)
        x[rows, cols] += np.where(rng.random(rows.size) < 0.7, 1.0, -1.0) * rng.uniform(
            4.0, 6.0, rows.size
        )
    values = np.maximum(mean + spread * x, mean * 0.02)
    return EntityValues(np.where(entities.observed, values, np.nan), level, slope, curve, noise_sd)
