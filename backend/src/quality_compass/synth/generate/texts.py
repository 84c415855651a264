"""The words a generated run is written with: interpretation texts, names, phrases.

The interpretation texts marked "real" are the texts of the real runs; the others follow
their style. Name lists make facility and system names that look like the real ones.
"""

from __future__ import annotations

import re

from quality_compass.needle.methods import (
    METHOD_ROBUST_ZSCORE,
    METHOD_SIMPLE_ZSCORE,
    METHOD_SLOPE_PERCENTILE,
    METHOD_TRENDING_ROBUST_ZSCORE,
    METHOD_TRENDING_SIMPLE_ZSCORE,
)

# Rendered interpretation texts. Entries marked "real" are the texts of the real runs
# (placeholders in braces); the others follow their style (the real runs never reached
# those tiers). {e} entity label, {v} statistic (4 decimals), {g} comparison group,
# {med} peer median, {lat} latest robust z, {mean} mean robust z, {p} latest period,
# {ml} metric label.
_NO_SCORE_TEXT = "{e} has too few {g} peers for a score; the statistic is suppressed."
RENDER_TEXTS: dict[tuple[str, str], dict[str, str]] = {
    (METHOD_SIMPLE_ZSCORE, "simple_zscore"): {
        "extremely_low": "{e} records z-score {v}, far below {g} averages after standard deviation scaling.",
        "very_low": "{e} records z-score {v}, well below {g} averages after standard deviation scaling.",
        "moderately_low": "{e} records z-score {v}, falling below {g} averages after standard deviation scaling.",  # real
        "slightly_low": "{e} shows mildly lower z-score {v} versus {g}; watch for continued movement.",  # real
        "normal": "{e} stays close to {g} norms with z-score {v}, indicating typical performance.",  # real
        "slightly_high": "{e} shows slightly elevated z-score {v} relative to {g} norms.",  # real
        "moderately_high": "{e} shows z-score {v} above {g} expectations, signalling elevated values.",  # real
        "very_high": "{e} shows z-score {v} well above {g} expectations, signalling markedly elevated values.",
        "extremely_high": "{e} shows z-score {v} far above {g} expectations; investigate drivers promptly.",
        "no_score": _NO_SCORE_TEXT,
    },
    (METHOD_ROBUST_ZSCORE, "robust_zscore"): {
        "extremely_low": "{e} posts robust z-score {v}, far below the {g} median once outliers are dampened.",
        "very_low": "{e} posts robust z-score {v}, well below the {g} median once outliers are dampened.",
        "moderately_low": "{e} posts robust z-score {v}, indicating lower values than the {g} median once outliers are dampened.",  # real
        "slightly_low": "{e} shows modestly low robust z-score {v} versus {g}; continue monitoring.",  # real
        "normal": "{e} remains aligned with {g}; robust z-score {v} signals typical performance after MAD scaling.",  # real
        "slightly_high": "{e} shows slightly elevated robust z-score {v} relative to {g} norms.",  # real
        "moderately_high": "{e} shows robust z-score {v} above {g} norms, suggesting elevated values worth investigation.",  # real
        "very_high": "{e} shows robust z-score {v} well above {g} norms; elevated values persist after MAD scaling.",
        "extremely_high": "{e} shows robust z-score {v} far above {g} norms; investigate drivers promptly.",
        "no_score": _NO_SCORE_TEXT,
    },
    (METHOD_TRENDING_SIMPLE_ZSCORE, "latest_simple_zscore"): {
        "extremely_low": "{e} posts latest z-score {v} far below {g} trend, an unusually sharp recent improvement.",
        "very_low": "{e} posts latest z-score {v} well below {g} trend, signalling strong recent improvement.",
        "moderately_low": "{e} posts latest z-score {v} below {g} trend, signalling recent improvement versus peers.",  # real
        "slightly_low": "{e} shows mildly low latest z-score {v} relative to {g} trend.",  # real
        "normal": "{e} remains aligned with {g}; latest z-score {v} reflects expected movement.",  # real
        "slightly_high": "{e} shows slightly elevated latest z-score {v} above {g} trend.",  # real
        "moderately_high": "{e} shows latest z-score {v} above {g}, highlighting a recent adverse swing.",  # real
        "very_high": "{e} shows latest z-score {v} well above {g}, highlighting a marked recent adverse swing.",
        "extremely_high": "{e} shows latest z-score {v} far above {g}; the latest period needs review.",
        "no_score": _NO_SCORE_TEXT,
    },
    (METHOD_TRENDING_SIMPLE_ZSCORE, "mean_simple_zscore"): {
        "extremely_low": "{e} averages extremely low z-score {v} versus {g} trend.",
        "very_low": "{e} averages very low z-score {v} versus {g} trend.",
        "moderately_low": "{e} averages low z-score {v} versus {g} trend.",
        "slightly_low": "{e} averages mildly low z-score {v} versus {g} trend.",  # real
        "normal": "{e} maintains mean z-score {v} near {g}, signalling steady performance.",  # real
        "slightly_high": "{e} averages slightly elevated z-score {v} relative to {g} trend.",  # real
        "moderately_high": "{e} averages elevated z-score {v} relative to {g} trend.",
        "very_high": "{e} averages markedly elevated z-score {v} relative to {g} trend.",
        "extremely_high": "{e} averages extremely elevated z-score {v} relative to {g} trend.",
        "no_score": _NO_SCORE_TEXT,
    },
    (METHOD_TRENDING_ROBUST_ZSCORE, "latest_robust_zscore"): {
        "extremely_low": "Trending robust z-score shows {e} far below peer median; latest {ml} {v} in {p} trails cohort median {med}.",
        "very_low": "Trending robust z-score shows {e} well below peer median; latest {ml} {v} in {p} trails cohort median {med}.",
        "moderately_low": "Trending robust z-score shows {e} below peer median; latest {ml} {v} in {p} trails cohort median {med}.",  # real
        "slightly_low": "Trending robust z-score shows mildly low values; latest {v} is modestly under {g} median {med}.",  # real
        "normal": "Trending robust z-score shows {e} near peer median with latest {ml} {v} versus cohort median {med}; expect modest deviation.",  # real
        "slightly_high": "Trending robust z-score shows slight elevation; latest {v} sits above {g} median {med}.",  # real
        "moderately_high": "Average MAD-normalized {ml} of {mean} places {e} well above peers; investigate drivers for sustained high values.",  # real
        "very_high": "Average MAD-normalized {ml} of {mean} places {e} far above peers; latest {v} confirms the gap.",
        "extremely_high": "Trending robust z-score shows {e} at an extreme; latest {v} is far above {g} median {med}.",
        "no_score": _NO_SCORE_TEXT,
    },
    (METHOD_TRENDING_ROBUST_ZSCORE, "mean_robust_zscore"): {
        "extremely_low": "Mean robust z-score {v} sits far below {g} peers.",
        "very_low": "Mean robust z-score {v} sits well below {g} peers.",
        "moderately_low": "Mean robust z-score {v} sits below {g} peers.",
        "slightly_low": "Mean robust z-score {v} sits modestly below {g} peers.",  # real
        "normal": "Average MAD-normalized {ml} {v} keeps {e} aligned with peers while latest value {lat} stays near cohort median {med}.",  # real
        "slightly_high": "Mean robust z-score {v} sits modestly above {g} peers.",
        "moderately_high": "Mean robust z-score {v} sits above {g} peers.",
        "very_high": "Mean robust z-score {v} sits well above {g} peers.",
        "extremely_high": "Mean robust z-score {v} sits far above {g} peers.",
        "no_score": _NO_SCORE_TEXT,
    },
    (METHOD_SLOPE_PERCENTILE, "slope_percentile"): {  # all nine are real
        "extremely_low": "{e} resides at slope percentile {v}, indicating substantially gentler trajectories than {g} peers.",
        "very_low": "{e} resides at slope percentile {v}, well below {g} trend slopes.",
        "moderately_low": "{e} resides at slope percentile {v}, below {g} trend slope averages.",
        "slightly_low": "{e} resides at slope percentile {v}, slightly below {g} trend slope median.",
        "normal": "{e} stays near {g} trend slope median with percentile {v}.",
        "slightly_high": "{e} resides at slope percentile {v}, slightly above {g} trend slope median.",
        "moderately_high": "{e} resides at slope percentile {v}, above {g} trend slope averages.",
        "very_high": "{e} ranks at slope percentile {v}, well above {g} peers.",
        "extremely_high": "{e} ranks at slope percentile {v} far above peers, signalling substantially steeper trend shifts.",
        "no_score": "{e} has fewer than 6 observed periods; the slope percentile is suppressed.",
    },
}

# -- dimensions ------------------------------------------------------------------------------

DIM_PHRASES: dict[str, str] = {
    "vizientServiceLine": "service line",
    "vizientSubServiceLine": "sub-service line",
    "dischargeStatus": "discharge status",
    "admissionSource": "admission source",
    "admissionStatus": "admission status",
    "payerSegment": "payer segment",
}
DIM_FILE_TAGS: dict[str, str] = {
    "vizientServiceLine": "sl",
    "vizientSubServiceLine": "subsl",
    "dischargeStatus": "dschsts",
    "admissionSource": "admsrc",
    "admissionStatus": "admsts",
    "payerSegment": "payer",
}


def title_case(dim: str) -> str:
    """``vizientServiceLine`` -> ``Vizient Service Line`` (the engine's display names)."""
    return " ".join(part.capitalize() for part in re.findall(r"[a-z]+|[A-Z][a-z]*", dim))


# -- facility and system names ---------------------------------------------------------------

SYSTEM_NAMES = (
    "ALPHA_HEALTH",
    "DELTA_CARE",
    "HORIZON_MEDICAL",
    "KEYSTONE_NETWORK",
    "MERIDIAN_HEALTH",
    "PACIFIC_PARTNERS",
    "SUMMIT_HEALTHCARE",
    "VALLEY_REGIONAL",
    "ZENITH_SYSTEMS",
    "BEACON_HEALTH",
    "CEDAR_ALLIANCE",
    "LIBERTY_CARE",
)
NAME_ADJECTIVES = [
    "AGILE",
    "BOLD",
    "BRIGHT",
    "CALM",
    "CLEVER",
    "DANDY",
    "DAZZLING",
    "EAGER",
    "EARNEST",
    "FAIR",
    "FRESH",
    "GENTLE",
    "GOOFY",
    "HAPPY",
    "HUMBLE",
    "IDEAL",
    "JAUNTY",
    "JOLLY",
    "KEEN",
    "KIND",
    "LIVELY",
    "LUCKY",
    "MERRY",
    "MIGHTY",
    "NIFTY",
    "NIMBLE",
    "OPTIMAL",
    "PLUCKY",
    "PROUD",
    "QUAINT",
    "QUICK",
    "SOLID",
    "TRUSTY",
    "UPBEAT",
    "VIVID",
    "WARM",
    "XENIAL",
    "YOUTHFUL",
    "ZESTY",
]
NAME_NOUNS = [
    "ANCHOR",
    "BLOSSOM",
    "BRIDGE",
    "CANYON",
    "DELTA",
    "EAGLE",
    "FOUNTAIN",
    "GARDEN",
    "GATE",
    "HARBOR",
    "HAVEN",
    "HORIZON",
    "ISLAND",
    "JUNCTION",
    "KINGDOM",
    "LIGHTHOUSE",
    "MARKET",
    "MEADOW",
    "NEXUS",
    "OASIS",
    "PAVILION",
    "QUARRY",
    "RIDGE",
    "RIVER",
    "STATION",
    "SUMMIT",
    "TERRACE",
    "UNION",
    "VALLEY",
    "WORKS",
    "YARD",
    "ZEPHYR",
]
