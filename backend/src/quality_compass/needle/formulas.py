"""Numerical rules of Project Needle runs, shared by the generator and the validator.

Every function here implements one formula of ``docs/reference/needle_run_format.md``
(§3.2, §5.3, §7 and §9) and works on numpy arrays so that both sides compute a node in a
few vector operations. NaN stands for a missing value (JSON ``null``) throughout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from quality_compass.needle.vocabulary import NO_SCORE, TIER_LABELS

FloatArray = npt.NDArray[np.float64]

# -- constants from the spec ----------------------------------------------------------

#: ``global_mad`` is the raw median absolute deviation times this factor (§5.2, §5.3).
MAD_SCALE = 1.4826

#: Upper-inclusive tier bounds: the label is the first tier whose bound satisfies v <= bound.
Z_BOUNDS: tuple[float, ...] = (-3.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0)
PERCENTILE_BOUNDS: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0, 60.0, 80.0, 90.0, 95.0)

#: Floors and peer minimums observed in every real run (§5.2).
AGGREGATE_STD_FLOOR = 0.01
TRENDING_STD_FLOOR = 0.05
MAD_FLOOR = 0.01
AGGREGATE_MIN_PEER_COUNT = 15
TRENDING_MIN_PEER_COUNT = 10
#: Slope statistics need at least this many observed periods (§5.4).
MIN_SLOPE_PERIODS = 6


# -- tiers ----------------------------------------------------------------------------


def tier_label(value: float | None, bounds: Sequence[float] = Z_BOUNDS) -> str:
    """The anomaly label of one statistic value (``no_score`` for null/NaN)."""
    if value is None or math.isnan(value):
        return NO_SCORE
    for label, bound in zip(TIER_LABELS, bounds, strict=False):
        if value <= bound:
            return label
    return TIER_LABELS[-1]


def tier_indices(values: FloatArray, bounds: Sequence[float] = Z_BOUNDS) -> npt.NDArray[np.intp]:
    """Vectorised ``tier_label``: index into TIER_LABELS, or -1 for NaN."""
    idx = np.searchsorted(np.asarray(bounds, dtype=np.float64), values, side="left")
    return np.where(np.isnan(values), -1, idx)


# -- descriptive statistics -------------------------------------------------------------


def population_std(values: FloatArray) -> float:
    """Standard deviation with ddof=0 (the engine's ``global_metric_std``)."""
    return float(np.std(values)) if values.size else math.nan


def scaled_mad(values: FloatArray) -> float:
    """1.4826 x median(|x - median(x)|): the engine's ``global_mad`` (already scaled)."""
    if not values.size:
        return math.nan
    med = np.median(values)
    return float(MAD_SCALE * np.median(np.abs(values - med)))


def midpoint_percentiles(values: FloatArray) -> FloatArray:
    """Midpoint percentile rank of every element within ``values``.

    ``100 * (#{x < v} + 0.5 * #{x == v}) / n``; NaN elements get NaN and are not counted.
    """
    out = np.full(values.shape, np.nan)
    ok = ~np.isnan(values)
    present = values[ok]
    n = present.size
    if n == 0:
        return out
    ordered = np.sort(present)
    below = np.searchsorted(ordered, present, side="left")
    upto = np.searchsorted(ordered, present, side="right")
    out[ok] = 100.0 * (below + 0.5 * (upto - below)) / n
    return out


# -- cross-sectional (per period) statistics ------------------------------------------------


def column_moments(matrix: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per column (period): non-null count, mean and population std, ignoring NaN."""
    mask = ~np.isnan(matrix)
    counts = mask.sum(axis=0)
    filled = np.where(mask, matrix, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = filled.sum(axis=0) / counts
        dev = np.where(mask, matrix - means, 0.0)
        stds = np.sqrt((dev * dev).sum(axis=0) / counts)
    return counts, means, stds


def _column_medians(matrix: FloatArray) -> FloatArray:
    """Per column median ignoring NaN (same result as np.median of the non-null cells)."""
    ordered = np.sort(matrix, axis=0)  # NaN sorts last
    counts = (~np.isnan(matrix)).sum(axis=0)
    cols = np.arange(matrix.shape[1])
    low = np.maximum((counts - 1) // 2, 0)
    high = np.maximum(counts // 2, 0)
    with np.errstate(invalid="ignore"):
        medians = (ordered[low, cols] + ordered[high, cols]) / 2.0
    return np.where(counts > 0, medians, np.nan)


def column_median_mad(matrix: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per column: median and 1.4826 x MAD, ignoring NaN (NaN for empty columns)."""
    if matrix.shape[0] == 0:
        empty = np.full(matrix.shape[1], np.nan)
        return empty, empty.copy()
    medians = _column_medians(matrix)
    mads = MAD_SCALE * _column_medians(np.abs(matrix - medians))
    return medians, mads


# -- trends ---------------------------------------------------------------------------


def ols_slopes(matrix: FloatArray, index: FloatArray | None = None) -> FloatArray:
    """OLS slope of each row against its period index, using the observed (non-NaN) cells.

    Rows with fewer than two observations get NaN.
    """
    _rows, cols = matrix.shape
    x = np.arange(cols, dtype=np.float64) if index is None else index
    mask = ~np.isnan(matrix)
    n = mask.sum(axis=1)
    xs = np.where(mask, x, 0.0)
    ys = np.where(mask, matrix, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_mean = xs.sum(axis=1) / n
        y_mean = ys.sum(axis=1) / n
        dx = np.where(mask, x - x_mean[:, None], 0.0)
        dy = np.where(mask, matrix - y_mean[:, None], 0.0)
        sxx = (dx * dx).sum(axis=1)
        sxy = (dx * dy).sum(axis=1)
        slope = sxy / sxx
    return np.where((n >= 2) & (sxx > 0), slope, np.nan)


def accelerations(matrix: FloatArray) -> FloatArray:
    """Second-half slope minus first-half slope; NaN unless the row is complete.

    The halves are ``[0, T//2)`` and ``[T//2, T)``; each needs two points, so T >= 4.
    """
    rows, cols = matrix.shape
    out = np.full(rows, np.nan)
    if cols < 4:
        return out
    half = cols // 2
    complete = ~np.isnan(matrix).any(axis=1)
    first = ols_slopes(matrix[:, :half], np.arange(half, dtype=np.float64))
    second = ols_slopes(matrix[:, half:], np.arange(half, cols, dtype=np.float64))
    out[complete] = (second - first)[complete]
    return out


def end_start_deltas(matrix: FloatArray) -> FloatArray:
    """Mean of the last two observed values minus mean of the first two (NaN if < 4 observed)."""
    out = np.full(matrix.shape[0], np.nan)
    complete: npt.NDArray[np.bool_] = np.zeros(matrix.shape[0], dtype=bool)
    if matrix.shape[1] >= 4:
        complete = np.asarray(~np.isnan(matrix).any(axis=1), dtype=bool)
        m = matrix[complete]
        out[complete] = (m[:, -1] + m[:, -2]) / 2.0 - (m[:, 0] + m[:, 1]) / 2.0
    for i in np.nonzero(~complete)[0].tolist():
        obs = matrix[i][~np.isnan(matrix[i])]
        if obs.size >= 4:
            out[i] = (obs[-1] + obs[-2]) / 2.0 - (obs[0] + obs[1]) / 2.0
    return out


def numpy_percentiles(matrix: FloatArray, q: Sequence[float]) -> FloatArray:
    """``np.percentile`` (linear) per column over non-null values; shape (len(q), T)."""
    out = np.full((len(q), matrix.shape[1]), np.nan)
    for t in range(matrix.shape[1]):
        col = matrix[:, t]
        col = col[~np.isnan(col)]
        if col.size:
            out[:, t] = np.percentile(col, q)
    return out
