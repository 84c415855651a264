"""§9.6 rule 36: the empirical classification rules, checked as warnings.

The derived indicators (position, trend, momentum, consistency) follow the classification
inputs as observed in real runs; near a boundary either neighbour is accepted. Some
signal types imply their indicators.
"""

from __future__ import annotations

import math

from quality_compass.synth.validate.check_numbers import shown
from quality_compass.synth.validate.state import RunState

#: (exclusive upper bound, positions) for an aggregate z; above the last bound both
#: ``elevated`` and ``severe`` occur.
_POSITIONS = (
    (-1.5, {"excellent"}),
    (-0.5, {"favorable"}),
)
_POSITIONS_INCLUSIVE = (
    (0.5, {"normal"}),
    (1.0, {"marginal"}),
    (1.76, {"elevated"}),
)
#: Trends from low to high slope percentile, and the bounds between them; on a bound both
#: neighbours occur.
_TRENDS = ("rapidly_improving", "improving", "stable", "worsening", "rapidly_worsening")
_TREND_BOUNDS = (10.0, 30.0, 70.0, 90.0)


def expected_positions(z: float) -> set[str]:
    for bound, positions in _POSITIONS:
        if z < bound:
            return positions
    for bound, positions in _POSITIONS_INCLUSIVE:
        if z <= bound:
            return positions
    return {"elevated", "severe"}


def expected_trends(slope_percentile: float) -> set[str]:
    if math.isnan(slope_percentile):
        return {"stable"}
    for i, bound in enumerate(_TREND_BOUNDS):
        if slope_percentile < bound:
            return {_TRENDS[i]}
        if slope_percentile == bound:
            return {_TRENDS[i], _TRENDS[i + 1]}
    return {_TRENDS[-1]}


def expected_momenta(acceleration: float) -> set[str]:
    if math.isnan(acceleration) or abs(acceleration) < 0.0046:
        return {"neutral"}
    if acceleration > 0.0062:
        return {"accelerating"}
    if acceleration < -0.0062:
        return {"decelerating"}
    return {"neutral", "accelerating" if acceleration > 0 else "decelerating"}


def check_empirical_rules(
    state: RunState,
    rel: str,
    row: dict[str, str],
    inputs: dict[str, float],
    period_count: int,
    suppressed: bool,
    number: int,
) -> None:
    """The CSV row's indicators and signal type against its inputs."""
    z = inputs["aggregate_zscore"]
    position = row.get("position")
    if not math.isnan(z):
        want = expected_positions(z)
        if position not in want:
            state.warn(
                "9.6-36",
                rel,
                number,
                f"position {position!r} but aggregate_zscore {shown(z)} (expected {'/'.join(sorted(want))})",
            )
    slope_percentile = inputs["slope_percentile"]
    trend = row.get("trend")
    if trend not in expected_trends(slope_percentile):
        state.warn(
            "9.6-36", rel, number, f"trend {trend!r} but slope_percentile {shown(slope_percentile)}"
        )
    acceleration = inputs["acceleration"]
    momentum = row.get("momentum")
    if momentum not in expected_momenta(acceleration):
        state.warn(
            "9.6-36", rel, number, f"momentum {momentum!r} but acceleration {shown(acceleration)}"
        )
    z_std = inputs["zscore_std"]
    if not math.isnan(z_std):
        want_c = "consistent" if z_std < 0.5 else "variable"
        if row.get("consistency") != want_c:
            state.warn(
                "9.6-36",
                rel,
                number,
                f"consistency {row.get('consistency')!r} but zscore_std {shown(z_std)}",
            )
    _check_signal_type(state, rel, row, position, trend, period_count, suppressed, number)


def _check_signal_type(
    state: RunState,
    rel: str,
    row: dict[str, str],
    position: str | None,
    trend: str | None,
    period_count: int,
    suppressed: bool,
    number: int,
) -> None:
    signal = row.get("signal_type")
    suspect = suppressed or 0 <= period_count < 3
    if (signal == "suspect_data") != suspect:
        state.warn(
            "9.6-36",
            rel,
            number,
            f"signal_type {signal!r} but suppressed={suppressed}, period_count={period_count}",
        )
    if signal == "suspect_data" and row.get("severity") != "50":
        state.warn("9.6-36", rel, number, f"suspect_data severity {row.get('severity')} != 50")
    if signal == "improving_leader" and not (
        trend in {"improving", "rapidly_improving"} and position in {"normal", "favorable"}
    ):
        state.warn(
            "9.6-36",
            rel,
            number,
            f"improving_leader with trend {trend!r}, position {position!r}",
        )
    if signal == "emerging_risk" and not (
        trend in {"worsening", "rapidly_worsening"} and position in {"normal", "marginal"}
    ):
        state.warn(
            "9.6-36", rel, number, f"emerging_risk with trend {trend!r}, position {position!r}"
        )
