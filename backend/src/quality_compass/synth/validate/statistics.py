"""The validator's own statistics, written apart from the generator's.

The generator computes a run's statistics with ``needle.formulas`` (hand-vectorised numpy:
sort tricks for medians, searchsorted for percentile ranks, masked sums for OLS). If the
validator used the same functions, a bug there would produce wrong runs that validate. So
the validator recomputes with different code: plain Python with ``math.fsum`` and sorted
lists for a group's mean, std, median and MAD, tie-averaged ranks for percentile ranks,
``bisect`` for tiers, numpy's own NaN-aware reductions (``nanmean``, ``nanstd``,
``nanmedian``, ``nanpercentile``) for the per-period columns, and centred least squares for
slopes. Only the spec's constants (tier bounds, the MAD scale, floors) come from
``needle.formulas``: they are facts of the format, checked against the spec's text in
``tests/test_statistics.py``, which also checks both implementations against numpy/scipy.
NaN stands for a missing value (JSON ``null``) throughout.
"""

from __future__ import annotations

import bisect
import math
import statistics
import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from quality_compass.needle.formulas import MAD_SCALE
from quality_compass.needle.vocabulary import NO_SCORE, TIER_LABELS

FloatArray = npt.NDArray[np.float64]


def tier_label(value: float | None, bounds: Sequence[float]) -> str:
    """The 9-tier label of a statistic: the first tier whose (upper-inclusive) bound is
    >= the value, the last tier beyond every bound; ``no_score`` for null/NaN."""
    if value is None or math.isnan(value):
        return NO_SCORE
    return TIER_LABELS[bisect.bisect_left(list(bounds), value)]


def _present(values: FloatArray | Sequence[float]) -> list[float]:
    return [float(v) for v in values if not math.isnan(v)]


def mean(values: FloatArray | Sequence[float]) -> float:
    """Mean of the non-null values (NaN when there are none)."""
    present = _present(values)
    return math.fsum(present) / len(present) if present else math.nan


def population_std(values: FloatArray | Sequence[float]) -> float:
    """Standard deviation with ddof=0 of the non-null values (two passes, exact sums)."""
    present = _present(values)
    if not present:
        return math.nan
    centre = math.fsum(present) / len(present)
    return math.sqrt(math.fsum((v - centre) ** 2 for v in present) / len(present))


def median(values: FloatArray | Sequence[float]) -> float:
    present = _present(values)
    return float(statistics.median(present)) if present else math.nan


def scaled_mad(values: FloatArray | Sequence[float]) -> float:
    """1.4826 x the median absolute deviation from the median (the engine's global_mad)."""
    present = _present(values)
    if not present:
        return math.nan
    centre = statistics.median(present)
    return MAD_SCALE * float(statistics.median(abs(v - centre) for v in present))


def midpoint_percentiles(values: FloatArray | Sequence[float]) -> FloatArray:
    """Each element's midpoint percentile rank among the non-null elements,
    ``100 * (#{x < v} + 0.5 * #{x == v}) / n``, computed as ``100 * (average rank - 0.5) / n``
    with ties sharing their average rank; NaN elements stay NaN."""
    data = [float(v) for v in values]
    out = np.full(len(data), np.nan)
    order = sorted((v, i) for i, v in enumerate(data) if not math.isnan(v))
    count = len(order)
    start = 0
    while start < count:
        end = start
        while end + 1 < count and order[end + 1][0] == order[start][0]:
            end += 1
        average_rank = (start + 1 + end + 1) / 2  # ranks are 1-based
        for _, index in order[start : end + 1]:
            out[index] = 100.0 * (average_rank - 0.5) / count
        start = end + 1
    return out


def column_moments(matrix: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per column (period): non-null count, mean and population std, ignoring NaN."""
    counts = np.count_nonzero(~np.isnan(matrix), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(matrix, axis=0)
        stds = np.nanstd(matrix, axis=0, ddof=0)
    return counts, means, stds


def column_median_mad(matrix: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per column: median and 1.4826 x MAD, ignoring NaN (NaN for empty columns)."""
    if matrix.shape[0] == 0:
        empty = np.full(matrix.shape[1], np.nan)
        return empty, empty.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.nanmedian(matrix, axis=0)
        mads = MAD_SCALE * np.nanmedian(np.abs(matrix - medians), axis=0)
    return medians, mads


def column_percentiles(matrix: FloatArray, q: Sequence[float]) -> FloatArray:
    """Linear-interpolation percentiles per column over the non-null values; shape
    (len(q), columns), NaN for empty columns."""
    out = np.full((len(q), matrix.shape[1]), np.nan)
    filled = ~np.all(np.isnan(matrix), axis=0)
    if filled.any():
        out[:, filled] = np.nanpercentile(matrix[:, filled], list(q), axis=0)
    return out


def ols_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of y on x over the pairs whose y is not null (NaN with fewer
    than two such points or no spread in x): sum((x - mean x) y) / sum((x - mean x)^2)."""
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if not math.isnan(y)]
    if len(pairs) < 2:
        return math.nan
    centre = math.fsum(x for x, _ in pairs) / len(pairs)
    spread = math.fsum((x - centre) ** 2 for x, _ in pairs)
    if spread == 0:
        return math.nan
    return math.fsum((x - centre) * y for x, y in pairs) / spread


def ols_slopes(matrix: FloatArray) -> FloatArray:
    """Each row's slope against its period index 0, 1, ... (``ols_slope``)."""
    index = list(range(matrix.shape[1]))
    return np.array([ols_slope(index, row) for row in matrix.tolist()], dtype=np.float64)


def accelerations(matrix: FloatArray) -> FloatArray:
    """Slope over the second half of the periods minus slope over the first half, for
    complete rows (NaN otherwise, or with fewer than 4 periods). The halves are the first
    ``T // 2`` periods and the rest, each against its own period indices."""
    periods = matrix.shape[1]
    half = periods // 2
    out: list[float] = []
    for row in matrix.tolist():
        if periods < 4 or any(math.isnan(v) for v in row):
            out.append(math.nan)
            continue
        first = ols_slope(list(range(half)), row[:half])
        second = ols_slope(list(range(half, periods)), row[half:])
        out.append(second - first)
    return np.array(out, dtype=np.float64)
