"""Signal classification of an entity (``docs/reference/needle_run_format.md`` §7, §9.6).

The observed parts follow the real runs; the unobserved parts (four severity ranges, the
exact rule order) are this generator's documented assumptions
(``docs/architecture/synthetic_runs.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from quality_compass.needle.formulas import AGGREGATE_MIN_PEER_COUNT

#: Severity range per signal type. The first five are observed in real runs; the other
#: four were never observed and are this generator's choice.
SEVERITY_RANGES: dict[str, tuple[int, int]] = {
    "sustained_excellence": (0, 12),
    "improving_leader": (13, 25),
    "baseline": (26, 59),
    "recovering": (30, 45),
    "suspect_data": (50, 50),
    "emerging_risk": (60, 70),
    "volatility_alert": (71, 80),
    "chronic_underperformer": (81, 90),
    "critical_trajectory": (91, 100),
}
SEVERE_Z = 2.0
SPIKE_ABS_Z = 3.0
SPIKE_MIN_STD = 0.75
MOMENTUM_THRESHOLD = 0.005
CONSISTENT_STD = 0.5
MIN_CLASSIFY_PERIODS = 3

_TREND_ADJUST = {
    "rapidly_improving": -2,
    "improving": -1,
    "stable": 0,
    "worsening": 1,
    "rapidly_worsening": 2,
}
_MOMENTUM_ADJUST = {"accelerating": 1, "neutral": 0, "decelerating": -1}


def position_of(z: float) -> str:
    if z < -1.5:
        return "excellent"
    if z < -0.5:
        return "favorable"
    if z <= 0.5:
        return "normal"
    if z <= 1.0:
        return "marginal"
    if z <= SEVERE_Z:
        return "elevated"
    return "severe"


def trend_of(slope_percentile: float) -> str:
    if math.isnan(slope_percentile):
        return "stable"
    if slope_percentile < 10:
        return "rapidly_improving"
    if slope_percentile < 30:
        return "improving"
    if slope_percentile <= 70:
        return "stable"
    if slope_percentile <= 90:
        return "worsening"
    return "rapidly_worsening"


def momentum_of(acceleration: float) -> str:
    if math.isnan(acceleration):
        return "neutral"
    if acceleration > MOMENTUM_THRESHOLD:
        return "accelerating"
    if acceleration < -MOMENTUM_THRESHOLD:
        return "decelerating"
    return "neutral"


@dataclass
class Classification:
    signal_type: str
    severity: int
    base: int
    refinements: list[tuple[str, int, str]]
    position: str
    trend: str
    momentum: str
    consistency: str
    has_spike: bool
    reasoning: str


def classify(
    z: float,
    slope_pct: float,
    accel: float,
    z_std: float,
    max_dev: float,
    period_count: int,
    suppressed: bool,
) -> Classification:
    """The signal type of one entity (rules in docs/architecture/synthetic_runs.md)."""
    z_or_zero = 0.0 if math.isnan(z) else z
    position = position_of(z_or_zero)
    trend = trend_of(slope_pct)
    momentum = momentum_of(accel)
    consistency = "consistent" if (math.isnan(z_std) or z_std < CONSISTENT_STD) else "variable"
    has_spike = (
        not math.isnan(max_dev)
        and max_dev >= SPIKE_ABS_Z
        and not math.isnan(z_std)
        and z_std >= SPIKE_MIN_STD
    )
    indicators = (position, trend, momentum, consistency, has_spike)
    if suppressed or period_count < MIN_CLASSIFY_PERIODS:
        reason = (
            f"Suspect data: peer group below the minimum of {AGGREGATE_MIN_PEER_COUNT} entities; z-scores suppressed"
            if suppressed
            else f"Suspect data: only {period_count} observed period(s), fewer than {MIN_CLASSIFY_PERIODS}"
        )
        return Classification("suspect_data", 50, 50, [], *indicators, reason)
    kind = signal_type_of(position, trend, momentum, has_spike)
    if kind == "volatility_alert":
        reason = (
            f"Volatility alert: spike to |z| {max_dev:.2f} with z-score std {z_std:.2f} "
            f"around mean z {z_or_zero:.2f}"
        )
    elif kind == "critical_trajectory":
        reason = (
            f"Critical trajectory: {position} position (z {z_or_zero:.2f}) with rapidly worsening, "
            f"accelerating trend (slope percentile {_percentile_text(slope_pct)}, "
            f"acceleration {accel:.4f})"
        )
    else:
        title = kind.replace("_", " ").capitalize()
        reason = (
            f"{title}: {position} position (z {z_or_zero:.2f}) with {trend.replace('_', ' ')} trend "
            f"(slope percentile {_percentile_text(slope_pct)})"
        )
    base, final, refinements = severity_of(kind, z_or_zero, trend, momentum, consistency)
    return Classification(kind, final, base, refinements, *indicators, reason)


def signal_type_of(position: str, trend: str, momentum: str, has_spike: bool) -> str:
    """The signal type of an entity with enough data (the first matching rule wins)."""
    high = position in {"elevated", "severe"}
    worsening = trend in {"worsening", "rapidly_worsening"}
    improving = trend in {"improving", "rapidly_improving"}
    rules = (
        (
            high and trend == "rapidly_worsening" and momentum == "accelerating",
            "critical_trajectory",
        ),
        (high and worsening, "chronic_underperformer"),
        (has_spike, "volatility_alert"),
        (high and improving, "recovering"),
        (position == "excellent" and not worsening, "sustained_excellence"),
        (improving and position in {"normal", "favorable"}, "improving_leader"),
        (worsening and position in {"normal", "marginal"}, "emerging_risk"),
    )
    return next((kind for matches, kind in rules if matches), "baseline")


def severity_of(
    kind: str, z: float, trend: str, momentum: str, consistency: str
) -> tuple[int, int, list[tuple[str, int, str]]]:
    """(base, final severity, refinements): z places the base in the type's range."""
    low, high_bound = SEVERITY_RANGES[kind]
    fraction = min(max((z + 2.0) / 4.0, 0.0), 1.0)
    base = low + round((high_bound - low) * fraction)
    refinements: list[tuple[str, int, str]] = []
    if _TREND_ADJUST[trend]:
        refinements.append(("trend", _TREND_ADJUST[trend], trend))
    if _MOMENTUM_ADJUST[momentum]:
        refinements.append(("momentum", _MOMENTUM_ADJUST[momentum], momentum))
    if consistency == "consistent" and kind in {"chronic_underperformer", "critical_trajectory"}:
        refinements.append(("consistency", 1, "consistent"))
    raw = base + sum(r[1] for r in refinements)
    final = min(max(raw, low), high_bound)
    if final != raw:
        refinements.append(("range_clamp", final - raw, f"clamped to [{low}, {high_bound}]"))
    return base, final, refinements


def _percentile_text(slope_pct: float) -> str:
    return "n/a" if math.isnan(slope_pct) else f"{slope_pct:.1f}"
