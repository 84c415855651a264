"""§9.3 Temporal statistics, recomputed per facet of a monthly node (rules 16-20).

Per facet: the header's statistics over all entity x period values, every entity's
per-period z-scores against the period's peers, its slope, acceleration, percentile
ranks and peer median/MAD; then the node's ``percentile_trends`` over all facets. Also
fills each entity's twin with the spread and peak of its per-period z-scores (§7).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from quality_compass.synth.validate import statistics
from quality_compass.synth.validate.check_numbers import as_float, close, shown
from quality_compass.synth.validate.node_context import NodeContext
from quality_compass.synth.validate.state import FacetRows
from quality_compass.synth.validate.statistics import FloatArray

PERCENTILE_NAMES = ("p10", "p25", "p50", "p75", "p90")
_FORMULAS = {
    "simple": "(v - period mean)/max(period std, std_floor)",
    "robust": "(v - period median)/max(1.4826*period MAD, mad_floor)",
}


@dataclass(frozen=True)
class _Expected:
    """What a facet's entities should hold, recomputed from its (entities x periods) values."""

    simple_z: FloatArray
    robust_z: FloatArray
    medians: FloatArray
    mads: FloatArray
    slope: FloatArray
    acceleration: FloatArray
    simple_percentile: FloatArray
    robust_percentile: FloatArray
    slope_percentile: FloatArray

    @classmethod
    def of(
        cls,
        matrix: FloatArray,
        rows: list[dict[str, Any]],
        simple_header: dict[str, Any],
        robust_header: dict[str, Any],
    ) -> _Expected:
        std_floor = as_float(simple_header.get("std_floor"))
        std_floor = 0.0 if math.isnan(std_floor) else std_floor
        mad_floor = as_float(robust_header.get("mad_floor"))
        mad_floor = 0.0 if math.isnan(mad_floor) else mad_floor
        _, means, stds = statistics.column_moments(matrix)
        medians, mads = statistics.column_median_mad(matrix)
        with np.errstate(invalid="ignore", divide="ignore"):
            simple_z = (matrix - means) / np.maximum(stds, std_floor)
            robust_z = (matrix - medians) / np.maximum(mads, mad_floor)
        return cls(
            simple_z=simple_z,
            robust_z=robust_z,
            medians=medians,
            mads=mads,
            slope=statistics.ols_slopes(matrix),
            acceleration=statistics.accelerations(matrix),
            simple_percentile=statistics.midpoint_percentiles([r["mean_s"] for r in rows]),
            robust_percentile=statistics.midpoint_percentiles([r["mean_r"] for r in rows]),
            slope_percentile=statistics.midpoint_percentiles([r["slope"] for r in rows]),
        )


def check_temporal_facets(node: NodeContext) -> None:
    simple_h = node.facets.get("trending_simple_zscore", {})
    robust_h = node.facets.get("trending_robust_zscore", {})
    counts_h = node.header_counts.get("trending_simple_zscore", {})
    all_values: list[list[float]] = []
    for facet_key, group in node.groups.items():
        label = node.facet_label(facet_key)
        simple_header = simple_h.get(facet_key)
        robust_header = robust_h.get(facet_key)
        if simple_header is None or robust_header is None:
            node.err("9.3-16", 1, f"no header facet for facet_values {label}")
            continue
        width = len(node.periods)
        rows_ok = [i for i, v in enumerate(group.values) if len(v) == width]
        if not rows_ok:
            continue
        matrix = np.array([group.values[i] for i in rows_ok], dtype=np.float64)
        all_values.extend(group.values[i] for i in rows_ok)
        _check_facet(
            node, label, group, matrix, counts_h.get(facet_key) or {}, simple_header, robust_header
        )
        rows = [group.rows[i] for i in rows_ok]
        expected = _Expected.of(matrix, rows, simple_header, robust_header)
        fill_twins(rows, width)
        for j, row in enumerate(rows):
            line = group.lines[rows_ok[j]]
            _check_entity(node, expected, j, line, row, width)
            _check_null_pattern(node, line, row, group.values[rows_ok[j]], width)
    check_percentile_trends(node, all_values)


def _check_facet(
    node: NodeContext,
    label: str,
    group: FacetRows,
    matrix: FloatArray,
    count_h: dict[str, Any],
    simple_header: dict[str, Any],
    robust_header: dict[str, Any],
) -> None:
    """The header's counts and statistics against all entity x period values of the facet."""
    exact = node.single
    flat = matrix[~np.isnan(matrix)]
    if count_h.get("entity_count") != len(group.values):
        node.error_or_warning(
            exact,
            "9.3-16",
            1,
            f"facet {label}: entity_count {count_h.get('entity_count')} != {len(group.values)} entities",
        )
    if count_h.get("record_count") is not None and count_h.get("record_count") != int(flat.size):
        node.warn(
            "9.3-16",
            1,
            f"facet {label}: record_count {count_h.get('record_count')} != {flat.size} observed values",
        )
    if not flat.size:
        return
    checks = (
        ("global_metric_mean", simple_header.get("global_metric_mean"), statistics.mean(flat)),
        (
            "global_metric_std",
            simple_header.get("global_metric_std"),
            statistics.population_std(flat),
        ),
        (
            "global_metric_median",
            robust_header.get("global_metric_median"),
            statistics.median(flat),
        ),
        ("global_mad", robust_header.get("global_mad"), statistics.scaled_mad(flat)),
    )
    for name, got, want in checks:
        if got is not None and not close(as_float(got), want):
            node.error_or_warning(
                exact,
                "9.3-16",
                1,
                f"facet {label}: {name} {shown(got)} != over all entity x period values = {shown(want)}",
            )


def _check_entity(
    node: NodeContext, expected: _Expected, j: int, line: int, row: dict[str, Any], width: int
) -> None:
    """Entity ``j`` of the facet against the recomputed values."""
    exact = node.single
    for kind, got_arr, want_arr, sup in (
        ("simple", row["zs"], expected.simple_z[j], row["ts_sup"]),
        ("robust", row["zr"], expected.robust_z[j], row["tr_sup"]),
    ):
        if sup or got_arr is None or len(got_arr) != width:
            continue
        for t, (got, want) in enumerate(zip(got_arr, want_arr.tolist(), strict=True)):
            if not close(got, want):
                node.error_or_warning(
                    exact,
                    "9.3-16",
                    line,
                    f"per_period_{kind}_zscores[{t}] {shown(got)} != {_FORMULAS[kind]} = {shown(want)}",
                )
                break
    _check_slope(node, expected, j, line, row)
    _check_percentiles(node, expected, j, line, row)
    if not row["tr_sup"] and width:
        if not close(row["peer_median"], expected.medians[-1]):
            node.error_or_warning(
                exact,
                "9.3-17",
                line,
                f"peer_median {shown(row['peer_median'])} != latest period median = {shown(expected.medians[-1])}",
            )
        if not close(row["peer_mad"], expected.mads[-1]):
            node.error_or_warning(
                exact,
                "9.3-17",
                line,
                f"peer_mad {shown(row['peer_mad'])} != latest period 1.4826*MAD = {shown(expected.mads[-1])}",
            )


def _check_slope(
    node: NodeContext, expected: _Expected, j: int, line: int, row: dict[str, Any]
) -> None:
    slope_want, accel_want = expected.slope[j], expected.acceleration[j]
    if not math.isnan(row["slope"]) and not close(row["slope"], slope_want):
        node.err(
            "9.3-19",
            line,
            f"slope {shown(row['slope'])} != OLS(value ~ period index) = {shown(slope_want)}",
        )
    if (
        not math.isnan(row["accel"])
        and not math.isnan(accel_want)
        and not close(row["accel"], accel_want)
    ):
        node.err(
            "9.3-19",
            line,
            f"acceleration {shown(row['accel'])} != slope(2nd half) - slope(1st half) = {shown(accel_want)}",
        )


def _check_percentiles(
    node: NodeContext, expected: _Expected, j: int, line: int, row: dict[str, Any]
) -> None:
    exact = node.single
    simple, robust = expected.simple_percentile[j], expected.robust_percentile[j]
    if not row["ts_sup"] and not close(row["pr_s"], simple):
        node.error_or_warning(
            exact,
            "9.3-18",
            line,
            f"trending simple percentile_rank {shown(row['pr_s'])} != midpoint percentile of mean_simple_zscore = {shown(simple)}",
        )
    if not row["tr_sup"] and not close(row["pr_r"], robust):
        node.error_or_warning(
            exact,
            "9.3-18",
            line,
            f"trending robust percentile_rank {shown(row['pr_r'])} != midpoint percentile of mean_robust_zscore = {shown(robust)}",
        )
    slope = expected.slope_percentile[j]
    if not math.isnan(row["slope"]) and not close(row["slope_pr"], slope):
        node.error_or_warning(
            exact,
            "9.3-19",
            line,
            f"slope percentile_rank {shown(row['slope_pr'])} != midpoint percentile of slope = {shown(slope)}",
        )


def _check_null_pattern(
    node: NodeContext, line: int, row: dict[str, Any], values: list[float], width: int
) -> None:
    """16: a per-period simple z is null exactly where the timeline value is null."""
    if row["ts_sup"] or row["zs"] is None or len(row["zs"]) != width:
        return
    for t in range(width):
        if math.isnan(values[t]) != math.isnan(row["zs"][t]):
            node.err(
                "9.3-16",
                line,
                f"per_period_simple_zscores[{t}] must be null exactly where the timeline value is null",
            )
            break


def fill_twins(rows: list[dict[str, Any]], width: int) -> None:
    """Population std and max |z| of each entity's per-period simple z-scores."""
    usable = [r for r in rows if r["zs"] is not None and len(r["zs"]) == width]
    if not usable or not width:
        return
    zs = np.array([r["zs"] for r in usable], dtype=np.float64)
    present = ~np.isnan(zs)
    counts = present.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(present, zs, 0.0).sum(axis=1) / counts
        dev = np.where(present, zs - means[:, None], 0.0)
        std = np.sqrt((dev * dev).sum(axis=1) / counts)
        top = np.where(present, np.abs(zs), -np.inf).max(axis=1)
    for row, s_value, m_value, n in zip(
        usable, std.tolist(), top.tolist(), counts.tolist(), strict=True
    ):
        if n:
            row["twin"].zscore_std = s_value
            row["twin"].max_abs_deviation = m_value


def check_percentile_trends(node: NodeContext, all_values: list[list[float]]) -> None:
    """20: the header's percentile_trends against the node's values (all facets)."""
    trends = node.header.get("_percentile_trends")
    if trends is None or not all_values:
        return
    periods = [str(p) for p in trends.get("periods", [])]
    width = len(periods)
    if periods != node.periods:
        node.err("9.3-20", 1, "percentile_trends.periods != timeline periods")
        return
    arrays: dict[str, list[float]] = {}
    for name in (*PERCENTILE_NAMES, "sample_sizes"):
        arr = trends.get(name)
        if not isinstance(arr, list) or len(arr) != width:
            node.err("9.3-20", 1, f"percentile_trends.{name} length != {width} periods")
            return
        arrays[name] = [as_float(x) for x in arr]
    for t in range(width):
        column = [arrays[n][t] for n in PERCENTILE_NAMES]
        present = [c for c in column if not math.isnan(c)]
        if any(b < a - 1e-12 for a, b in itertools.pairwise(present)):
            node.err(
                "9.3-20",
                1,
                f"percentile_trends not ordered p10 <= ... <= p90 in period {periods[t]}",
            )
    _check_trend_values(node, arrays, np.array(all_values, dtype=np.float64), width)


def _check_trend_values(
    node: NodeContext, arrays: dict[str, list[float]], matrix: FloatArray, width: int
) -> None:
    counts = (~np.isnan(matrix)).sum(axis=0)
    gappy = bool(np.isnan(matrix).any())
    one_facet = len(node.groups) == 1
    wanted = statistics.column_percentiles(matrix, [10, 25, 50, 75, 90])
    for t in range(width):
        if arrays["sample_sizes"][t] != counts[t]:
            node.error_or_warning(
                not gappy,
                "9.3-20",
                1,
                f"percentile_trends.sample_sizes[{t}] {shown(arrays['sample_sizes'][t])} != {int(counts[t])} non-null values",
            )
            break
    for i, name in enumerate(PERCENTILE_NAMES):
        for t in range(width):
            got = arrays[name][t]
            if not math.isnan(got) and not close(got, wanted[i, t]):
                node.error_or_warning(
                    one_facet,
                    "9.3-20",
                    1,
                    f"percentile_trends.{name}[{t}] {shown(got)} != numpy linear percentile = {shown(wanted[i, t])}",
                )
                break
    if one_facet:
        group = node.groups[next(iter(node.groups))]
        for row, line in zip(group.rows, group.lines, strict=True):
            p50 = arrays["p50"][-1]  # null when the period's percentiles are suppressed
            if not row["tr_sup"] and not math.isnan(p50) and not close(row["peer_median"], p50):
                node.err(
                    "9.3-17",
                    line,
                    f"peer_median {shown(row['peer_median'])} != percentile_trends.p50[-1] {shown(arrays['p50'][-1])}",
                )
                break
