"""Synthetic Project Needle runs in the exact on-disk format of real runs.

``generate_run`` writes ``<out_dir>/<graph>/<run_id>/`` with every file kind of
``needle_run_format.md`` section 1 (container style). The numbers follow the spec's
formulas (peer statistics per facet, trends, anomaly tiers, contributions,
classifications), so a generated run passes ``qc validate`` and can feed the loader and
the dbt models at any scale.

Design (see ``docs/architecture/synthetic_runs.md``):

* One *universe* per run: facilities, their systems and sizes, which dimension values
  (service lines, discharge statuses, ...) each facility has, and encounter volumes. It is
  shared by every metric.
* Per (metric, group-by set): a monthly value matrix (entities x periods) from a small
  random-effects model (facility level + segment effect + entity effect + trend + noise),
  then every statistic with numpy, then serialisation with precomputed string templates
  and orjson (the real engine's float format). Files are written in chunks; only numeric
  per-node arrays stay in memory.
* Every random stream is derived from ``(seed, purpose, names...)``, so the same seed and
  options give byte-identical output, and adding a group-by set does not change the data
  of the others.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import multiprocessing
import os
import re
import shutil
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt
import orjson
import yaml

from quality_compass.errors import QcError
from quality_compass.needle import formulas
from quality_compass.needle.methods import (
    AGGREGATE_METHODS,
    METHOD_CONTRACTS,
    METHOD_ROBUST_ZSCORE,
    METHOD_SIMPLE_ZSCORE,
    METHOD_SLOPE_PERCENTILE,
    METHOD_TRENDING_ROBUST_ZSCORE,
    METHOD_TRENDING_SIMPLE_ZSCORE,
    TEMPLATE_PREFIX_BY_METHOD,
    TREND_METHODS,
)
from quality_compass.needle.vocabulary import (
    AGGREGATE_TIME_PERIOD,
    CSV_FIXED,
    FACILITY_DIM,
    NO_SCORE,
    TIER_LABELS,
    TIME_GRAIN,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class GenerateError(QcError):
    """Bad generator options or an output folder that cannot be written."""

    exit_code = 2


# -- fixed vocabulary of the engine ---------------------------------------------------------

COMPARISON_GROUP = "vizient_qa_amc_2025"
RUNS_ROOT = "/data/runs/insight_graph"
APP_ROOT = "/app"
DEFAULT_GROUP_BY_SETS: tuple[str, ...] = (
    "facility_base",
    "facility_service_line",
    "facility_discharge_status",
)
DEFAULT_GRAPH = "synthetic_graph"
DEFAULT_END_PERIOD = "202506"
#: Dimensions whose child nodes are drill-downs (``segments_into`` + contributions); every
#: other dimension is explored as a driver (``potentially_driven_by``), as in real runs.
SEGMENT_DIMS = frozenset({"vizientServiceLine", "vizientSubServiceLine"})

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

# -- classification (spec 7, 9.6; the unobserved parts are documented assumptions) ----------

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

# -- metric value models (mean, spread) -------------------------------------------------------

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

#: Prevalence model per dimension: Beta(a, b) chance that a facility has a value.
DIM_PREVALENCE: dict[str, tuple[float, float]] = {
    "vizientServiceLine": (6.0, 1.2),
    "dischargeStatus": (1.6, 1.3),
    "admissionSource": (1.5, 1.5),
    "admissionStatus": (4.0, 1.0),
    "payerSegment": (2.0, 1.2),
    "vizientSubServiceLine": (2.0, 1.6),
}
#: Extra dimensions of 3-dimension sets keep each combination with this chance.
THIN_EXTRA_DIM = 0.3

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

#: Metadata columns of every node (the inpatient throughput dataset), in real order.
META_COLUMNS = (
    "encounters",
    "systemName",
    "facility",
    "losOutliers",
    "uniquePatients",
    "losMeanObservedDays",
    "losMeanExpectedDays",
    "losVarianceDays",
)
_INT_COLUMNS = frozenset({"encounters", "losOutliers", "uniquePatients"})

_CHUNK_LINES = 2000
_BUFFER = 1 << 20
_PILOT_FACILITIES = 60


# -- options and result ----------------------------------------------------------------------


@dataclass(frozen=True)
class Knobs:
    """Realism knobs (shares are fractions in [0, 1])."""

    #: Share of dimension values whose peer group is made smaller than min_peer_count.
    suppressed_share: float = 0.08
    #: Share of segment entities (not facilities) with missing months.
    missing_share: float = 0.15
    #: Share of facilities shifted 2-3 peer standard deviations up or down.
    outlier_share: float = 0.06
    #: Share of facilities with a planted trend (and, for half of them, curvature).
    trend_share: float = 0.12
    #: Share of entities with a one-month spike of 4-6 standard deviations.
    spike_share: float = 0.02


@dataclass(frozen=True)
class GenerateOptions:
    out_dir: Path
    facilities: int = 118
    metrics: int = 1
    months: int = 12
    group_by_sets: tuple[str, ...] = DEFAULT_GROUP_BY_SETS
    seed: int = 0
    run_id: str | None = None
    graph: str = DEFAULT_GRAPH
    target_size: int | None = None
    end_period: str = DEFAULT_END_PERIOD
    knobs: Knobs = field(default_factory=Knobs)
    graphviz: bool = True
    overwrite: bool = False
    #: Worker processes for node tasks (0: min(2, CPUs)); the output does not depend on it.
    workers: int = 0


@dataclass
class GenerateResult:
    run_dir: Path
    run_id: str
    facilities: int
    nodes: int
    edges: int
    files: int = 0
    jsonl_bytes: int = 0
    total_bytes: int = 0
    entity_lines: int = 0
    contribution_lines: int = 0
    classification_lines: int = 0
    seconds: float = 0.0
    pilot_seconds: float = 0.0
    signal_types: dict[str, int] = field(default_factory=dict)

    @property
    def mb_per_second(self) -> float:
        return self.total_bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0


def parse_size(text: str) -> int:
    """``500MB``, ``1GB``, ``20mb``, ``1.5G``, ``750000`` -> bytes (decimal units)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b?)\s*", text, re.IGNORECASE)
    if not match:
        raise GenerateError(f"invalid size {text!r}: use a number with KB, MB or GB, e.g. 500MB")
    number = float(match.group(1))
    unit = match.group(2).lower()
    base = 1024 if match.group(3).lower().startswith("i") else 1000
    power = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}[unit]
    size = int(number * base**power)
    if size <= 0:
        raise GenerateError(f"invalid size {text!r}: must be positive")
    return size


# -- small helpers ------------------------------------------------------------------------------


def _rng(seed: int, *names: str) -> np.random.Generator:
    """An independent random stream for (seed, names): stable across option changes."""
    words = [seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF]
    words += [zlib.crc32(name.encode("utf-8")) for name in names]
    return np.random.default_rng(words)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def dumps_compact(obj: Any) -> str:
    """Compact JSON like the engine's JSONL writer: orjson floats, ASCII-escaped strings."""
    text = orjson.dumps(obj).decode("utf-8")
    return text if text.isascii() else _NON_ASCII.sub(_escape_char, text)


def _jstr(text: str) -> str:
    """A JSON string literal, ASCII-escaped (same bytes as Python's json)."""
    return encode_basestring_ascii(text)


def _cells(vector: npt.NDArray[Any]) -> list[str]:
    """JSON number strings of a 1-D array (NaN -> null), one orjson call."""
    if vector.size == 0:
        return []
    text = orjson.dumps(np.ascontiguousarray(vector), option=orjson.OPT_SERIALIZE_NUMPY)
    return text.decode()[1:-1].split(",")


def _rows(matrix: npt.NDArray[Any]) -> list[str]:
    """Per row of a 2-D array: its comma-joined JSON numbers (no brackets)."""
    if matrix.shape[0] == 0:
        return []
    if matrix.shape[1] == 0:
        return [""] * matrix.shape[0]
    text = orjson.dumps(np.ascontiguousarray(matrix), option=orjson.OPT_SERIALIZE_NUMPY)
    return text.decode()[2:-2].split("],[")


def _pretty(obj: Any, sort_keys: bool = False) -> str:
    """Pretty JSON like the engine's Python writers: 2-space indent, no trailing newline."""
    return json.dumps(obj, indent=2, sort_keys=sort_keys)


def _title(dim: str) -> str:
    """``vizientServiceLine`` -> ``Vizient Service Line`` (the engine's display names)."""
    return " ".join(part.capitalize() for part in re.findall(r"[a-z]+|[A-Z][a-z]*", dim))


def _period_add(period: str, months: int) -> str:
    year, month = int(period[:4]), int(period[4:])
    total = year * 12 + (month - 1) + months
    return f"{total // 12:04d}{total % 12 + 1:02d}"


def _fmt4(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"


class _Clock:
    """Deterministic timestamps derived from the run id (no wall clock anywhere)."""

    def __init__(self, run_id: str) -> None:
        local = datetime.strptime(run_id, "%Y%m%d%H%M%S")
        # Container runs: the run id is local time (UTC-6) and the engine starts ~1 min later.
        self.started = (local + timedelta(hours=6, seconds=80)).replace(tzinfo=UTC)

    def at(self, seconds: float) -> datetime:
        return self.started + timedelta(seconds=seconds)

    @staticmethod
    def seconds_iso(moment: datetime) -> str:
        return moment.isoformat(timespec="seconds")

    @staticmethod
    def micro_iso(moment: datetime) -> str:
        return moment.isoformat(timespec="microseconds")

    @staticmethod
    def z_iso(moment: datetime) -> str:
        return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"

    def series(self, start_seconds: float, count: int, step_us: int, suffix: str) -> list[str]:
        """``count`` increasing timestamps (microsecond precision) with the given suffix."""
        base = self.at(start_seconds)
        day_prefix_cache: dict[int, str] = {}
        base_us = base.hour * 3_600_000_000 + base.minute * 60_000_000 + base.second * 1_000_000
        base_us += base.microsecond
        out: list[str] = []
        for i in range(count):
            total = base_us + i * step_us
            seconds, micro = divmod(total, 1_000_000)
            prefix = day_prefix_cache.get(seconds)
            if prefix is None:
                moment = datetime(base.year, base.month, base.day, tzinfo=UTC) + timedelta(
                    seconds=seconds
                )
                prefix = moment.strftime("%Y-%m-%dT%H:%M:%S.")
                day_prefix_cache[seconds] = prefix
            out.append(f"{prefix}{micro:06d}{suffix}")
        return out


# -- taxonomy -------------------------------------------------------------------------------------


@dataclass
class Taxonomy:
    bundle: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    dim_codes: dict[str, list[str]]
    dim_display: dict[str, str]
    sets: dict[str, list[str]]
    edge_types: set[str]

    @classmethod
    def load(cls) -> Taxonomy:
        text = resources.files("quality_compass").joinpath("data/metadata_bundle.json").read_text()
        bundle = json.loads(text)
        return cls(
            bundle=bundle,
            metrics={m["metric_id"]: m for m in bundle["metrics"]},
            dim_codes={
                g["id"]: [v["code"] for v in g["allowed_values"]] for g in bundle["group_by_types"]
            },
            dim_display={g["id"]: g["display_name"] for g in bundle["group_by_types"]},
            sets={s["id"]: list(s["allowed_dimensions"][0]) for s in bundle["group_by_sets"]},
            edge_types={e["id"] for e in bundle["edge_types"]},
        )

    def metric_ids(self, count: int) -> list[str]:
        """The first ``count`` taxonomy metrics, ``losIndex`` first (the real runs' metric)."""
        ordered = sorted(self.metrics, key=lambda m: (m != "losIndex", m))
        if not 1 <= count <= len(ordered):
            raise GenerateError(f"--metrics must be between 1 and {len(ordered)}, got {count}")
        return ordered[:count]

    def snapshot(self, generated_at: str) -> dict[str, Any]:
        """The metadata bundle of a run, with a content hash like the engine's."""
        body = {k: v for k, v in self.bundle.items() if k not in {"generated_at", "taxonomy_hash"}}
        digest = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()[:16]
        out: dict[str, Any] = {
            "version": self.bundle["version"],
            "generated_at": generated_at,
            "taxonomy_hash": digest,
        }
        out.update({k: v for k, v in body.items() if k != "version"})
        return out


# -- graph ----------------------------------------------------------------------------------------


@dataclass
class NodeSpec:
    id: str
    metric_id: str
    set_id: str
    dims: list[str]
    temporal: bool

    @property
    def time_grain(self) -> str:
        return TIME_GRAIN if self.temporal else AGGREGATE_TIME_PERIOD

    @property
    def family(self) -> str:
        return f"`{self.metric_id}__{'_'.join(self.dims)}`"

    @property
    def file_name(self) -> str:
        return f"{self.id}.jsonl"


@dataclass
class EdgeSpec:
    source: NodeSpec
    target: NodeSpec
    type: str

    @property
    def id(self) -> str:
        return f"{self.source.id}__to__{self.target.id}"


def node_id(metric_id: str, dims: Sequence[str], temporal: bool) -> str:
    return f"{metric_id}__{'_'.join(dims)}__{TIME_GRAIN if temporal else AGGREGATE_TIME_PERIOD}"


@dataclass
class Graph:
    nodes: list[NodeSpec]
    edges: list[EdgeSpec]

    def children(self, node: NodeSpec) -> list[EdgeSpec]:
        return sorted((e for e in self.edges if e.source.id == node.id), key=lambda e: e.id)

    def parents(self, node: NodeSpec) -> list[EdgeSpec]:
        return sorted((e for e in self.edges if e.target.id == node.id), key=lambda e: e.id)


def build_graph(taxonomy: Taxonomy, metric_ids: Sequence[str], set_ids: Sequence[str]) -> Graph:
    nodes: dict[str, NodeSpec] = {}
    edges: list[EdgeSpec] = []
    by_dims = {tuple(taxonomy.sets[s]): s for s in set_ids}
    for metric in metric_ids:
        for set_id in set_ids:
            dims = taxonomy.sets[set_id]
            agg = NodeSpec(node_id(metric, dims, False), metric, set_id, dims, False)
            trend = NodeSpec(node_id(metric, dims, True), metric, set_id, dims, True)
            nodes[agg.id] = agg
            nodes[trend.id] = trend
            edges.append(EdgeSpec(agg, trend, "trends_to"))
        for set_id in set_ids:
            dims = taxonomy.sets[set_id]
            if len(dims) == 1:
                continue
            parent_set = by_dims.get(tuple(dims[:-1]), "facility_base")
            parent = nodes[node_id(metric, taxonomy.sets[parent_set], False)]
            child = nodes[node_id(metric, dims, False)]
            kind = "segments_into" if dims[-1] in SEGMENT_DIMS else "potentially_driven_by"
            edges.append(EdgeSpec(parent, child, kind))
    return Graph(sorted(nodes.values(), key=lambda n: n.id), sorted(edges, key=lambda e: e.id))


# -- universe: facilities, dimension presence, encounters ----------------------------------------


@dataclass
class Universe:
    seed: int
    taxonomy: Taxonomy
    months: int
    knobs: Knobs
    ids: list[str]
    names: list[str]
    systems: list[str]
    annual: FloatArray
    outlier_flag: BoolArray
    trend_flag: BoolArray
    curve_flag: BoolArray
    _presence: dict[str, BoolArray] = field(default_factory=dict)
    _share: dict[str, FloatArray] = field(default_factory=dict)
    _parent: dict[str, IntArray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, seed: int, taxonomy: Taxonomy, n: int, months: int, knobs: Knobs) -> Universe:
        rng = _rng(seed, "facilities")
        ids: set[str] = set()
        while len(ids) < n:
            letters = rng.integers(0, 26, size=(n, 3))
            digits = rng.integers(0, 1000, size=n)
            for row, number in zip(letters.tolist(), digits.tolist(), strict=True):
                if len(ids) >= n:
                    break
                ids.add("".join(chr(65 + c) for c in row) + f"{number:03d}")
        ordered = sorted(ids)
        combos = [f"{a}_{b}" for a in NAME_ADJECTIVES for b in NAME_NOUNS]
        pick = rng.choice(len(combos), size=n, replace=n > len(combos))
        names = [combos[i] for i in pick.tolist()]
        weights = rng.dirichlet(np.full(len(SYSTEM_NAMES), 3.0))
        systems = [SYSTEM_NAMES[i] for i in rng.choice(len(SYSTEM_NAMES), size=n, p=weights)]
        annual = np.exp(rng.normal(math.log(30000.0), 0.45, size=n))
        outlier = rng.random(n) < knobs.outlier_share
        trend = rng.random(n) < knobs.trend_share
        curve = trend & (rng.random(n) < 0.5)
        return cls(
            seed, taxonomy, months, knobs, ordered, names, systems, annual, outlier, trend, curve
        )

    # -- which facility has which dimension value --------------------------------------

    def codes(self, dim: str) -> list[str]:
        return self.taxonomy.dim_codes[dim]

    def sub_parent(self) -> IntArray:
        """Index of the parent service line of every sub-service line (-1 if unknown)."""
        if "vizientSubServiceLine" not in self._parent:
            lines = self.codes("vizientServiceLine")
            by_length = sorted(range(len(lines)), key=lambda i: -len(lines[i]))
            aliases = {"BMT": "Bone Marrow Transplant"}
            parents = []
            for code in self.codes("vizientSubServiceLine"):
                head = code.split(" - ")[0].split("- ")[0].strip()
                target = aliases.get(head)
                found = -1
                for i in by_length:
                    if code.startswith(lines[i]) or lines[i] == target:
                        found = i
                        break
                parents.append(found)
            self._parent["vizientSubServiceLine"] = np.array(parents, dtype=np.int64)
        return self._parent["vizientSubServiceLine"]

    def presence(self, dim: str) -> BoolArray:
        if dim in self._presence:
            return self._presence[dim]
        codes = self.codes(dim)
        k = len(codes)
        rng = _rng(self.seed, "presence", dim)
        a, b = DIM_PREVALENCE.get(dim, (2.0, 1.5))
        prevalence = rng.beta(a, b, size=k)
        if dim == "vizientSubServiceLine":
            prevalence = np.where(
                [("retired" in c or "only)" in c) for c in codes], prevalence * 0.15, prevalence
            )
        size = np.clip((self.annual / np.median(self.annual)) ** 0.3, 0.6, 1.4)
        chance = np.clip(prevalence[None, :] * size[:, None], 0.0, 0.99)
        present = rng.random((self.n, k)) < chance
        # Rare values: a few facilities only, so their peer group is suppressed.
        rare = rng.random(k) < self.knobs.suppressed_share
        if self.n > 1:
            for j in np.nonzero(rare)[0].tolist():
                count = int(rng.integers(1, min(formulas.AGGREGATE_MIN_PEER_COUNT, self.n)))
                present[:, j] = False
                present[rng.choice(self.n, size=count, replace=False), j] = True
        if dim == "vizientSubServiceLine":
            parent = self.sub_parent()
            line_present = self.presence("vizientServiceLine")
            ok = parent >= 0
            present[:, ~ok] = False
            present[:, ok] &= line_present[:, parent[ok]]
        else:
            # Every facility has at least one value of every dimension.
            empty = ~present.any(axis=1)
            present[empty, int(np.argmax(prevalence))] = True
        self._presence[dim] = present
        gamma = rng.gamma(1.0 + 6.0 * prevalence[None, :], size=(self.n, k)) * present
        if dim == "vizientSubServiceLine":
            parent = self.sub_parent()
            share = np.zeros_like(gamma)
            for line in np.unique(parent[parent >= 0]).tolist():
                cols = parent == line
                total = gamma[:, cols].sum(axis=1, keepdims=True)
                with np.errstate(invalid="ignore", divide="ignore"):
                    share[:, cols] = np.where(total > 0, gamma[:, cols] / total, 0.0)
        else:
            share = gamma / gamma.sum(axis=1, keepdims=True)
        self._share[dim] = share
        return present

    def share(self, dim: str) -> FloatArray:
        self.presence(dim)
        return self._share[dim]


@dataclass
class EntitySet:
    """The entities of one group-by set, sorted by their values, plus their volumes."""

    set_id: str
    dims: list[str]
    facility: IntArray
    codes: list[IntArray]
    keys: list[tuple[str, ...]]
    enc: IntArray  # (E, T) monthly encounters, 0 where missing
    observed: BoolArray  # (E, T)
    gappy: BoolArray  # (E,)
    exp_days: FloatArray
    obs_days: FloatArray
    unique: IntArray
    outliers: IntArray
    # Serialised pieces shared by every metric.
    entity_json: list[str] = field(default_factory=list)
    key_json: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    facility_meta: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.keys)

    def facet_index(self, universe: Universe) -> tuple[IntArray, list[tuple[str, ...]]]:
        """Facet (peer group) of every entity: its non-facility values. Facets sorted."""
        if len(self.dims) == 1:
            return np.zeros(self.size, dtype=np.int64), [()]
        combined = np.zeros(self.size, dtype=np.int64)
        for dim, codes in zip(self.dims[1:], self.codes, strict=True):
            combined = combined * len(universe.codes(dim)) + codes
        uniq, inverse = np.unique(combined, return_inverse=True)
        names: list[tuple[str, ...]] = []
        for value in uniq.tolist():
            parts: list[str] = []
            for dim in reversed(self.dims[1:]):
                k = len(universe.codes(dim))
                parts.append(universe.codes(dim)[value % k])
                value //= k
            names.append(tuple(reversed(parts)))
        order = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(order), dtype=np.int64)
        rank[np.array(order, dtype=np.int64)] = np.arange(len(order))
        return rank[inverse].astype(np.int64), [names[i] for i in order]


def build_entities(universe: Universe, set_id: str) -> EntitySet:
    tax = universe.taxonomy
    dims = tax.sets[set_id]
    extra = dims[1:]
    rng = _rng(universe.seed, "entities", set_id)
    n, months = universe.n, universe.months
    if not extra:
        fac = np.arange(n, dtype=np.int64)
        code_lists: list[IntArray] = []
        share = np.ones(n)
    elif len(extra) == 1:
        fac, c1 = np.nonzero(universe.presence(extra[0]))
        fac = fac.astype(np.int64)
        code_lists = [c1.astype(np.int64)]
        share = universe.share(extra[0])[fac, c1]
    else:
        first, second = extra[0], extra[1]
        p1 = universe.presence(first)
        p2 = universe.presence(second)
        if first == "vizientServiceLine" and second == "vizientSubServiceLine":
            relation = universe.sub_parent()[None, :] == np.arange(p1.shape[1])[:, None]
            mask = p1[:, :, None] & p2[:, None, :] & relation[None, :, :]
        else:
            keep = rng.random((n, p1.shape[1], p2.shape[1])) < THIN_EXTRA_DIM
            mask = p1[:, :, None] & p2[:, None, :] & keep
        fac, c1, c2 = np.nonzero(mask)
        fac = fac.astype(np.int64)
        code_lists = [c1.astype(np.int64), c2.astype(np.int64)]
        share = universe.share(first)[fac, c1] * universe.share(second)[fac, c2]
    vocab = [universe.codes(d) for d in extra]
    keys = [
        (universe.ids[f], *(vocab[j][c] for j, c in enumerate(cs)))
        for f, *cs in zip(fac.tolist(), *(c.tolist() for c in code_lists), strict=True)
    ]
    order = np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)
    keys = [keys[i] for i in order.tolist()]
    fac = fac[order] if order.size else fac
    code_lists = [c[order] for c in code_lists]
    share = share[order] if order.size else share
    size = len(keys)

    annual = np.maximum(universe.annual[fac] * share * rng.lognormal(0.0, 0.15, size), 3.0)
    weights = rng.gamma(20.0, size=(size, months))
    weights /= weights.sum(axis=1, keepdims=True)
    observed = np.ones((size, months), dtype=bool)
    gappy = np.zeros(size, dtype=bool)
    if extra and months >= 2:
        gappy = rng.random(size) < universe.knobs.missing_share
        count = int(gappy.sum())
        if count:
            kept = rng.integers(1, months, size=count)
            ranks = np.argsort(np.argsort(rng.random((count, months)), axis=1), axis=1)
            observed[gappy] = ranks < kept[:, None]
    enc = np.where(observed, np.maximum(1, np.rint(annual[:, None] * weights)), 0).astype(np.int64)
    base_exp = np.clip(rng.normal(6.8, 0.9, size), 2.5, None)
    exp_days = base_exp[:, None] + rng.normal(0.0, 0.35, (size, months))
    ratio = rng.normal(1.0, 0.1, size)
    obs_days = exp_days * ratio[:, None] * rng.normal(1.0, 0.06, (size, months))
    exp_days = np.where(observed, exp_days, np.nan)
    obs_days = np.where(observed, obs_days, np.nan)
    unique = np.where(
        observed, np.maximum(1, np.floor(enc * rng.uniform(0.86, 0.97, (size, months)))), 0
    ).astype(np.int64)
    outliers = np.where(observed, rng.binomial(enc, 0.002), 0).astype(np.int64)

    ents = EntitySet(
        set_id, dims, fac, code_lists, keys, enc, observed, gappy, exp_days, obs_days,
        unique, outliers,
    )  # fmt: skip
    _serialise_entities(universe, ents)
    return ents


def _serialise_entities(universe: Universe, ents: EntitySet) -> None:
    escaped: dict[str, str] = {}

    def esc(text: str) -> str:
        out = escaped.get(text)
        if out is None:
            out = escaped[text] = _jstr(text)
        return out

    display = " + ".join(_title(d) for d in ents.dims)
    for key, fac in zip(ents.keys, ents.facility.tolist(), strict=True):
        ents.entity_json.append(
            "["
            + ",".join(
                f'{{"id":"{d}","value":{esc(v)},"dataset_field":"{d}"}}'
                for d, v in zip(ents.dims, key, strict=True)
            )
            + "]"
        )
        ents.key_json.append(
            "{" + ",".join(f'"{d}":{esc(v)}' for d, v in zip(ents.dims, key, strict=True)) + "}"
        )
        ents.labels.append(f"{display} {' / '.join(key)}")
        ents.facility_meta.append(
            f'"systemName":{esc(universe.systems[fac])},"facility":{esc(universe.names[fac])}'
        )


# -- values and statistics ------------------------------------------------------------------------


@dataclass
class FacilityEffects:
    level: FloatArray
    slope: FloatArray
    curve: FloatArray


def facility_effects(universe: Universe, metric_id: str) -> FacilityEffects:
    rng = _rng(universe.seed, "facility-effects", metric_id)
    n = universe.n
    level = rng.normal(0.0, 0.55, n)
    sign = np.where(rng.random(n) < 0.6, 1.0, -1.0)
    level += universe.outlier_flag * sign * rng.uniform(2.0, 3.0, n)
    tsign = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    slope = rng.normal(0.0, 0.015, n) + universe.trend_flag * tsign * rng.uniform(0.08, 0.16, n)
    csign = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    curve = universe.curve_flag * csign * rng.uniform(0.004, 0.012, n)
    return FacilityEffects(level, slope, curve)


def metric_values(
    universe: Universe, ents: EntitySet, metric_id: str, effects: FacilityEffects
) -> FloatArray:
    """Monthly values (E, T) of one metric for one entity set; NaN where unobserved."""
    rng = _rng(universe.seed, "values", metric_id, ents.set_id)
    size, months = ents.size, universe.months
    mean, spread = METRIC_SCALES.get(metric_id, (10.0, 2.0))
    f = ents.facility
    if len(ents.dims) == 1:
        level = effects.level[f].copy()
        slope = effects.slope[f].copy()
        curve = effects.curve[f].copy()
    else:
        level = 0.7 * effects.level[f] + rng.normal(0.0, 0.35, size)
        for dim, codes in zip(ents.dims[1:], ents.codes, strict=True):
            code_effect = _rng(universe.seed, "code-effects", metric_id, dim).normal(
                0.0, 0.3, len(universe.codes(dim))
            )
            level += code_effect[codes]
        slope = 0.8 * effects.slope[f] + rng.normal(0.0, 0.02, size)
        curve = 0.8 * effects.curve[f]
    monthly_mean = np.maximum(ents.enc.sum(axis=1) / np.maximum(ents.observed.sum(axis=1), 1), 1)
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
    return np.where(ents.observed, values, np.nan)


@dataclass
class FacetStats:
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
    zs: FloatArray  # (E, T)
    zr: FloatArray
    mean_s: FloatArray
    mean_r: FloatArray
    latest_s: FloatArray
    latest_r: FloatArray
    pr_s: FloatArray
    pr_r: FloatArray
    peer_median: FloatArray
    peer_mad: FloatArray
    suppressed: BoolArray
    observations: IntArray
    slope: FloatArray
    acceleration: FloatArray
    delta: FloatArray
    slope_pct: FloatArray
    slope_suppressed: BoolArray
    facets: list[FacetStats]
    record_count: int
    pct_periods: FloatArray  # (5, T)
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
        std = formulas.population_std(x)
        median = float(np.median(x))
        mad = formulas.scaled_mad(x)
        count = int(rows.size)
        suppressed = count < formulas.AGGREGATE_MIN_PEER_COUNT
        out.peer_count[rows] = count
        out.facets.append(
            FacetStats(name, count, count, 0 if suppressed else count, mean, std, median, mad)
        )
        if suppressed:
            out.suppressed[rows] = True
            continue
        out.simple[rows] = (x - mean) / max(std, formulas.AGGREGATE_STD_FLOOR)
        out.robust[rows] = (x - median) / max(mad, formulas.MAD_FLOOR)
        out.peer_mean[rows] = mean
        out.peer_std[rows] = std
        out.percentile[rows] = formulas.midpoint_percentiles(x)
    return out


def trend_stats(
    values: FloatArray, facet: IntArray, facet_names: list[tuple[str, ...]]
) -> TrendStats:
    size, months = values.shape
    nan = np.full(size, np.nan)
    observed = ~np.isnan(values)
    obs_count = observed.sum(axis=1).astype(np.int64)
    out = TrendStats(
        zs=np.full((size, months), np.nan),
        zr=np.full((size, months), np.nan),
        mean_s=nan.copy(),
        mean_r=nan.copy(),
        latest_s=nan.copy(),
        latest_r=nan.copy(),
        pr_s=nan.copy(),
        pr_r=nan.copy(),
        peer_median=nan.copy(),
        peer_mad=nan.copy(),
        suppressed=np.zeros(size, dtype=bool),
        observations=obs_count,
        slope=nan.copy(),
        acceleration=nan.copy(),
        delta=nan.copy(),
        slope_pct=nan.copy(),
        slope_suppressed=obs_count < formulas.MIN_SLOPE_PERIODS,
        facets=[],
        record_count=int(observed.sum()),
        pct_periods=np.full((5, months), np.nan),
        sample_sizes=observed.sum(axis=0).astype(np.int64),
    )
    slope = formulas.ols_slopes(values)
    accel = formulas.accelerations(values)
    delta = formulas.end_start_deltas(values)
    ok = ~out.slope_suppressed
    out.slope[ok] = slope[ok]
    out.acceleration[ok] = accel[ok]
    out.delta[ok] = delta[ok]
    for name, rows in zip(facet_names, _facet_groups(facet, len(facet_names)), strict=True):
        sub = values[rows]
        flat = sub[~np.isnan(sub)]
        records = int(flat.size)
        suppressed = records < formulas.TRENDING_MIN_PEER_COUNT
        out.facets.append(
            FacetStats(
                name,
                int(rows.size),
                records,
                0 if suppressed else int(rows.size),
                float(np.mean(flat)) if records else math.nan,
                formulas.population_std(flat),
                float(np.median(flat)) if records else math.nan,
                formulas.scaled_mad(flat),
            )
        )
        slope_rows = rows[ok[rows]]
        out.slope_pct[slope_rows] = formulas.midpoint_percentiles(out.slope[slope_rows])
        if suppressed:
            out.suppressed[rows] = True
            continue
        _, means, stds = formulas.column_moments(sub)
        medians, mads = formulas.column_median_mad(sub)
        with np.errstate(invalid="ignore"):
            zs = (sub - means) / np.maximum(stds, formulas.TRENDING_STD_FLOOR)
            zr = (sub - medians) / np.maximum(mads, formulas.MAD_FLOOR)
        out.zs[rows] = zs
        out.zr[rows] = zr
        with np.errstate(invalid="ignore"):
            mean_s = np.nanmean(zs, axis=1)
            mean_r = np.nanmean(zr, axis=1)
        out.mean_s[rows] = mean_s
        out.mean_r[rows] = mean_r
        out.latest_s[rows] = zs[:, -1]
        out.latest_r[rows] = zr[:, -1]
        out.pr_s[rows] = formulas.midpoint_percentiles(mean_s)
        out.pr_r[rows] = formulas.midpoint_percentiles(mean_r)
        out.peer_median[rows] = medians[-1]
        out.peer_mad[rows] = mads[-1]
    out.pct_periods = formulas.numpy_percentiles(values, [10, 25, 50, 75, 90])
    return out


# -- classification ----------------------------------------------------------------------------------


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
    zz = 0.0 if math.isnan(z) else z
    position = position_of(zz)
    trend = trend_of(slope_pct)
    momentum = momentum_of(accel)
    consistency = "consistent" if (math.isnan(z_std) or z_std < CONSISTENT_STD) else "variable"
    has_spike = (
        not math.isnan(max_dev)
        and max_dev >= SPIKE_ABS_Z
        and not math.isnan(z_std)
        and z_std >= SPIKE_MIN_STD
    )
    high = position in {"elevated", "severe"}
    worsening = trend in {"worsening", "rapidly_worsening"}
    improving = trend in {"improving", "rapidly_improving"}
    if suppressed or period_count < MIN_CLASSIFY_PERIODS:
        kind = "suspect_data"
    elif high and trend == "rapidly_worsening" and momentum == "accelerating":
        kind = "critical_trajectory"
    elif high and worsening:
        kind = "chronic_underperformer"
    elif has_spike:
        kind = "volatility_alert"
    elif high and improving:
        kind = "recovering"
    elif position == "excellent" and not worsening:
        kind = "sustained_excellence"
    elif improving and position in {"normal", "favorable"}:
        kind = "improving_leader"
    elif worsening and position in {"normal", "marginal"}:
        kind = "emerging_risk"
    else:
        kind = "baseline"

    sp_text = "n/a" if math.isnan(slope_pct) else f"{slope_pct:.1f}"
    trend_text = trend.replace("_", " ")
    title = kind.replace("_", " ").capitalize()
    if kind == "suspect_data":
        if suppressed:
            reason = f"Suspect data: peer group below the minimum of {formulas.AGGREGATE_MIN_PEER_COUNT} entities; z-scores suppressed"
        else:
            reason = f"Suspect data: only {period_count} observed period(s), fewer than {MIN_CLASSIFY_PERIODS}"
        return Classification(
            kind, 50, 50, [], position, trend, momentum, consistency, has_spike, reason
        )
    if kind == "volatility_alert":
        reason = (
            f"Volatility alert: spike to |z| {max_dev:.2f} with z-score std {z_std:.2f} "
            f"around mean z {zz:.2f}"
        )
    elif kind == "critical_trajectory":
        reason = (
            f"Critical trajectory: {position} position (z {zz:.2f}) with rapidly worsening, "
            f"accelerating trend (slope percentile {sp_text}, acceleration {accel:.4f})"
        )
    else:
        reason = f"{title}: {position} position (z {zz:.2f}) with {trend_text} trend (slope percentile {sp_text})"

    low, high_bound = SEVERITY_RANGES[kind]
    fraction = min(max((zz + 2.0) / 4.0, 0.0), 1.0)
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
    return Classification(
        kind, final, base, refinements, position, trend, momentum, consistency, has_spike, reason
    )


# -- the run writer ------------------------------------------------------------------------------


@dataclass
class TaskResult:
    """What one node task wrote (merged by the main process, in task order)."""

    index: int
    node_counts: dict[str, int] = field(default_factory=dict)
    artifacts: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    distribution: dict[str, int] = field(default_factory=dict)
    severities: list[int] = field(default_factory=list)
    files: int = 0
    jsonl_bytes: int = 0
    total_bytes: int = 0
    entity_lines: int = 0
    contribution_lines: int = 0
    classification_lines: int = 0


#: Seconds after ``started_at`` of the contribution and classification stages; each node
#: task gets its own slot so timestamps never depend on how tasks were scheduled.
_CONTRIB_BASE = 420.0
_TASK_SLOT = 30.0
_CSV_HEADER_TAIL = CSV_FIXED[3:]  # the columns after run_id, node_id, metric_id and the dimensions


#: Entities are serialised in blocks, so a node's text never sits in memory at once.
_BLOCK = 4096
_ENTITY_ROWS = (
    "facility",
    "keys",
    "enc",
    "observed",
    "gappy",
    "exp_days",
    "obs_days",
    "unique",
    "outliers",
    "entity_json",
    "key_json",
    "labels",
    "facility_meta",
)
_AGG_ROWS = (
    "value",
    "simple",
    "robust",
    "peer_mean",
    "peer_std",
    "percentile",
    "peer_count",
    "suppressed",
)
_TREND_ROWS = (
    "zs",
    "zr",
    "mean_s",
    "mean_r",
    "latest_s",
    "latest_r",
    "pr_s",
    "pr_r",
    "peer_median",
    "peer_mad",
    "suppressed",
    "observations",
    "slope",
    "acceleration",
    "delta",
    "slope_pct",
    "slope_suppressed",
)


def _blocks(size: int) -> Iterator[slice]:
    for start in range(0, size, _BLOCK):
        yield slice(start, min(start + _BLOCK, size))


def _rows_of(obj: Any, names: Sequence[str], rows: slice) -> Any:
    """A shallow copy of a per-entity dataclass restricted to a block of entities."""
    return replace(obj, **{name: getattr(obj, name)[rows] for name in names})


def _part(index: int, suffix: str) -> str:
    return f"analysis/classification/.part-{index:05d}.{suffix}"


def _run_task(
    options: GenerateOptions, taxonomy: Taxonomy, run_dir: Path, index: int, agg_id: str
) -> TaskResult:
    """Worker entry point: one aggregate node, its temporal twin, its contributions."""
    return RunWriter(options, taxonomy, run_dir).write_task(index, agg_id)


class RunWriter:
    """Writes one run folder; call ``write()`` once.

    The work is split into *node tasks*, one per aggregate node: the task writes the
    aggregate node, its temporal twin, the contribution files where the node is the child
    of a ``segments_into`` edge, and its classification rows into part files that the main
    process concatenates in node order. Tasks depend only on (options, node), so they run
    in parallel worker processes and the bytes do not depend on the worker count.
    """

    def __init__(self, options: GenerateOptions, taxonomy: Taxonomy, run_dir: Path) -> None:
        self.opt = options
        self.tax = taxonomy
        self.run_dir = run_dir
        self.run_id = options.run_id or default_run_id(options.seed)
        self.clock = _Clock(self.run_id)
        self.prod_root = f"{RUNS_ROOT}/{options.graph}/{self.run_id}"
        self.metric_ids = taxonomy.metric_ids(options.metrics)
        self.set_ids = resolve_sets(taxonomy, options.group_by_sets)
        self.graph = build_graph(taxonomy, self.metric_ids, self.set_ids)
        self.node_by_id = {n.id: n for n in self.graph.nodes}
        self.agg_ids = [n.id for n in self.graph.nodes if not n.temporal]
        self.months = options.months
        self.periods = [
            _period_add(options.end_period, i - options.months + 1) for i in range(options.months)
        ]
        self.dash_periods = [f"{p[:4]}-{p[4:]}" for p in self.periods]
        self.universe = Universe.build(
            options.seed, taxonomy, options.facilities, options.months, options.knobs
        )
        self.result = GenerateResult(
            run_dir, self.run_id, options.facilities, len(self.graph.nodes), len(self.graph.edges)
        )
        self.acc = TaskResult(-1)
        self._entity_sets: dict[str, EntitySet] = {}
        self._effects: dict[str, FacilityEffects] = {}
        self._agg_cache: dict[str, tuple[EntitySet, AggregateStats]] = {}
        self._node_counts: dict[str, int] = {}
        self._artifacts: dict[str, list[tuple[str, str, int]]] = {}
        self._severities: list[int] = []
        self._distribution: dict[str, int] = {}
        dims_union: set[str] = set()
        for set_id in self.set_ids:
            dims_union.update(taxonomy.sets[set_id])
        self.class_dims = sorted(dims_union)

    # -- files ------------------------------------------------------------------------

    def _path(self, rel: str) -> Path:
        path = self.run_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _write_text(self, rel: str, text: str, encoding: str = "ascii") -> None:
        data = text.encode(encoding)
        self._path(rel).write_bytes(data)
        self.acc.files += 1
        self.acc.total_bytes += len(data)

    def _open(self, rel: str, count: bool = True) -> TextIO:
        if count:
            self.acc.files += 1
        return open(self._path(rel), "w", encoding="ascii", newline="\n", buffering=_BUFFER)

    def _jsonl_done(self, rel: str) -> None:
        size = (self.run_dir / rel).stat().st_size
        self.acc.jsonl_bytes += size
        self.acc.total_bytes += size

    # -- top level ---------------------------------------------------------------------

    def write(self) -> GenerateResult:
        started = time.perf_counter()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._write_config_files()
        results = self._run_tasks()
        for task in sorted(results, key=lambda r: r.index):
            self._merge(task)
        self._concatenate_parts(len(results))
        self._write_index_files()
        acc = self.acc
        result = self.result
        result.files = acc.files
        result.jsonl_bytes = acc.jsonl_bytes
        result.total_bytes = acc.total_bytes
        result.entity_lines = acc.entity_lines
        result.contribution_lines = acc.contribution_lines
        result.classification_lines = acc.classification_lines
        result.signal_types = dict(self._distribution)
        result.seconds = time.perf_counter() - started
        return result

    def _workers(self) -> int:
        wanted = self.opt.workers or min(2, os.cpu_count() or 1)
        return max(1, min(wanted, len(self.agg_ids)))

    def _run_tasks(self) -> list[TaskResult]:
        workers = self._workers()
        if workers == 1:
            return [self.write_task(i, agg_id) for i, agg_id in enumerate(self.agg_ids)]
        # Largest nodes first, so that two workers finish at about the same time.
        order = sorted(
            range(len(self.agg_ids)),
            key=lambda i: -self._expected_entities(self.node_by_id[self.agg_ids[i]].set_id),
        )
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [
                pool.submit(_run_task, self.opt, self.tax, self.run_dir, i, self.agg_ids[i])
                for i in order
            ]
            return [f.result() for f in futures]

    def _expected_entities(self, set_id: str) -> float:
        dims = self.tax.sets[set_id]
        count = float(self.universe.n)
        for dim in dims[1:]:
            count *= float(self.universe.presence(dim).mean()) * len(self.universe.codes(dim))
        return count * (THIN_EXTRA_DIM ** max(0, len(dims) - 2))

    def _merge(self, task: TaskResult) -> None:
        acc = self.acc
        acc.files += task.files
        acc.jsonl_bytes += task.jsonl_bytes
        acc.total_bytes += task.total_bytes
        acc.entity_lines += task.entity_lines
        acc.contribution_lines += task.contribution_lines
        acc.classification_lines += task.classification_lines
        self._node_counts.update(task.node_counts)
        for parent, items in task.artifacts.items():
            self._artifacts.setdefault(parent, []).extend(items)
        for kind, count in task.distribution.items():
            self._distribution[kind] = self._distribution.get(kind, 0) + count
        self._severities.extend(task.severities)

    def _concatenate_parts(self, count: int) -> None:
        """Classification rows were written per task; join them in node order."""
        jsonl_rel = "analysis/classification/classifications.jsonl"
        csv_rel = "analysis/classification/classification_summary.csv"
        header = ["run_id", "node_id", "metric_id", *self.class_dims, *_CSV_HEADER_TAIL]
        with (
            open(self._path(jsonl_rel), "wb") as jsonl_out,
            open(self._path(csv_rel), "wb") as csv_out,
        ):
            csv_out.write((",".join(header) + "\n").encode("utf-8"))
            for index in range(count):
                for rel, out in (
                    (_part(index, "jsonl"), jsonl_out),
                    (_part(index, "csv"), csv_out),
                ):
                    part = self.run_dir / rel
                    with open(part, "rb") as src:
                        shutil.copyfileobj(src, out, _BUFFER)
                    part.unlink()
        self.acc.files += 2
        self._jsonl_done(jsonl_rel)
        self.acc.total_bytes += (self.run_dir / csv_rel).stat().st_size

    def _entities(self, set_id: str) -> EntitySet:
        if set_id not in self._entity_sets:
            self._entity_sets[set_id] = build_entities(self.universe, set_id)
        return self._entity_sets[set_id]

    def _facility_effects(self, metric: str) -> FacilityEffects:
        if metric not in self._effects:
            self._effects[metric] = facility_effects(self.universe, metric)
        return self._effects[metric]

    def _compute(
        self, agg: NodeSpec
    ) -> tuple[EntitySet, FloatArray, IntArray, list[tuple[str, ...]], AggregateStats]:
        ents = self._entities(agg.set_id)
        values = metric_values(
            self.universe, ents, agg.metric_id, self._facility_effects(agg.metric_id)
        )
        facet, facet_names = ents.facet_index(self.universe)
        enc = ents.enc.astype(np.float64)
        with np.errstate(invalid="ignore"):
            agg_values = np.nansum(values * enc, axis=1) / enc.sum(axis=1)
        astats = aggregate_stats(agg_values, facet, facet_names)
        self._agg_cache[agg.id] = (ents, astats)
        return ents, values, facet, facet_names, astats

    def _aggregate_of(self, node: NodeSpec) -> tuple[EntitySet, AggregateStats]:
        if node.id not in self._agg_cache:
            self._compute(node)
        return self._agg_cache[node.id]

    def write_task(self, index: int, agg_id: str) -> TaskResult:
        """Write one aggregate node, its temporal twin, contributions and classifications."""
        previous = self.acc
        self.acc = task = TaskResult(index)
        agg = self.node_by_id[agg_id]
        trend_node = next(e.target for e in self.graph.children(agg) if e.type == "trends_to")
        ents, values, facet, facet_names, astats = self._compute(agg)
        tstats = trend_stats(values, facet, facet_names)
        self._write_trend_node(trend_node, ents, values, tstats, task)
        self._write_agg_node(agg, ents, astats, task)
        self._write_classifications(agg, ents, tstats, astats, task)
        for edge in self.graph.parents(agg):
            if edge.type == "segments_into":
                parent_ents, parent_stats = self._aggregate_of(edge.source)
                self._write_contributions(edge, parent_ents, parent_stats, ents, astats, task)
        self.acc = previous
        return task

    # -- node files ---------------------------------------------------------------------

    def _header(self, node: NodeSpec, methods: list[dict[str, Any]], count: int) -> str:
        children = [
            {"canonical_child_node_id": e.target.id, "edge_type": e.type}
            for e in self.graph.children(node)
        ]
        parents = [
            {"canonical_parent_node_id": e.source.id, "edge_type": e.type}
            for e in self.graph.parents(node)
        ]
        summary: dict[str, Any] = {"entity_scope": self._entity_scope(node)}
        if node.temporal:
            summary["temporal_context"] = self._temporal_context()
        header = {
            "type": "node_metadata",
            "canonical_node_id": node.id,
            "canonical_child_node_ids": children,
            "canonical_parent_node_ids": parents,
            "metric_id": node.metric_id,
            "dataset_path": self._dataset_path(node),
            "summary": summary,
            "statistical_methods": methods,
            "entity_results_count": count,
        }
        return dumps_compact(header) + "\n"

    def _entity_scope(self, node: NodeSpec) -> dict[str, str]:
        return {
            "display_name": " + ".join(_title(d) for d in node.dims),
            "comparison_group": COMPARISON_GROUP,
        }

    def _temporal_context(self) -> dict[str, Any]:
        return {
            "time_grain": TIME_GRAIN,
            "start_period": self.periods[0],
            "end_period": self.periods[-1],
            "period_count": self.months,
        }

    def _dataset_path(self, node: NodeSpec) -> str:
        tags = "".join("_" + DIM_FILE_TAGS.get(d, d.lower()) for d in node.dims[1:])
        stem = "patient-outcomes" if node.metric_id.startswith("los") else "icu-outcomes"
        grain = "m" if node.temporal else "y"
        return f"{APP_ROOT}/data/{stem}_medicareid_{grain}{tags}__synth.csv"

    @staticmethod
    def _facet_values(node: NodeSpec, facet: FacetStats) -> dict[str, str]:
        return dict(zip(node.dims[1:], facet.values, strict=True))

    def _summary(
        self, node: NodeSpec, facets: list[dict[str, Any]], records: int, extra: dict[str, Any]
    ) -> dict[str, Any]:
        stats_block: dict[str, Any] = {
            "group_by_columns": list(node.dims),
            "facets": facets,
            "aggregate_statistics": {"global_record_count": records},
        }
        stats_block.update(extra)
        return {"global_statistics": stats_block}

    @staticmethod
    def _f(value: float) -> float | None:
        return None if math.isnan(value) else value

    def _header_facets(
        self, node: NodeSpec, facets: Sequence[Any], std_floor: float, min_peer_count: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The header facets of the simple and the robust z-score methods (spec 5.2)."""
        simple_facets = []
        robust_facets = []
        for facet in facets:
            counts = {
                "record_count": facet.record_count,
                "entity_count": facet.entity_count,
                "entity_with_statistics_count": facet.with_stats,
            }
            values = self._facet_values(node, facet)
            simple_facets.append(
                {
                    "facet_values": values,
                    "facet_counts": counts,
                    "method_statistics": {
                        "global_metric_mean": self._f(facet.mean),
                        "global_metric_std": self._f(facet.std),
                        "std_floor": std_floor,
                        "std_floor_applied": bool(facet.std < std_floor),
                        "min_peer_count": min_peer_count,
                    },
                    "warnings": [],
                }
            )
            robust_facets.append(
                {
                    "facet_values": values,
                    "facet_counts": counts,
                    "method_statistics": {
                        "global_metric_mean": self._f(facet.mean),
                        "global_metric_median": self._f(facet.median),
                        "global_mad": self._f(facet.mad),
                        "mad_floor": formulas.MAD_FLOOR,
                        "mad_floor_applied": bool(facet.mad < formulas.MAD_FLOOR),
                        "winsor_percentile": 0.0,
                        "winsor_applied": False,
                        "min_peer_count": min_peer_count,
                    },
                    "warnings": [],
                }
            )
        return simple_facets, robust_facets

    def _agg_header_methods(self, node: NodeSpec, astats: AggregateStats) -> list[dict[str, Any]]:
        simple_facets, robust_facets = self._header_facets(
            node, astats.facets, formulas.AGGREGATE_STD_FLOOR, formulas.AGGREGATE_MIN_PEER_COUNT
        )
        records = int(astats.value.size)
        return [
            {
                "statistical_method": METHOD_SIMPLE_ZSCORE,
                "summary": self._summary(node, simple_facets, records, {}),
            },
            {
                "statistical_method": METHOD_ROBUST_ZSCORE,
                "summary": self._summary(node, robust_facets, records, {}),
            },
        ]

    def _trend_header_methods(self, node: NodeSpec, tstats: TrendStats) -> list[dict[str, Any]]:
        simple_facets, robust_facets = self._header_facets(
            node, tstats.facets, formulas.TRENDING_STD_FLOOR, formulas.TRENDING_MIN_PEER_COUNT
        )
        pct = tstats.pct_periods
        sizes = tstats.sample_sizes.tolist()
        small = [s < formulas.TRENDING_MIN_PEER_COUNT for s in sizes]
        trends: dict[str, Any] = {"periods": list(self.periods)}
        for i, name in enumerate(("p10", "p25", "p50", "p75", "p90")):
            trends[name] = [
                None if (flag or math.isnan(v)) else v
                for v, flag in zip(pct[i].tolist(), small, strict=True)
            ]
        trends["sample_sizes"] = sizes
        trends["suppression_applied"] = {
            name: list(small) for name in ("p10", "p25", "p50", "p75", "p90")
        }
        return [
            {
                "statistical_method": METHOD_TRENDING_SIMPLE_ZSCORE,
                "summary": self._summary(node, simple_facets, tstats.record_count, {}),
            },
            {
                "statistical_method": METHOD_TRENDING_ROBUST_ZSCORE,
                "summary": self._summary(
                    node, robust_facets, tstats.record_count, {"percentile_trends": trends}
                ),
            },
            {"statistical_method": METHOD_SLOPE_PERCENTILE},
        ]

    def _write_lines(self, rel: str, header: str, lines: Iterable[str]) -> None:
        """Write a JSONL file in chunks (bounded memory) and account for it."""
        with self._open(rel) as out:
            if header:
                out.write(header)
            buf: list[str] = []
            for line in lines:
                buf.append(line)
                if len(buf) >= _CHUNK_LINES:
                    out.write("".join(buf))
                    buf.clear()
            out.write("".join(buf))
        self._jsonl_done(rel)

    def _write_agg_node(
        self, node: NodeSpec, ents: EntitySet, astats: AggregateStats, task: TaskResult
    ) -> None:
        task.node_counts[node.id] = ents.size
        task.entity_lines += ents.size
        header = self._header(node, self._agg_header_methods(node, astats), ents.size)
        lines = (
            line
            for sl in _blocks(ents.size)
            for line in self._agg_lines(
                node, _rows_of(ents, _ENTITY_ROWS, sl), _rows_of(astats, _AGG_ROWS, sl)
            )
        )
        self._write_lines(f"results/nodes/{node.file_name}", header, lines)

    def _agg_lines(self, node: NodeSpec, ents: EntitySet, astats: AggregateStats) -> Iterator[str]:
        labels = (*TIER_LABELS, NO_SCORE)
        simple_lab = [labels[i] for i in formulas.tier_indices(astats.simple).tolist()]
        robust_lab = [labels[i] for i in formulas.tier_indices(astats.robust).tolist()]
        value_s = _cells(astats.value)
        simple_s = _cells(astats.simple)
        robust_s = _cells(astats.robust)
        simple_f = astats.simple.tolist()
        robust_f = astats.robust.tolist()
        pm_s = _cells(astats.peer_mean)
        ps_s = _cells(astats.peer_std)
        pr_s = _cells(astats.percentile)
        sup_s = ["true" if s else "false" for s in astats.suppressed.tolist()]
        peers = [str(p) for p in astats.peer_count.tolist()]
        enc_s = _cells(ents.enc.sum(axis=1).astype(np.float64))
        out_s = _cells(ents.outliers.sum(axis=1).astype(np.float64))
        uniq_s = _cells(ents.unique.sum(axis=1).astype(np.float64))
        wsum = ents.enc.sum(axis=1)
        with np.errstate(invalid="ignore"):
            obs_s = _cells(np.nansum(ents.obs_days * ents.enc, axis=1) / wsum)
            exp_s = _cells(np.nansum(ents.exp_days * ents.enc, axis=1) / wsum)
            var_s = _cells(np.nansum((ents.obs_days - ents.exp_days) * ents.enc, axis=1))
        g = COMPARISON_GROUP
        runtime = (
            '"runtime":{"status":"ok","summary":{"has_issues":false,"highest_severity":"ok",'
            '"severity_counts":{}},"issues":[],"anomaly_statistics":{"peer_count":'
        )
        head_metric = f'"metric":[{{"metadata":{{"metric_id":"{node.metric_id}"}},"values":'
        simple_head = (
            f'{{"statistical_method":"{METHOD_SIMPLE_ZSCORE}","statistics":{{"simple_zscore":'
        )
        simple_item = (
            f'"anomalies":[{{"anomaly_profile":"{METHOD_CONTRACTS[METHOD_SIMPLE_ZSCORE][0]}","methods":[{{'
            f'"anomaly_method":"{METHOD_CONTRACTS[METHOD_SIMPLE_ZSCORE][1][0]}","anomaly":"'
        )
        simple_tpl = TEMPLATE_PREFIX_BY_METHOD[METHOD_SIMPLE_ZSCORE]["simple_zscore"]
        robust_head = (
            f'{{"statistical_method":"{METHOD_ROBUST_ZSCORE}","statistics":{{"robust_zscore":'
        )
        robust_item = (
            f'"anomalies":[{{"anomaly_profile":"{METHOD_CONTRACTS[METHOD_ROBUST_ZSCORE][0]}","methods":[{{'
            f'"anomaly_method":"{METHOD_CONTRACTS[METHOD_ROBUST_ZSCORE][1][0]}","anomaly":"'
        )
        robust_tpl = TEMPLATE_PREFIX_BY_METHOD[METHOD_ROBUST_ZSCORE]["robust_zscore"]
        tx_simple = RENDER_TEXTS[(METHOD_SIMPLE_ZSCORE, "simple_zscore")]
        tx_robust = RENDER_TEXTS[(METHOD_ROBUST_ZSCORE, "robust_zscore")]
        for i in range(ents.size):
            e = ents.labels[i]
            ls, lr = simple_lab[i], robust_lab[i]
            yield (
                f'{{"entity":{ents.entity_json[i]},{head_metric}{value_s[i]}}}],"metadata":{{'
                f'"encounters":{enc_s[i]},{ents.facility_meta[i]},"losOutliers":{out_s[i]},'
                f'"uniquePatients":{uniq_s[i]},"losMeanObservedDays":{obs_s[i]},'
                f'"losMeanExpectedDays":{exp_s[i]},"losVarianceDays":{var_s[i]}}},'
                f'"statistical_methods":[{simple_head}{simple_s[i]},"peer_mean":{pm_s[i]},'
                f'"peer_std":{ps_s[i]},"percentile_rank":{pr_s[i]},"suppressed":{sup_s[i]}}},'
                f'{simple_item}{ls}","statistic_value":{simple_s[i]},"applies_to":"simple_zscore",'
                f'"interpretation":{{"template_id":"{simple_tpl}{ls}","rendered":'
                f"{_jstr(tx_simple[ls].format(e=e, g=g, v=_fmt4(simple_f[i])))}}}}}]}}],"
                f"{runtime}{peers[i]}}}}}}},{robust_head}{robust_s[i]},"
                f'"suppressed":{sup_s[i]}}},{robust_item}{lr}","statistic_value":{robust_s[i]},'
                f'"applies_to":"robust_zscore","interpretation":{{"template_id":"{robust_tpl}{lr}",'
                f'"rendered":{_jstr(tx_robust[lr].format(e=e, g=g, v=_fmt4(robust_f[i])))}}}}}]}}],'
                f"{runtime}{peers[i]}}}}}}}]}}\n"
            )

    def _write_trend_node(
        self, node: NodeSpec, ents: EntitySet, values: FloatArray, ts: TrendStats, task: TaskResult
    ) -> None:
        task.node_counts[node.id] = ents.size
        task.entity_lines += ents.size
        header = self._header(node, self._trend_header_methods(node, ts), ents.size)
        lines = (
            line
            for sl in _blocks(ents.size)
            for line in self._trend_lines(
                node,
                _rows_of(ents, _ENTITY_ROWS, sl),
                values[sl],
                _rows_of(ts, _TREND_ROWS, sl),
            )
        )
        self._write_lines(f"results/nodes/{node.file_name}", header, lines)

    def _per_period_strings(
        self, ents: EntitySet
    ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Per entity: the metadata ``per_period`` arrays and top-level sums, as JSON text."""
        period_fmt = ",".join(f'{{"period":"{p}","value":%s}}' for p in self.dash_periods)
        gappy = np.logical_not(ents.observed.all(axis=1)).astype(bool).tolist()
        observed = ents.observed
        matrices: dict[str, npt.NDArray[Any]] = {
            "encounters": ents.enc,
            "losOutliers": ents.outliers,
            "uniquePatients": ents.unique,
            "losMeanObservedDays": ents.obs_days,
            "losMeanExpectedDays": ents.exp_days,
            "losVarianceDays": (ents.obs_days - ents.exp_days) * ents.enc,
        }
        per_period: dict[str, list[str]] = {}
        totals: dict[str, list[str]] = {}
        for column, matrix in matrices.items():
            rows = _rows(matrix)
            if column in _INT_COLUMNS:
                # Integer columns: missing months are 0 in the matrix and null in the file.
                totals[column] = [str(v) for v in matrix.sum(axis=1).tolist()]
                formatted = []
                for i, row in enumerate(rows):
                    cells = row.split(",")
                    if gappy[i]:
                        flags = observed[i].tolist()
                        cells = [c if ok else "null" for c, ok in zip(cells, flags, strict=True)]
                    formatted.append(period_fmt % tuple(cells))
                per_period[column] = formatted
            else:
                totals[column] = _cells(np.nansum(matrix, axis=1))
                per_period[column] = [period_fmt % tuple(row.split(",")) for row in rows]
        return per_period, totals

    def _trend_lines(
        self, node: NodeSpec, ents: EntitySet, values: FloatArray, ts: TrendStats
    ) -> Iterator[str]:
        months = values.shape[1]
        labels = (*TIER_LABELS, NO_SCORE)

        def tier(arr: FloatArray, bounds: Sequence[float] = formulas.Z_BOUNDS) -> list[str]:
            return [labels[i] for i in formulas.tier_indices(arr, bounds).tolist()]

        lab_ls, lab_ms = tier(ts.latest_s), tier(ts.mean_s)
        lab_lr, lab_mr = tier(ts.latest_r), tier(ts.mean_r)
        lab_sp = tier(ts.slope_pct, formulas.PERCENTILE_BOUNDS)
        timeline_fmt = ",".join(f'{{"period":"{p}","value":%s}}' for p in self.periods)
        value_rows = _rows(values)
        zs_rows = _rows(ts.zs)
        zr_rows = _rows(ts.zr)
        per_period, totals = self._per_period_strings(ents)
        pp_enc, pp_out, pp_uniq = (
            per_period["encounters"],
            per_period["losOutliers"],
            per_period["uniquePatients"],
        )
        pp_obs, pp_exp, pp_var = (
            per_period["losMeanObservedDays"],
            per_period["losMeanExpectedDays"],
            per_period["losVarianceDays"],
        )
        t_enc, t_out, t_uniq = totals["encounters"], totals["losOutliers"], totals["uniquePatients"]
        t_obs, t_exp, t_var = (
            totals["losMeanObservedDays"],
            totals["losMeanExpectedDays"],
            totals["losVarianceDays"],
        )
        obs = [str(o) for o in ts.observations.tolist()]
        missing = [str(months - o) for o in ts.observations.tolist()]
        coverage = _cells(ts.observations / float(months))
        mean_s, mean_r = _cells(ts.mean_s), _cells(ts.mean_r)
        latest_s, latest_r = _cells(ts.latest_s), _cells(ts.latest_r)
        mean_sf, mean_rf = ts.mean_s.tolist(), ts.mean_r.tolist()
        latest_sf, latest_rf = ts.latest_s.tolist(), ts.latest_r.tolist()
        pr_s, pr_r = _cells(ts.pr_s), _cells(ts.pr_r)
        pmed, pmad = _cells(ts.peer_median), _cells(ts.peer_mad)
        pmed4 = [_fmt4(x) for x in ts.peer_median.tolist()]
        slope, accel, delta = _cells(ts.slope), _cells(ts.acceleration), _cells(ts.delta)
        spct = _cells(ts.slope_pct)
        spct_f = ts.slope_pct.tolist()
        sup = ["true" if s else "false" for s in ts.suppressed.tolist()]
        ssup = ["true" if s else "false" for s in ts.slope_suppressed.tolist()]
        direction = [
            "null" if math.isnan(s) else ('"increasing"' if s > 0 else '"decreasing"')
            for s in ts.slope.tolist()
        ]
        momentum = [
            "null" if math.isnan(s) else ('"gaining"' if a > 0 else '"slowing"')
            for s, a in zip(ts.slope.tolist(), ts.acceleration.tolist(), strict=True)
        ]
        latest_period = self.dash_periods[-1]
        metric_id = node.metric_id
        ml = "LOS index" if metric_id == "losIndex" else self.tax.metrics[metric_id]["display_name"]
        g = COMPARISON_GROUP
        runtime = (
            '"runtime":{"status":"ok","summary":{"has_issues":false,"highest_severity":"ok",'
            '"severity_counts":{}},"issues":[]}'
        )
        am_ts, am_tr = (
            METHOD_CONTRACTS[METHOD_TRENDING_SIMPLE_ZSCORE][1],
            METHOD_CONTRACTS[METHOD_TRENDING_ROBUST_ZSCORE][1],
        )
        am_sl = METHOD_CONTRACTS[METHOD_SLOPE_PERCENTILE][1][0]
        tpl = {
            **TEMPLATE_PREFIX_BY_METHOD[METHOD_TRENDING_SIMPLE_ZSCORE],
            **TEMPLATE_PREFIX_BY_METHOD[METHOD_TRENDING_ROBUST_ZSCORE],
        }
        tpl_sp = TEMPLATE_PREFIX_BY_METHOD[METHOD_SLOPE_PERCENTILE]["slope_percentile"]
        tx_ls = RENDER_TEXTS[(METHOD_TRENDING_SIMPLE_ZSCORE, "latest_simple_zscore")]
        tx_ms = RENDER_TEXTS[(METHOD_TRENDING_SIMPLE_ZSCORE, "mean_simple_zscore")]
        tx_lr = RENDER_TEXTS[(METHOD_TRENDING_ROBUST_ZSCORE, "latest_robust_zscore")]
        tx_mr = RENDER_TEXTS[(METHOD_TRENDING_ROBUST_ZSCORE, "mean_robust_zscore")]
        tx_sp = RENDER_TEXTS[(METHOD_SLOPE_PERCENTILE, "slope_percentile")]
        head_metric = (
            f'"metric":[{{"metadata":{{"metric_id":"{metric_id}"}},"values":{{"timeline":['
        )
        ts_head = f'{{"statistical_method":"{METHOD_TRENDING_SIMPLE_ZSCORE}","statistics":{{"mean_simple_zscore":'
        tr_head = f'{{"statistical_method":"{METHOD_TRENDING_ROBUST_ZSCORE}","statistics":{{"mean_robust_zscore":'
        sl_head = f'{{"statistical_method":"{METHOD_SLOPE_PERCENTILE}","statistics":{{"slope":'
        ts_prof = f'"anomalies":[{{"anomaly_profile":"{METHOD_CONTRACTS[METHOD_TRENDING_SIMPLE_ZSCORE][0]}","methods":['
        tr_prof = f'"anomalies":[{{"anomaly_profile":"{METHOD_CONTRACTS[METHOD_TRENDING_ROBUST_ZSCORE][0]}","methods":['
        sl_prof = f'"anomalies":[{{"anomaly_profile":"{METHOD_CONTRACTS[METHOD_SLOPE_PERCENTILE][0]}","methods":['

        def item(am: str, label: str, value: str, applies: str, prefix: str, text: str) -> str:
            return (
                f'{{"anomaly_method":"{am}","anomaly":"{label}","statistic_value":{value},'
                f'"applies_to":"{applies}","interpretation":{{"template_id":"{prefix}{label}",'
                f'"rendered":{_jstr(text)}}}}}'
            )

        for i in range(ents.size):
            e = ents.labels[i]
            l_ls, l_ms, l_lr, l_mr, l_sp = lab_ls[i], lab_ms[i], lab_lr[i], lab_mr[i], lab_sp[i]
            v_ls, v_ms = _fmt4(latest_sf[i]), _fmt4(mean_sf[i])
            v_lr, v_mr = _fmt4(latest_rf[i]), _fmt4(mean_rf[i])
            med = pmed4[i]
            methods_ts = (
                item(am_ts[0], l_ls, latest_s[i], "latest_simple_zscore", tpl["latest_simple_zscore"],
                     tx_ls[l_ls].format(e=e, g=g, v=v_ls))
                + ","
                + item(am_ts[1], l_ms, mean_s[i], "mean_simple_zscore", tpl["mean_simple_zscore"],
                       tx_ms[l_ms].format(e=e, g=g, v=v_ms))
            )  # fmt: skip
            methods_tr = (
                item(am_tr[0], l_lr, latest_r[i], "latest_robust_zscore", tpl["latest_robust_zscore"],
                     tx_lr[l_lr].format(e=e, g=g, v=v_lr, med=med, mean=v_mr, ml=ml, p=latest_period))
                + ","
                + item(am_tr[1], l_mr, mean_r[i], "mean_robust_zscore", tpl["mean_robust_zscore"],
                       tx_mr[l_mr].format(e=e, g=g, v=v_mr, med=med, lat=v_lr, ml=ml))
            )  # fmt: skip
            method_sp = item(
                am_sl, l_sp, spct[i], "slope_percentile", tpl_sp,
                tx_sp[l_sp].format(e=e, g=g, v=_fmt4(spct_f[i])),
            )  # fmt: skip
            yield (
                f'{{"entity":{ents.entity_json[i]},{head_metric}'
                f"{timeline_fmt % tuple(value_rows[i].split(','))}]}},"
                f'"temporal_runtime":{{"observed_count":{obs[i]},"missing_count":{missing[i]},'
                f'"coverage_ratio":{coverage[i]},"fill_strategy":"null"}}}}],'
                f'"metadata":{{"encounters":{t_enc[i]},{ents.facility_meta[i]},'
                f'"losOutliers":{t_out[i]},"uniquePatients":{t_uniq[i]},'
                f'"losMeanObservedDays":{t_obs[i]},"losMeanExpectedDays":{t_exp[i]},'
                f'"losVarianceDays":{t_var[i]},"per_period":{{"encounters":[{pp_enc[i]}],'
                f'"losOutliers":[{pp_out[i]}],"uniquePatients":[{pp_uniq[i]}],'
                f'"losMeanObservedDays":[{pp_obs[i]}],"losMeanExpectedDays":[{pp_exp[i]}],'
                f'"losVarianceDays":[{pp_var[i]}]}}}},"statistical_methods":['
                f'{ts_head}{mean_s[i]},"observations":{obs[i]},"periods":{months},'
                f'"latest_simple_zscore":{latest_s[i]},"latest_period":"{latest_period}",'
                f'"percentile_rank":{pr_s[i]},"suppressed":{sup[i]},'
                f'"per_period_simple_zscores":[{zs_rows[i]}]}},{ts_prof}{methods_ts}]}}],{runtime}}},'
                f'{tr_head}{mean_r[i]},"observations":{obs[i]},"periods":{months},'
                f'"latest_robust_zscore":{latest_r[i]},"latest_period":"{latest_period}",'
                f'"percentile_rank":{pr_r[i]},"peer_median":{pmed[i]},"peer_mad":{pmad[i]},'
                f'"winsor_applied":false,"suppressed":{sup[i]},'
                f'"per_period_robust_zscores":[{zr_rows[i]}]}},{tr_prof}{methods_tr}]}}],{runtime}}},'
                f'{sl_head}{slope[i]},"slope_weighted":{slope[i]},"acceleration":{accel[i]},'
                f'"end_start_delta":{delta[i]},"period_count":{obs[i]},'
                f'"trend_direction":{direction[i]},"percentile_rank":{spct[i]},'
                f'"momentum":{momentum[i]},"suppressed":{ssup[i]},"slope_percentile":{spct[i]}}},'
                f"{sl_prof}{method_sp}]}}],{runtime}}}]}}\n"
            )

    # -- classifications --------------------------------------------------------------------

    def _write_classifications(
        self,
        node: NodeSpec,
        ents: EntitySet,
        ts: TrendStats,
        astats: AggregateStats,
        task: TaskResult,
    ) -> None:
        """Classification rows of one aggregate node into the task's part files."""
        size = ents.size
        with np.errstate(invalid="ignore", all="ignore"):
            present = ~np.isnan(ts.zs)
            counts = present.sum(axis=1)
            filled = np.where(present, ts.zs, 0.0)
            means = filled.sum(axis=1) / np.maximum(counts, 1)
            dev = np.where(present, ts.zs - means[:, None], 0.0)
            z_std = np.where(
                counts > 0, np.sqrt((dev * dev).sum(axis=1) / np.maximum(counts, 1)), np.nan
            )
            max_dev = np.where(counts > 0, np.abs(filled).max(axis=1), np.nan)
        agg_z = ts.mean_s
        z_s, sp_s, acc_s = _cells(agg_z), _cells(ts.slope_pct), _cells(ts.acceleration)
        std_s, dev_s = _cells(z_std), _cells(max_dev)
        z_f, sp_f, acc_f = agg_z.tolist(), ts.slope_pct.tolist(), ts.acceleration.tolist()
        std_f, dev_f = z_std.tolist(), max_dev.tolist()
        suppressed = astats.suppressed.tolist()
        obs = ts.observations.tolist()
        base = _CONTRIB_BASE + _TASK_SLOT * (len(self.agg_ids) + task.index) + 10.0
        stamps = self.clock.series(base, size, 23, "+00:00")
        dim_pos = [node.dims.index(d) if d in node.dims else -1 for d in self.class_dims]
        lines: list[str] = []
        task.classification_lines += size
        with (
            self._open(_part(task.index, "jsonl"), count=False) as out,
            open(
                self._path(_part(task.index, "csv")),
                "w",
                encoding="utf-8",
                newline="",
                buffering=_BUFFER,
            ) as csv_out,
        ):
            writer = csv.writer(csv_out, lineterminator="\n")
            for i in range(size):
                cls = classify(z_f[i], sp_f[i], acc_f[i], std_f[i], dev_f[i], obs[i], suppressed[i])
                low, high = SEVERITY_RANGES[cls.signal_type]
                task.distribution[cls.signal_type] = task.distribution.get(cls.signal_type, 0) + 1
                task.severities.append(cls.severity)
                refinements = ",".join(
                    f'{{"factor":"{f}","adjustment":{a},"reason":{_jstr(r)}}}'
                    for f, a, r in cls.refinements
                )
                lines.append(
                    f'{{"run_id":"{self.run_id}","node_id":"{node.id}","metric_id":"{node.metric_id}",'
                    f'"entity_key":{ents.key_json[i]},"signal_type":"{cls.signal_type}",'
                    f'"severity":{cls.severity},"severity_range":[{low},{high}],"inputs":{{'
                    f'"aggregate_zscore":{z_s[i]},"slope_percentile":{sp_s[i]},'
                    f'"acceleration":{acc_s[i]},"zscore_std":{std_s[i]},'
                    f'"max_abs_deviation":{dev_s[i]}}},"derived_indicators":{{'
                    f'"position":"{cls.position}","trend":"{cls.trend}","momentum":"{cls.momentum}",'
                    f'"consistency":"{cls.consistency}",'
                    f'"has_spike":{"true" if cls.has_spike else "false"}}},'
                    f'"classification_reasoning":{_jstr(cls.reasoning)},"severity_calculation":{{'
                    f'"base_severity":{cls.base},"refinements":[{refinements}],'
                    f'"final_severity":{cls.severity}}},'
                    f'"suppressed":{"true" if suppressed[i] else "false"},"period_count":{obs[i]},'
                    f'"magnitude_tier":null,"trajectory_tier":null,"consistency_tier":null,'
                    f'"coefficient_of_variation":null,"timestamp":"{stamps[i]}"}}\n'
                )
                key = ents.keys[i]
                writer.writerow(
                    [
                        self.run_id,
                        node.id,
                        node.metric_id,
                        *(key[p] if p >= 0 else "" for p in dim_pos),
                        cls.signal_type,
                        cls.severity,
                        low,
                        high,
                        _csv_float(z_f[i]),
                        _csv_float(sp_f[i]),
                        _csv_float(acc_f[i]),
                        _csv_float(std_f[i]),
                        _csv_float(dev_f[i]),
                        cls.position,
                        cls.trend,
                        cls.momentum,
                        cls.consistency,
                        cls.has_spike,
                        suppressed[i],
                        obs[i],
                        stamps[i],
                    ]
                )
                if len(lines) >= _CHUNK_LINES:
                    out.write("".join(lines))
                    lines.clear()
            out.write("".join(lines))

    # -- contributions ------------------------------------------------------------------------

    def _write_contributions(
        self,
        edge: EdgeSpec,
        parent_ents: EntitySet,
        parent: AggregateStats,
        child_ents: EntitySet,
        child: AggregateStats,
        task: TaskResult,
    ) -> None:
        parent_node, child_node = edge.source, edge.target
        width = len(parent_node.dims)
        index = {key: i for i, key in enumerate(parent_ents.keys)}
        pidx = np.array([index[key[:width]] for key in child_ents.keys], dtype=np.int64)
        parent_json = [parent_ents.key_json[p] for p in pidx.tolist()]
        weight = child_ents.enc.sum(axis=1).astype(np.float64)
        total = np.bincount(pidx, weights=weight, minlength=parent_ents.size)
        share = weight / total[pidx]
        parent_file = f"{self.prod_root}/results/nodes/{parent_node.file_name}"
        child_file = f"{self.prod_root}/results/nodes/{child_node.file_name}"
        weight_s = _cells(weight)
        share_s = _cells(share)
        head = (
            f'{{"run_id":"{self.run_id}","parent_node_id":"{parent_node.id}",'
            f'"parent_node_file":"{parent_file}","parent_entity":'
        )
        child_head = (
            f'"child_node_id":"{child_node.id}","child_node_file":"{child_file}","child_entity":'
        )
        artifacts = task.artifacts.setdefault(parent_node.id, [])
        size = child_ents.size
        for j, (metric, child_values, parent_values) in enumerate(
            (
                (child_node.metric_id, child.value, parent.value),
                ("simple_zscore", child.simple, parent.simple),
                ("robust_zscore", child.robust, parent.robust),
            )
        ):
            pv = parent_values[pidx]
            raw = share * child_values
            excess = share * (child_values - pv)
            cv_s, pv_s, raw_s, ex_s = _cells(child_values), _cells(pv), _cells(raw), _cells(excess)
            base = _CONTRIB_BASE + _TASK_SLOT * task.index + 8.0 * j
            stamps = self.clock.series(base, size, 11, "Z")
            middle = f'"metric_id":"{metric}","method":"weighted_mean","child_value":'
            tail = (
                f'"parent_statistics":null,"assumptions":["child_metric={metric}",'
                f'"weighted_mean_parent"],"fallbacks":[],"missing_inputs":['
            )

            def lines(
                cv_s: list[str] = cv_s,
                pv_s: list[str] = pv_s,
                raw_s: list[str] = raw_s,
                ex_s: list[str] = ex_s,
                stamps: list[str] = stamps,
                middle: str = middle,
                tail: str = tail,
            ) -> Iterator[str]:
                for i in range(size):
                    missing = []
                    if cv_s[i] == "null":
                        missing.append('"child_value"')
                    if pv_s[i] == "null":
                        missing.append('"parent_value"')
                    ce = child_ents.key_json[i]
                    yield (
                        f"{head}{parent_json[i]},{child_head}{ce},{middle}{cv_s[i]},"
                        f'"parent_value":{pv_s[i]},"weight_field":"encounters",'
                        f'"weight_value":{weight_s[i]},"weight_share":{share_s[i]},'
                        f'"weighted_child_value":{raw_s[i]},"contribution_value":{share_s[i]},'
                        f'"raw_component":{raw_s[i]},"excess_over_parent":{ex_s[i]},{tail}'
                        f'{",".join(missing)}],"dataset_row_locator":{{"key":{ce}}},'
                        f'"timestamp":"{stamps[i]}"}}\n'
                    )

            name = f"{child_node.id}.{metric}.jsonl"
            self._write_lines(f"analysis/contribution/{name}", "", lines())
            task.contribution_lines += size
            artifacts.append((metric, name, size))

    # -- configuration and index files ---------------------------------------------------------

    def _node_yaml(self, node: NodeSpec) -> dict[str, Any]:
        methods = TREND_METHODS if node.temporal else AGGREGATE_METHODS
        dims_words = "_".join(
            DIM_PHRASES.get(d, d).replace(" ", "_").replace("-", "_") for d in node.dims[1:]
        )
        dataset_id = f"inpatient_throughput_medicareid_{'month' if node.temporal else 'year'}"
        if dims_words:
            dataset_id += f"_{dims_words}"
        contract: dict[str, Any] = (
            {
                "contract_id": "contract__trending_time_period",
                "purpose": "Shared contract for trending peer comparison using peer z-score methods.",
            }
            if node.temporal
            else {
                "contract_id": "contract__aggregated_time_period",
                "purpose": "Shared contract for z-score based peer comparison at an aggregated time period grain.",
            }
        )
        contract["methods"] = [
            {
                "id": m,
                "anomaly_profile": METHOD_CONTRACTS[m][0],
                "anomaly_methods": list(METHOD_CONTRACTS[m][1]),
                "anomaly_method": METHOD_CONTRACTS[m][1][0],
            }
            for m in methods
        ]
        aggregation = "per_period" if node.temporal else "sum"
        return {
            "schema_version": "0.1.0",
            "id": node.id,
            "metric_id": node.metric_id,
            "group_by_set": node.set_id,
            "group_bys": [{"type": d, "dataset_field": d} for d in node.dims],
            "data_source": {"dataset_id": dataset_id},
            "multi_method_contract": contract,
            "time_grain": node.time_grain,
            "comparison_group": COMPARISON_GROUP,
            "comparison_type": "distribution",
            "metric_method_set": "trending_time_period"
            if node.temporal
            else "aggregated_time_period",
            "metric_dependencies": [],
            "tags": self._tags(node.metric_id),
            "pii_flag": False,
            "description": self._description(node),
            "facet_family_id": node.family,
            "graph_entry_point": self._entry_point(node),
            "metadata_columns": [
                {
                    "id": c,
                    "dataset_field": c,
                    "aggregation": "first" if c in {"systemName", "facility"} else aggregation,
                }
                for c in META_COLUMNS
            ],
        }

    @staticmethod
    def _tags(metric_id: str) -> list[str]:
        return ["los", "throughput"] if metric_id.startswith("los") else ["throughput"]

    @staticmethod
    def _entry_point(node: NodeSpec) -> bool:
        return len(node.dims) == 1 and not node.temporal

    def _short_metric(self, metric_id: str) -> str:
        return "LOS" if metric_id == "losIndex" else self.tax.metrics[metric_id]["display_name"]

    def _description(self, node: NodeSpec) -> str:
        short = self._short_metric(node.metric_id)
        if len(node.dims) == 1:
            return (
                f"Monthly {short} trend relative to peer cohort"
                if node.temporal
                else f"Facility {short} distribution against peer cohort (annual)"
            )
        phrase = " and ".join(DIM_PHRASES.get(d, d) for d in node.dims[1:])
        if node.dims[1:] == ["vizientServiceLine"]:  # the real runs' wording
            annual, monthly = "by Vizient service line", "by service line"
        else:
            annual = monthly = f"segmented by {phrase}"
        return f"Monthly {short} trend {monthly}" if node.temporal else f"Annual {short} {annual}"

    def _rationale(self, edge: EdgeSpec) -> str:
        short = self._short_metric(edge.source.metric_id)
        phrase = DIM_PHRASES.get(edge.target.dims[-1], edge.target.dims[-1])
        if edge.type == "trends_to":
            if len(edge.source.dims) == 1:
                return f"Annual to monthly {short} trend comparison"
            return f"Annual to monthly trend for {phrase} facets"
        if edge.type == "segments_into":
            return f"Drill into {phrase} peers"
        return f"Explore {phrase} as potential {short} driver"

    def _edge_dict(self, edge: EdgeSpec, sort: bool) -> dict[str, Any]:
        conditions = [
            {"field": d, "operator": "equals", "value": f"{{{{{d}}}}}"} for d in edge.target.dims
        ]
        body = {
            "id": edge.id,
            "source": edge.source.id,
            "target": edge.target.id,
            "type": edge.type,
            "direction": "forward",
            "conditions": conditions,
            "rationale": self._rationale(edge),
        }
        return dict(sorted(body.items())) if sort else body

    @staticmethod
    def _yaml(about: tuple[str, str], body: Any) -> str:
        return f"# ABOUTME: {about[0]}\n# ABOUTME: {about[1]}\n" + yaml.safe_dump(
            body, sort_keys=False, default_flow_style=False
        )

    def _write_config_files(self) -> None:
        started = self.clock.started
        bundle_at = self.clock.micro_iso(self.clock.at(509.711))
        snapshot = self.tax.snapshot(bundle_at)
        self._write_text("metadata_bundle.json", _pretty(snapshot))
        self._write_text(
            "run_manifest.json",
            _pretty(
                {
                    "edge_count": len(self.graph.edges),
                    "edges_directory": f"{self.prod_root}/edges",
                    "node_count": len(self.graph.nodes),
                    "nodes_directory": f"{self.prod_root}/nodes",
                    "output_directory": self.prod_root,
                    "results": {
                        "include_legacy_entity_results": False,
                        "index_path": "results/index.json",
                        "nodes_directory": "results/nodes",
                        "sharded": True,
                    },
                    "run_id": self.run_id,
                    "run_label": self.opt.graph,
                    "run_root_directory": self.prod_root,
                    "started_at": self.clock.seconds_iso(started),
                    "taxonomy_directory": f"{APP_ROOT}/taxonomy",
                },
                sort_keys=True,
            ),
        )
        self._write_text(
            "run_manifest.semantic.json",
            _pretty(
                {
                    "run_id": self.run_id,
                    "graph_name": self.opt.graph,
                    "requirements_path": f"{APP_ROOT}/fixtures/requirements/{self.opt.graph}.md",
                    "taxonomy_hash": snapshot["taxonomy_hash"],
                    "generated_at": self.clock.micro_iso(self.clock.at(510.0006)),
                    "metadata_bundle_version": snapshot["version"],
                }
            ),
        )
        graph = {
            "edges": [self._edge_dict(e, sort=True) for e in self.graph.edges],
            "nodes": [
                {
                    "description": self._description(n),
                    "facet_family_id": n.family,
                    "graph_entry_point": self._entry_point(n),
                    "group_by_set": n.set_id,
                    "group_bys": [{"dataset_field": d, "type": d} for d in n.dims],
                    "id": n.id,
                    "metric_id": n.metric_id,
                    "name": n.id,
                    "time_grain": n.time_grain,
                }
                for n in self.graph.nodes
            ],
        }
        self._write_text("graph.json", _pretty(graph, sort_keys=True))
        for node in self.graph.nodes:
            rel = f"nodes/{node.metric_id}/base/{node.set_id}/{node.id}.yaml"
            about = (
                "Auto-generated node; edit the requirements template to regenerate.",
                f"Metric {node.metric_id} ({node.set_id}) via scaffold apply.",
            )
            self._write_text(rel, self._yaml(about, self._node_yaml(node)))
        for edge in self.graph.edges:
            rel = f"edges/{edge.source.metric_id}/base/{edge.source.set_id}/{edge.id}.yaml"
            about = (
                "Auto-generated edge definition via insight-graph scaffold.",
                f"Relationship from {edge.source.id} to {edge.target.id}.",
            )
            body = {"schema_version": "0.1.0", **self._edge_dict(edge, sort=False)}
            self._write_text(rel, self._yaml(about, body))
        for metric in self.metric_ids:
            nodes_by_set: dict[str, dict[str, list[str]]] = {}
            edges_by_set: dict[str, dict[str, list[str]]] = {}
            for node in self.graph.nodes:
                if node.metric_id == metric:
                    nodes_by_set.setdefault(node.set_id, {"nodes": []})["nodes"].append(node.id)
            for edge in self.graph.edges:
                if edge.source.metric_id == metric:
                    edges_by_set.setdefault(edge.source.set_id, {"edges": []})["edges"].append(
                        edge.id
                    )
            self._write_text(
                f"nodes/{metric}/manifests/base.yaml",
                self._yaml(
                    (
                        "Auto-generated manifest of nodes grouped by group_by_set.",
                        "Regenerated via insight-graph scaffold apply.",
                    ),
                    dict(sorted(nodes_by_set.items())),
                ),
            )
            self._write_text(
                f"edges/{metric}/manifests/base.yaml",
                self._yaml(
                    (
                        "Auto-generated manifest of edges grouped by source group_by_set.",
                        "Regenerated via insight-graph scaffold apply.",
                    ),
                    dict(sorted(edges_by_set.items())),
                ),
            )
            families: list[dict[str, Any]] = []
            for set_id in self.set_ids:
                dims = self.tax.sets[set_id]
                families.append(
                    {
                        "family_id": f"`{metric}__{'_'.join(dims)}`",
                        "facet_type": "_".join(dims[1:]) if len(dims) > 1 else set_id,
                        "facet_dimensions": list(dims[1:]),
                        "group_by_set": set_id,
                        "materialization": "runtime",
                        "nodes": {"aggregate": [], "trend": []},
                    }
                )
            families.sort(key=lambda f: f["family_id"])
            self._write_text(
                f"nodes/{metric}/manifests/facets.yaml",
                self._yaml(
                    (
                        "Auto-generated facet manifest aligning runtime templates with requirements.",
                        "Regenerated via insight-graph scaffold apply.",
                    ),
                    {"families": families},
                ),
            )
        self._write_text(
            "defaults/facet_family_defaults.yaml", self._yaml(
                (
                    "Auto-generated facet family defaults via insight-graph scaffold.",
                    "Regenerated from requirements; edit the template to make changes.",
                ),
                self._defaults(),
            )
        )  # fmt: skip
        if self.opt.graphviz:
            self._write_text("graphviz/graphviz_condensed.dot", self._dot())

    def _defaults(self) -> dict[str, Any]:
        families: dict[str, Any] = {}
        for metric in self.metric_ids:
            for set_id in self.set_ids:
                families[f"`{metric}__{'_'.join(self.tax.sets[set_id])}`"] = {
                    "metric_id": metric,
                    "comparison_group": COMPARISON_GROUP,
                    "comparison_type": "distribution",
                    "metric_dependencies": [],
                    "tags": [metric],
                    "data_quality_messages": [],
                }
        first = self.metric_ids[0]

        def template(methods: Sequence[str], method_set: str, kind: str) -> dict[str, Any]:
            return {
                "metric_method_set": method_set,
                "multi_method_contract": {
                    "methods": [
                        {
                            "id": m,
                            "anomaly_profile": METHOD_CONTRACTS[m][0],
                            "anomaly_method": METHOD_CONTRACTS[m][1][0],
                        }
                        for m in methods
                    ]
                },
                "metric_id": first,
                "comparison_group": COMPARISON_GROUP,
                "comparison_type": kind,
            }

        return {
            "defaults": {
                "families": families,
                "nodes": {
                    "aggregate__aggregated_time_period": template(
                        AGGREGATE_METHODS, "aggregated_time_period", "distribution"
                    ),
                    "trend__trending_time_period": template(
                        TREND_METHODS, "trending_time_period", "trend"
                    ),
                },
                "edge_macros": {},
            }
        }

    def _dot(self) -> str:
        lines = [
            "digraph insight_graph {",
            "  rankdir=LR;",
            '  graph [ranksep=1.4, nodesep=1.0, pad="0.4", splines=true];',
            '  node [margin="0.3,0.2"];',
            "  edge [minlen=2, labeldistance=2.0];",
        ]
        for node in reversed(self.graph.nodes):
            lines.append(
                f'  "{node.id}" [shape="box", style="rounded,filled", fillcolor="#FFFFFF", '
                f'color="#696969", fontcolor="#696969", label="{node.metric_id}\n{node.set_id}\n'
                f'{node.time_grain}"];'
            )
        styles = {
            "trends_to": 'color="#565EAA", style="dashed", penwidth="1.4"',
            "segments_into": 'color="#38A169", penwidth="1.6"',
            "potentially_driven_by": 'color="#DD6B20", penwidth="1.6"',
        }
        for edge in self.graph.edges:
            lines.append(
                f'  "{edge.source.id}" -> "{edge.target.id}" [{styles[edge.type]}, '
                f'fontcolor="#696969", xlabelfontcolor="#696969", xlabel="{edge.type}"];'
            )
        lines.append("}")
        return "\n".join(lines)

    def _write_index_files(self) -> None:
        started = self.clock.seconds_iso(self.clock.started)
        index_nodes = []
        for node in self.graph.nodes:
            summary: dict[str, Any] = {"entity_scope": self._entity_scope(node)}
            if node.temporal:
                summary["temporal_context"] = self._temporal_context()
            index_nodes.append(
                {
                    "canonical_node_id": node.id,
                    "dataset_path": self._dataset_path(node),
                    "metric_id": node.metric_id,
                    "node_id": node.id,
                    "result_path": f"results/nodes/{node.file_name}",
                    "statistical_methods": list(
                        TREND_METHODS if node.temporal else AGGREGATE_METHODS
                    ),
                    "summary": summary,
                }
            )
        self._write_text(
            "results/index.json",
            _pretty(
                {"created_at": started, "nodes": index_nodes, "run_id": self.run_id},
                sort_keys=True,
            ),
        )
        tasks = len(self.agg_ids)
        contrib_at = self.clock.at(_CONTRIB_BASE + _TASK_SLOT * tasks + 2.134928)
        parents = []
        for node in self.graph.nodes:
            artifacts = sorted(self._artifacts.get(node.id, []), key=lambda a: a[1])
            metrics_map: dict[str, str] = {}
            for metric, name, _ in artifacts:
                metrics_map[metric] = name
            parents.append(
                {
                    "parent_node_id": node.id,
                    "parent_node_file": f"{self.prod_root}/results/nodes/{node.file_name}",
                    "metrics": metrics_map,
                    "metric_artifacts": [
                        {
                            "metric_id": metric,
                            "artifact_path": name,
                            "row_count": rows,
                            "output_format": "jsonl",
                        }
                        for metric, name, rows in artifacts
                    ],
                    "child_rows": sum(a[2] for a in artifacts),
                }
            )
        self._write_text(
            "analysis/contribution/index.json",
            _pretty(
                {
                    "run_id": self.run_id,
                    "generated_at": self.clock.z_iso(contrib_at),
                    "artifacts_root": f"{self.prod_root}/analysis/contribution",
                    "parents": parents,
                }
            ),
        )
        self._write_text(
            "analysis/contribution/manifests/cli/run_args.json",
            _pretty(
                {
                    "command": (
                        "python -m analytics.contribution.cli compute --run-dir "
                        f"{self.prod_root} --output-format jsonl --workers 4"
                    ),
                    "generated_at": self.clock.micro_iso(contrib_at),
                    "run_directory": self.prod_root,
                    "artifacts_dir": f"{self.prod_root}/analysis/contribution",
                    "metrics": list(
                        dict.fromkeys(
                            [*self.metric_ids, "simple_zscore", "robust_zscore", *self.tax.metrics]
                        )
                    ),
                    "output_formats": ["jsonl"],
                    "parent_node_ids": [n.id for n in self.graph.nodes],
                    "parallel_workers": 4,
                }
            ),
        )
        total = len(self._severities)
        class_done = _CONTRIB_BASE + _TASK_SLOT * 2 * tasks + 12.287751
        severity_stats = {
            "min": min(self._severities) if total else 0,
            "max": max(self._severities) if total else 0,
            "mean": (sum(self._severities) / total) if total else 0.0,
        }
        self._write_text(
            "analysis/classification/index.json",
            json.dumps(
                {
                    "run_id": self.run_id,
                    "classification_version": "simplified_v1",
                    "total_entities": total,
                    "signal_type_distribution": self._distribution,
                    "severity_stats": severity_stats,
                    "generated_at": self.clock.micro_iso(self.clock.at(class_done)),
                },
                separators=(",", ":"),
            ),
        )
        self._write_text(
            "analysis/classification/manifest.json",
            _pretty(
                {
                    "run_id": self.run_id,
                    # Real runs write an offset *and* a Z here (spec 2.2); so do we.
                    "generated_at": self.clock.micro_iso(self.clock.at(class_done + 0.188)) + "Z",
                    "run_dir": self.prod_root,
                    "output_dir": f"{self.prod_root}/analysis/classification",
                    "node_filter": None,
                    "total_entities": total,
                    "signal_type_distribution": self._distribution,
                }
            ),
        )


def _csv_float(value: float) -> str:
    return "" if math.isnan(value) else repr(float(value))


# -- entry points ---------------------------------------------------------------------------------


def default_run_id(seed: int) -> str:
    """A run id that depends only on the seed (so output stays deterministic)."""
    moment = datetime(2026, 1, 15, 8, 0, 0) + timedelta(seconds=(seed * 7919) % 86_400)
    return moment.strftime("%Y%m%d%H%M%S")


def resolve_sets(taxonomy: Taxonomy, requested: Iterable[str]) -> list[str]:
    """Validate group-by set ids; ``facility_base`` is always included (it is the root)."""
    chosen = ["facility_base"]
    for raw in requested:
        set_id = raw.strip()
        if not set_id or set_id in chosen:
            continue
        if set_id not in taxonomy.sets:
            known = ", ".join(sorted(taxonomy.sets))
            raise GenerateError(f"unknown group-by set {set_id!r}; the taxonomy has: {known}")
        dims = taxonomy.sets[set_id]
        if dims[0] != FACILITY_DIM or any(not taxonomy.dim_codes.get(d) for d in dims[1:]):
            raise GenerateError(
                f"group-by set {set_id!r} needs dimensions with allowed values; {dims} has none"
            )
        if len(dims) > 3:
            raise GenerateError(f"group-by set {set_id!r} has more than 3 dimensions")
        chosen.append(set_id)
    return chosen


def _check(options: GenerateOptions) -> None:
    if options.facilities < 1:
        raise GenerateError(f"--facilities must be at least 1, got {options.facilities}")
    if not 1 <= options.months <= 120:
        raise GenerateError(f"--months must be between 1 and 120, got {options.months}")
    if options.run_id is not None and not re.fullmatch(r"\d{14}", options.run_id):
        raise GenerateError(f"--run-id must be 14 digits (YYYYMMDDHHMMSS), got {options.run_id!r}")
    if options.run_id is not None:
        try:
            datetime.strptime(options.run_id, "%Y%m%d%H%M%S")
        except ValueError:
            raise GenerateError(f"--run-id is not a valid timestamp: {options.run_id!r}") from None
    if options.workers < 0:
        raise GenerateError(f"--workers must be 0 (automatic) or more, got {options.workers}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", options.graph):
        raise GenerateError(f"--graph must be a simple folder name, got {options.graph!r}")
    if not re.fullmatch(r"\d{4}(0[1-9]|1[0-2])", options.end_period):
        raise GenerateError(f"--end-period must be YYYYMM, got {options.end_period!r}")
    for name in (
        "suppressed_share",
        "missing_share",
        "outlier_share",
        "trend_share",
        "spike_share",
    ):
        value = getattr(options.knobs, name)
        if not 0.0 <= value <= 1.0:
            flag = "--" + name.replace("_", "-")
            raise GenerateError(f"{flag} must be between 0 and 1, got {value}")


def facilities_for_target(options: GenerateOptions, taxonomy: Taxonomy) -> int:
    """Facilities that make the run's JSONL total about ``target_size`` bytes.

    Rule: generate a pilot run with 60 facilities (same options) into a temporary folder,
    measure its JSONL bytes, and scale linearly (every file grows with the facility count).
    """
    assert options.target_size is not None
    with tempfile.TemporaryDirectory(prefix="qc-pilot-") as tmp:
        pilot = replace(
            options,
            out_dir=Path(tmp),
            facilities=_PILOT_FACILITIES,
            target_size=None,
            graphviz=False,
            overwrite=True,
        )
        result = _generate(pilot, taxonomy)
    per_facility = result.jsonl_bytes / _PILOT_FACILITIES
    return max(20, round(options.target_size / per_facility))


def generate_run(options: GenerateOptions) -> GenerateResult:
    """Write one synthetic run folder and return what was written."""
    _check(options)
    taxonomy = Taxonomy.load()
    resolve_sets(taxonomy, options.group_by_sets)
    taxonomy.metric_ids(options.metrics)
    if options.target_size is not None:
        started = time.perf_counter()
        facilities = facilities_for_target(options, taxonomy)
        options = replace(options, facilities=facilities, target_size=None)
        result = _generate(options, taxonomy)
        result.pilot_seconds = time.perf_counter() - started - result.seconds
        return result
    return _generate(options, taxonomy)


def _generate(options: GenerateOptions, taxonomy: Taxonomy) -> GenerateResult:
    run_id = options.run_id or default_run_id(options.seed)
    run_dir = options.out_dir / options.graph / run_id
    if run_dir.exists():
        if not options.overwrite:
            raise GenerateError(f"{run_dir} already exists (use --overwrite to replace it)")
        shutil.rmtree(run_dir)
    staging = run_dir.parent / f".{run_id}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise GenerateError(f"cannot create {staging}: {exc.strerror}") from None
    try:
        writer = RunWriter(replace(options, run_id=run_id), taxonomy, staging)
        result = writer.write()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # The run appears complete or not at all: runs are discovered by folder name.
    staging.rename(run_dir)
    result.run_dir = run_dir
    return result
