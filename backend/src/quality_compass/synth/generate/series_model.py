"""The data of a later run of a series: the same universe, one month further on per run.

A series (``qc generate --series N``) is N runs of one graph, one month apart. Its first
run is exactly the single run of the same options. Run k (0-based) covers the months
``[k, k + T)`` of the series' timeline, where months ``0 .. T-1`` are the first run's:

* **Overlapping months are the same data.** Months ``T, T+1, ...`` are drawn from streams
  keyed by the month (``(seed, "series-...", names..., month)``), each from the per-entity
  terms of the first run (volume profile, level, slope, curvature, noise), so every run
  that covers a month shows the same encounters and values for it, whatever N.
* **Values evolve.** Each facility keeps its planted trend (the first run's slope; the
  curvature stops growing after the first run's months) and drifts: a random walk of its
  level (sd 0.05 spreads a month), and in every new month a share of facilities
  (``turn_share``) turns: it starts improving or deteriorating by 0.10-0.20 spreads a month
  until it turns again. Segments follow 0.8 of their facility's drift. New months get
  one-month spikes at ``spike_share / T`` per entity and month.
* **Facilities miss runs.** From the second run on, ``absent_share`` of the facilities
  (at least one) are absent from each run, drawn per run: a facility that missed the
  submission deadline, whose data arrive in time for the next run. An absent facility has
  no entity in any node, so its signals are resolved, and new again when it is back.
* **No empty windows.** A gappy segment observes a new month at its first run's rate; a
  month that would leave the last T months without an observation is observed.

So between two runs signals appear (a facility back, a facet reaching the minimum peer
count), persist, escalate, de-escalate, change type (the window moves, facilities drift
and turn) and vanish (an absent facility, a facet falling below the minimum).
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from quality_compass.synth.generate.entities import EntitySet, VolumeProfile
from quality_compass.synth.generate.metric_model import EntityValues, metric_scale
from quality_compass.synth.generate.universe import (
    BoolArray,
    FloatArray,
    IntArray,
    Universe,
    random_stream,
)

ArrayT = TypeVar("ArrayT", bound=npt.NDArray[Any])

#: Random walk of a facility's level per month, and the size of a turn (spreads a month).
DRIFT_WALK_SD = 0.05
TURN_SLOPE = (0.10, 0.20)
#: Segments follow this share of their facility's drift (as of its planted slope).
SEGMENT_DRIFT = 0.8


def absent_facilities(universe: Universe, step: int) -> BoolArray:
    """The facilities missing from run ``step`` of a series (none in the first run)."""
    absent = np.zeros(universe.n, dtype=bool)
    share = universe.knobs.absent_share
    if step == 0 or universe.n < 2 or share <= 0.0:
        return absent
    count = min(universe.n - 1, max(1, round(share * universe.n)))
    rng = random_stream(universe.seed, "series-absent", str(step))
    absent[rng.choice(universe.n, size=count, replace=False)] = True
    return absent


def facility_drift(universe: Universe, metric_id: str, step: int) -> FloatArray:
    """(n, step): each facility's drift in the months after the first run's (see above)."""
    n, months = universe.n, universe.months
    turn_slope = np.zeros(n)
    level = np.zeros(n)
    drift = np.zeros((n, step))
    for column, month in enumerate(range(months, months + step)):
        rng = random_stream(universe.seed, "series-drift", metric_id, str(month))
        turning = rng.random(n) < universe.knobs.turn_share
        direction = np.where(rng.random(n) < 0.5, 1.0, -1.0)
        size = rng.uniform(*TURN_SLOPE, n)
        turn_slope = np.where(turning, direction * size, turn_slope)
        level = level + turn_slope + rng.normal(0.0, DRIFT_WALK_SD, n)
        drift[:, column] = level
    return drift


def extend_volumes(universe: Universe, entities: EntitySet, step: int) -> EntitySet:
    """The entity set over the first run's months and the ``step`` months after them."""
    profile = entities.profile
    assert profile is not None, "a series extends the entity sets build_entities makes"
    size, months = entities.size, universe.months
    total = months + step
    encounters = _widen(entities.encounters, total)
    observed = _widen(entities.observed, total)
    expected = _widen(entities.expected_days, total)
    observed_days = _widen(entities.observed_days, total)
    unique = _widen(entities.unique_patients, total)
    outliers = _widen(entities.los_outliers, total)
    for month in range(months, total):
        rng = random_stream(universe.seed, "series-volumes", entities.set_id, str(month))
        seen = cast(BoolArray, observed[:, month - months + 1 : month].any(axis=1))
        (
            encounters[:, month], observed[:, month], expected[:, month],
            observed_days[:, month], unique[:, month], outliers[:, month],
        ) = _month_volumes(rng, profile, size, months, seen)  # fmt: skip
    return EntitySet(
        entities.set_id, entities.dims, entities.facility, entities.codes, entities.keys,
        encounters, observed, entities.gappy, expected, observed_days, unique, outliers,
        entity_json=entities.entity_json, key_json=entities.key_json, labels=entities.labels,
        facility_meta=entities.facility_meta, profile=profile,
    )  # fmt: skip


def _widen(array: ArrayT, total: int) -> ArrayT:
    """``array`` (E, T) with columns up to ``total``, to be filled."""
    extra = np.zeros((array.shape[0], total - array.shape[1]), dtype=array.dtype)
    return cast(ArrayT, np.concatenate([array, extra], axis=1))


def _month_volumes(
    rng: np.random.Generator,
    profile: VolumeProfile,
    size: int,
    months: int,
    seen: BoolArray,
) -> tuple[IntArray, BoolArray, FloatArray, FloatArray, IntArray, IntArray]:
    """One new month of every entity (as ``entities._volumes`` draws a month); ``seen``:
    whether the entity has an observation in the other months of the window ending here."""
    weight = rng.gamma(20.0, size=size) / (20.0 * months)
    observed = (rng.random(size) < profile.observed_rate) | ~seen
    encounters = np.where(observed, np.maximum(1, np.rint(profile.annual * weight)), 0)
    expected = profile.expected_days + rng.normal(0.0, 0.35, size)
    observed_days = expected * profile.days_ratio * rng.normal(1.0, 0.06, size)
    unique = np.maximum(1, np.floor(encounters * rng.uniform(0.86, 0.97, size)))
    outliers = rng.binomial(encounters.astype(np.int64), 0.002)
    return (
        encounters.astype(np.int64),
        observed,
        np.where(observed, expected, np.nan),
        np.where(observed, observed_days, np.nan),
        np.where(observed, unique, 0).astype(np.int64),
        np.where(observed, outliers, 0).astype(np.int64),
    )


def extend_values(
    universe: Universe,
    extended: EntitySet,
    metric_id: str,
    first: EntityValues,
    drift: FloatArray,
) -> FloatArray:
    """(E, T + step): the first run's values, then the model continued month by month."""
    months = universe.months
    step = drift.shape[1]
    mean, spread = metric_scale(metric_id)
    t_first = np.arange(months, dtype=np.float64) - (months - 1) / 2.0
    t_last, mean_t2 = t_first[-1], float((t_first * t_first).mean())
    scale = 1.0 if len(extended.dims) == 1 else SEGMENT_DRIFT
    size = extended.size
    columns = [first.values]
    for column, month in enumerate(range(months, months + step)):
        rng = random_stream(universe.seed, "series-values", metric_id, extended.set_id, str(month))
        t = month - (months - 1) / 2.0
        x = (
            first.level
            + first.slope * t
            + first.curve * (t_last * t_last - mean_t2)
            + scale * drift[extended.facility, column]
            + first.noise_sd * rng.standard_normal(size)
        )
        spike = rng.random(size) < universe.knobs.spike_share / months
        sign = np.where(rng.random(size) < 0.7, 1.0, -1.0)
        x += spike * sign * rng.uniform(4.0, 6.0, size)
        values = np.maximum(mean + spread * x, mean * 0.02)
        columns.append(np.where(extended.observed[:, month], values, np.nan)[:, None])
    return np.concatenate(columns, axis=1)


class SeriesStep:
    """The entities and values of run ``step`` (> 0) of a series, per entity set."""

    def __init__(self, universe: Universe, step: int) -> None:
        self.universe = universe
        self.step = step
        self.absent = absent_facilities(universe, step)
        self.window = slice(step, step + universe.months)
        self._extended: dict[str, EntitySet] = {}
        self._drift: dict[str, FloatArray] = {}

    def extended(self, first: EntitySet) -> EntitySet:
        if first.set_id not in self._extended:
            self._extended[first.set_id] = extend_volumes(self.universe, first, self.step)
        return self._extended[first.set_id]

    def rows(self, first: EntitySet) -> IntArray:
        """The entities of the run: those of the facilities present."""
        return np.nonzero(~self.absent[first.facility])[0].astype(np.int64)

    def entities(self, first: EntitySet) -> EntitySet:
        """The run's entities (present facilities) over the run's months."""
        return self.extended(first).window(self.rows(first), self.window)

    def values(self, first: EntitySet, metric_id: str, first_values: EntityValues) -> FloatArray:
        """The run's monthly values (rows and months as ``entities``)."""
        if metric_id not in self._drift:
            self._drift[metric_id] = facility_drift(self.universe, metric_id, self.step)
        extended = self.extended(first)
        values = extend_values(
            self.universe, extended, metric_id, first_values, self._drift[metric_id]
        )
        return values[self.rows(first)][:, self.window]
