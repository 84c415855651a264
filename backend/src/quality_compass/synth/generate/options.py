"""What ``qc generate`` is asked for (options, realism knobs) and what it reports back."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from quality_compass.errors import QcError

DEFAULT_GROUP_BY_SETS: tuple[str, ...] = (
    "facility_base",
    "facility_service_line",
    "facility_discharge_status",
)
DEFAULT_GRAPH = "synthetic_graph"
DEFAULT_END_PERIOD = "202506"


class GenerateError(QcError):
    """Bad generator options or an output folder that cannot be written."""

    exit_code = 2


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
    #: Series only (``--series``; no effect on a series' first run or a single run):
    #: share of facilities absent from each later run (a missed submission).
    absent_share: float = 0.05
    #: Series only: share of facilities that start to improve or deteriorate in each new
    #: month.
    turn_share: float = 0.04


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
    #: Position of the run in a series (``qc generate --series``): 0 for the first run (a
    #: single run is a series' first run), k for the run k periods (months) later. The
    #: caller also moves ``run_id`` and ``end_period`` by k months (``synth.generate.series``).
    series_step: int = 0


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


def default_run_id(seed: int) -> str:
    """A run id that depends only on the seed (so output stays deterministic)."""
    moment = datetime(2026, 1, 15, 8, 0, 0) + timedelta(seconds=(seed * 7919) % 86_400)
    return moment.strftime("%Y%m%d%H%M%S")


def check_options(options: GenerateOptions) -> None:
    """Refuse options that cannot make a run (one clear message per problem)."""
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
    if options.series_step < 0:
        raise GenerateError(f"the series step must be 0 or more, got {options.series_step}")
    if options.workers < 0:
        raise GenerateError(f"--workers must be 0 (automatic) or more, got {options.workers}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", options.graph):
        raise GenerateError(f"--graph must be a simple folder name, got {options.graph!r}")
    if not re.fullmatch(r"\d{4}(0[1-9]|1[0-2])", options.end_period):
        raise GenerateError(f"--end-period must be YYYYMM, got {options.end_period!r}")
    _check_knobs(options.knobs)


def _check_knobs(knobs: Knobs) -> None:
    for name in (
        "suppressed_share",
        "missing_share",
        "outlier_share",
        "trend_share",
        "spike_share",
        "absent_share",
        "turn_share",
    ):
        value = getattr(knobs, name)
        if not 0.0 <= value <= 1.0:
            flag = "--" + name.replace("_", "-")
            raise GenerateError(f"{flag} must be between 0 and 1, got {value}")
