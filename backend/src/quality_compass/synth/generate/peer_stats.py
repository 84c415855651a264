"""Peer statistics of a node, per facet (peer group): the formulas of §5 applied.

``aggregate_stats`` gives every entity its simple and robust z-score, peer mean/std and
percentile; ``trend_stats`` the per-period z-scores, their means, slopes and percentiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from quality_compass.needle.formulas import (
    AGGREGATE_MIN_PEER_COUNT,
    AGGREGATE_STD_FLOOR,
    MAD_FLOOR,
    MIN_SLOPE_PERIODS,
    TRENDING_MIN_PEER_COUNT,
    TRENDING_STD_FLOOR,
    accelerations,
    column_median_mad,
    column_moments,
    end_start_deltas,
    midpoint_percentiles,
    numpy_percentiles,
    ols_slopes,
    population_std,
    scaled_mad,
)
from quality_compass.synth.generate.universe import BoolArray, FloatArray, IntArray


@dataclass
class FacetStats:
    """One facet's numbers, as the node header reports them."""

    values: tuple[str, ...]
    entity_count: int
    record_count: int
    with_stats: int
    mean: float
    std: float
    median: float
    mad: float


@dataclass
class AggregateStats:
    """Per entity of an aggregate node (arrays of length E), plus the facets."""

    value: FloatArray
    simple: FloatArray
    robust: FloatArray
    peer_mean: FloatArray
    peer_std: FloatArray
    percentile: FloatArray
    peer_count: IntArray
    suppressed: BoolArray
    facets: list[FacetStats]


@dataclass
class TrendStats:
    """Per entity of a temporal node (length E, or (E, T) for per-period arrays)."""

    simple_z: FloatArray  # (E, T)
    robust_z: FloatArray
    mean_simple_z: FloatArray
    mean_robust_z: FloatArray
    latest_simple_z: FloatArray
    latest_robust_z: FloatArray
    simple_percentile: FloatArray
    robust_percentile: FloatArray
    peer_median: FloatArray
    peer_mad: FloatArray
    suppressed: BoolArray
    observations: IntArray
    slope: FloatArray
    acceleration: FloatArray
    end_start_delta: FloatArray
    slope_percentile: FloatArray
    slope_suppressed: BoolArray
    facets: list[FacetStats]
    record_count: int
    period_percentiles: FloatArray  # (5, T)
    sample_sizes: IntArray


def _facet_groups(facet: IntArray, count: int) -> list[IntArray]:
    order = np.argsort(facet, kind="stable")
    bounds = np.searchsorted(facet[order], np.arange(count + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(count)]


def aggregate_stats(
    values: FloatArray, facet: IntArray, facet_names: list[tuple[str, ...]]
) -> AggregateStats:
    size = values.size
    out = AggregateStats(
        value=values,
        simple=np.full(size, np.nan),
        robust=np.full(size, np.nan),
        peer_mean=np.full(size, np.nan),
        peer_std=np.full(size, np.nan),
        percentile=np.full(size, np.nan),
        peer_count=np.zeros(size, dtype=np.int64),
        suppressed=np.zeros(size, dtype=bool),
        facets=[],
    )
    for name, rows in zip(facet_names, _facet_groups(facet, len(facet_names)), strict=True):
        x = values[rows]
        mean = float(np.mean(x))
        std = population_std(x)
        median = float(np.median(x))
        mad = scaled_mad(x)
        count = int(rows.size)
        suppressed = count < AGGREGATE_MIN_PEER_COUNT
        out.peer_count[rows] = count
        out.facets.append(
            FacetStats(name, count, count, 0 if suppressed else count, mean, std, median, mad)
        )
        if suppressed:
            out.suppressed[rows] = True
            continue
        out.simple[rows] = (x - mean) / max(std, AGGREGATE_STD_FLOOR)
        out.robust[rows] = (x - median) / max(mad, MAD_FLOOR)
        out.peer_mean[rows] = mean
        out.peer_std[rows] = std
        out.percentile[rows] = midpoint_percentiles(x)
    return out


def trend_stats(
    values: FloatArray, facet: IntArray, facet_names: list[tuple[str, ...]]
) -> TrendStats:
    out = _empty_trend_stats(values)
    slope = ols_slopes(values)
    accel = accelerations(values)
    delta = end_start_deltas(values)
    ok = ~out.slope_suppressed
    out.slope[ok] = slope[ok]
    out.acceleration[ok] = accel[ok]
    out.end_start_delta[ok] = delta[ok]
    for name, rows in zip(facet_names, _facet_groups(facet, len(facet_names)), strict=True):
        _facet_trends(out, values[rows], rows, name, ok)
    out.period_percentiles = numpy_percentiles(values, [10, 25, 50, 75, 90])
    return out


def _empty_trend_stats(values: FloatArray) -> TrendStats:
    size, months = values.shape
    nan = np.full(size, np.nan)
    observed = ~np.isnan(values)
    obs_count = observed.sum(axis=1).astype(np.int64)
    return TrendStats(
        simple_z=np.full((size, months), np.nan),
        robust_z=np.full((size, months), np.nan),
        mean_simple_z=nan.copy(),
        mean_robust_z=nan.copy(),
        latest_simple_z=nan.copy(),
        latest_robust_z=nan.copy(),
        simple_percentile=nan.copy(),
        robust_percentile=nan.copy(),
        peer_median=nan.copy(),
        peer_mad=nan.copy(),
        suppressed=np.zeros(size, dtype=bool),
        observations=obs_count,
        slope=nan.copy(),
        acceleration=nan.copy(),
        end_start_delta=nan.copy(),
        slope_percentile=nan.copy(),
        slope_suppressed=obs_count < MIN_SLOPE_PERIODS,
        facets=[],
        record_count=int(observed.sum()),
        period_percentiles=np.full((5, months), np.nan),
        sample_sizes=observed.sum(axis=0).astype(np.int64),
    )


def _facet_trends(
    out: TrendStats,
    sub: FloatArray,
    rows: IntArray,
    name: tuple[str, ...],
    ok: BoolArray,
) -> None:
    """The statistics of one facet's entities (``rows``; their values ``sub``) into ``out``."""
    flat = sub[~np.isnan(sub)]
    records = int(flat.size)
    suppressed = records < TRENDING_MIN_PEER_COUNT
    out.facets.append(
        FacetStats(
            name,
            int(rows.size),
            records,
            0 if suppressed else int(rows.size),
            float(np.mean(flat)) if records else math.nan,
            population_std(flat),
            float(np.median(flat)) if records else math.nan,
            scaled_mad(flat),
        )
    )
    slope_rows = rows[ok[rows]]
    out.slope_percentile[slope_rows] = midpoint_percentiles(out.slope[slope_rows])
    if suppressed:
        out.suppressed[rows] = True
        return
    _, means, stds = column_moments(sub)
    medians, mads = column_median_mad(sub)
    with np.errstate(invalid="ignore"):
        simple_z = (sub - means) / np.maximum(stds, TRENDING_STD_FLOOR)
        robust_z = (sub - medians) / np.maximum(mads, MAD_FLOOR)
    out.simple_z[rows] = simple_z
    out.robust_z[rows] = robust_z
    with np.errstate(invalid="ignore"):
        mean_simple = np.nanmean(simple_z, axis=1)
        mean_robust = np.nanmean(robust_z, axis=1)
    out.mean_simple_z[rows] = mean_simple
    out.mean_robust_z[rows] = mean_robust
    out.latest_simple_z[rows] = simple_z[:, -1]
    out.latest_robust_z[rows] = robust_z[:, -1]
    out.simple_percentile[rows] = midpoint_percentiles(mean_simple)
    out.robust_percentile[rows] = midpoint_percentiles(mean_robust)
    out.peer_median[rows] = medians[-1]
    out.peer_mad[rows] = mads[-1]
