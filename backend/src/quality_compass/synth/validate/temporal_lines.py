"""§9.3 Temporal statistics of one entity line of a monthly node (rules 15-17, 19, 21).

The line's own consistency: timeline periods, observed counts, per-period z-score arrays
against their latest and mean values, the slope block, the per-period metadata. What needs
the whole facet (per-period z against the period's peers, percentiles) is
``facet_checks.py``'s job; this module collects the numbers it needs.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from quality_compass.needle.formulas import MIN_SLOPE_PERIODS
from quality_compass.synth.validate.check_numbers import as_float, close, shown
from quality_compass.synth.validate.node_context import NodeContext
from quality_compass.synth.validate.state import FacetRows, TwinEntity


def check_temporal_entity(
    node: NodeContext,
    first_metric: dict[str, Any],
    metadata: dict[str, Any],
    methods: dict[str, dict[str, Any]],
    number: int,
    key: tuple[str, ...],
    group: FacetRows,
) -> None:
    values = first_metric.get("values")
    timeline = values.get("timeline") if isinstance(values, dict) else None
    runtime = first_metric.get("temporal_runtime")
    if not isinstance(timeline, list) or not isinstance(runtime, dict):
        node.err(
            "9.1-9",
            number,
            "temporal node needs metric[0].values.timeline and temporal_runtime",
        )
        return
    periods = [str(p.get("period")) for p in timeline]
    series = [as_float(p.get("value")) for p in timeline]
    _check_periods(node, periods, number)
    observed = sum(1 for s in series if not math.isnan(s))
    n = len(series)
    _check_runtime(node, runtime, observed, n, number)
    simple_block = (methods.get("trending_simple_zscore") or {}).get("statistics") or {}
    robust_block = (methods.get("trending_robust_zscore") or {}).get("statistics") or {}
    slope_block = (methods.get("slope_percentile") or {}).get("statistics") or {}
    zs = _z_array(node, simple_block, "simple", n, number)
    zr = _z_array(node, robust_block, "robust", n, number)
    latest = f"{periods[-1][:4]}-{periods[-1][4:]}" if periods else ""
    for name, block in (
        ("trending_simple_zscore", simple_block),
        ("trending_robust_zscore", robust_block),
    ):
        if block and block.get("latest_period") != latest:
            node.err(
                "9.3-17",
                number,
                f"{name} latest_period {block.get('latest_period')!r} != {latest!r}",
            )
    # 19: slope statistics of this series
    if slope_block:
        _check_slope(node, slope_block, series, observed, number)
    # 21: per-period metadata
    _check_per_period(node, metadata, periods, number)
    twin = _twin(simple_block, slope_block, zs, observed, n)
    node.state.twin_store.setdefault(node.info.id, {})[key] = twin
    group.lines.append(number)
    group.values.append(series)
    group.rows.append(_facet_row(simple_block, robust_block, slope_block, zs, zr, twin))


def _facet_row(
    simple_block: dict[str, Any],
    robust_block: dict[str, Any],
    slope_block: dict[str, Any],
    zs: list[float] | None,
    zr: list[float] | None,
    twin: TwinEntity,
) -> dict[str, Any]:
    """What the facet checks need of this line (``temporal_facets``)."""
    return {
        "zs": zs,
        "zr": zr,
        "ts_sup": simple_block.get("suppressed") is True,
        "tr_sup": robust_block.get("suppressed") is True,
        "mean_s": as_float(simple_block.get("mean_simple_zscore")),
        "mean_r": as_float(robust_block.get("mean_robust_zscore")),
        "pr_s": as_float(simple_block.get("percentile_rank")),
        "pr_r": as_float(robust_block.get("percentile_rank")),
        "peer_median": as_float(robust_block.get("peer_median")),
        "peer_mad": as_float(robust_block.get("peer_mad")),
        "slope": as_float(slope_block.get("slope")),
        "accel": as_float(slope_block.get("acceleration")),
        "twin": twin,
        "slope_pr": as_float(slope_block.get("percentile_rank")),
        "sl_sup": slope_block.get("suppressed") is True,
    }


def _twin(
    simple_block: dict[str, Any],
    slope_block: dict[str, Any],
    zs: list[float] | None,
    observed: int,
    n: int,
) -> TwinEntity:
    """What the classification of this entity's aggregate twin must repeat (§7)."""
    twin = TwinEntity(
        as_float(simple_block.get("mean_simple_zscore")),
        as_float(slope_block.get("slope_percentile")),
        as_float(slope_block.get("acceleration")),
        math.nan,  # zscore_std and max_abs_deviation: filled per facet, vectorised
        math.nan,
        slope_block["period_count"]
        if isinstance(slope_block.get("period_count"), int)
        else observed,
    )
    if zs is not None and len(zs) != n:
        present = [z for z in zs if not math.isnan(z)]
        if present:
            twin.zscore_std = float(np.std(present))
            twin.max_abs_deviation = max(abs(z) for z in present)
    return twin


def _check_periods(node: NodeContext, periods: list[str], number: int) -> None:
    """15: strictly increasing YYYYMM periods inside the header's temporal context."""
    if not node.periods:
        node.periods = periods
    if any(not re.fullmatch(r"\d{6}", p) for p in periods) or periods != sorted(set(periods)):
        node.err(
            "9.3-15",
            number,
            f"timeline periods are not strictly increasing YYYYMM: {periods[:3]}...",
        )
    elif node.start and (periods[0] < node.start or periods[-1] > node.end):
        node.err(
            "9.3-15",
            number,
            f"timeline {periods[0]}..{periods[-1]} outside {node.start}..{node.end}",
        )
    if periods != node.periods:
        node.warn("9.3-15", number, "timeline periods differ from the node's first entity")


def _check_runtime(
    node: NodeContext, runtime: dict[str, Any], observed: int, n: int, number: int
) -> None:
    """15: observed + missing counts, against the timeline's non-null values."""
    if runtime.get("observed_count") is None or runtime.get("missing_count") is None:
        return
    if runtime["observed_count"] + runtime["missing_count"] != n:
        node.err(
            "9.3-15",
            number,
            f"observed_count + missing_count = {runtime['observed_count'] + runtime['missing_count']} != {n} periods",
        )
    if runtime["observed_count"] != observed:
        node.warn(
            "9.3-15",
            number,
            f"observed_count {runtime['observed_count']} != {observed} non-null timeline values",
        )
    if n and not close(as_float(runtime.get("coverage_ratio")), runtime["observed_count"] / n):
        node.warn(
            "9.3-15",
            number,
            f"coverage_ratio {shown(runtime.get('coverage_ratio'))} != observed_count / periods",
        )


def _z_array(
    node: NodeContext, block: dict[str, Any], kind: str, n: int, number: int
) -> list[float] | None:
    """16: the per-period z-scores, checked against their latest and mean values."""
    if not block:
        return None
    name = f"per_period_{kind}_zscores"
    raw = block.get(name)
    if not isinstance(raw, list):
        node.err("9.3-16", number, f"{name} missing")
        return None
    zs = [as_float(z) for z in raw]
    if len(zs) != n:
        node.err("9.3-16", number, f"len({name}) {len(zs)} != {n} timeline periods")
        return zs
    latest = as_float(block.get(f"latest_{kind}_zscore"))
    if zs and not close(latest, zs[-1]):
        node.err(
            "9.3-16",
            number,
            f"latest_{kind}_zscore {shown(latest)} != last element {shown(zs[-1])}",
        )
    present = [z for z in zs if not math.isnan(z)]
    mean = as_float(block.get(f"mean_{kind}_zscore"))
    expected = sum(present) / len(present) if present else math.nan
    if not close(mean, expected):
        node.err(
            "9.3-16",
            number,
            f"mean_{kind}_zscore {shown(mean)} != mean(per_period_{kind}_zscores) = {shown(expected)}",
        )
    return zs


def _check_slope(
    node: NodeContext, slope_block: dict[str, Any], series: list[float], observed: int, number: int
) -> None:
    """19: the slope block of one series."""
    slope = as_float(slope_block.get("slope"))
    if observed < MIN_SLOPE_PERIODS and not math.isnan(slope):
        node.warn(
            "9.3-19",
            number,
            f"slope {shown(slope)} present with {observed} observed periods (< {MIN_SLOPE_PERIODS})",
        )
    if slope_block.get("suppressed") is True and not math.isnan(slope):
        node.err("9.4-25", number, "slope method suppressed but slope is not null")
    if not math.isnan(slope):
        _check_slope_sign(node, slope_block, slope, number)
    complete = observed == len(series)
    _check_acceleration(node, slope_block, series, complete, number)
    _check_end_start_delta(node, slope_block, series, complete, number)
    if not close(
        as_float(slope_block.get("slope_percentile")), as_float(slope_block.get("percentile_rank"))
    ):
        node.err(
            "9.3-19",
            number,
            f"slope_percentile {shown(slope_block.get('slope_percentile'))} != percentile_rank {shown(slope_block.get('percentile_rank'))}",
        )
    pct = as_float(slope_block.get("slope_percentile"))
    if not math.isnan(pct) and not 0.0 <= pct <= 100.0:
        node.err("9.3-19", number, f"slope_percentile {shown(pct)} outside [0, 100]")


def _check_slope_sign(
    node: NodeContext, slope_block: dict[str, Any], slope: float, number: int
) -> None:
    if not close(as_float(slope_block.get("slope_weighted")), slope):
        node.warn(
            "9.3-19",
            number,
            f"slope_weighted {shown(slope_block.get('slope_weighted'))} != slope {shown(slope)}",
        )
    direction = slope_block.get("trend_direction")
    if (slope > 0 and direction != "increasing") or (slope < 0 and direction != "decreasing"):
        node.err("9.3-19", number, f"trend_direction {direction!r} != sign(slope {shown(slope)})")


def _check_acceleration(
    node: NodeContext, slope_block: dict[str, Any], series: list[float], complete: bool, number: int
) -> None:
    accel = as_float(slope_block.get("acceleration"))
    if not math.isnan(accel) and not (complete and len(series) >= 4):
        node.warn("9.3-19", number, "acceleration present for an incomplete series")
    momentum = slope_block.get("momentum")
    if momentum is not None and not math.isnan(accel) and (momentum == "gaining") != (accel > 0):
        node.err("9.3-19", number, f"momentum {momentum!r} but acceleration {shown(accel)}")


def _check_end_start_delta(
    node: NodeContext, slope_block: dict[str, Any], series: list[float], complete: bool, number: int
) -> None:
    delta = as_float(slope_block.get("end_start_delta"))
    if math.isnan(delta):
        return
    obs = [s for s in series if not math.isnan(s)]
    if len(obs) >= 4:
        expected = (obs[-1] + obs[-2]) / 2 - (obs[0] + obs[1]) / 2
        if not close(delta, expected):
            node.error_or_warning(
                complete,
                "9.3-19",
                number,
                f"end_start_delta {shown(delta)} != mean(last 2) - mean(first 2) = {shown(expected)}",
            )


def _check_per_period(
    node: NodeContext, metadata: dict[str, Any], periods: list[str], number: int
) -> None:
    """21: every per_period metadata column covers the timeline and sums to the total."""
    per_period = metadata.get("per_period")
    for column in node.per_period_cols:
        if not isinstance(per_period, dict) or column not in per_period:
            node.err(
                "9.3-21",
                number,
                f"metadata.per_period.{column} missing (aggregation per_period)",
            )
            continue
        items = per_period[column]
        got = [str(p.get("period", "")).replace("-", "") for p in items]
        if got != periods:
            node.err("9.3-21", number, f"per_period.{column} periods != timeline periods")
        total = sum(as_float(p.get("value")) for p in items if p.get("value") is not None)
        top = as_float(metadata.get(column))
        if not close(top, total):
            node.err(
                "9.3-21",
                number,
                f"metadata.{column} {shown(top)} != sum of per_period values {shown(total)}",
            )
