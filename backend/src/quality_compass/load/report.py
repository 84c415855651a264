"""What a load reports: per-file counts, rejects, warnings, and the options it ran with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from quality_compass.errors import QcError
from quality_compass.warehouse.raw_schema import RAW_TABLES

KEPT_REJECTS = 1000  # rejects kept in memory / stored per load
REJECT_TEXT_LIMIT = 2000  # characters of an offending line stored
SHOWN_REJECTS = 10  # rejects listed in an error message

#: Called with the number of bytes read since the last call.
ProgressCallback = Callable[[int], None]


@dataclass
class Reject:
    file_path: str
    line_number: int | None
    reason: str
    text: str | None = None

    def __str__(self) -> str:
        where = (
            f"{self.file_path}:{self.line_number}"
            if self.line_number is not None
            else self.file_path
        )
        return f"{where}: {self.reason}"


@dataclass
class LoadOptions:
    dry_run: bool = False
    max_rejects: int = 0  # 0 = strict: any reject fails the load
    keep_runs: int | None = None


@dataclass
class FileStats:
    rel: str
    kind: str
    table: str
    bytes: int
    lines: int = 0
    rows: int = 0
    rejects: int = 0


@dataclass
class LoadReport:
    run_id: str
    graph_name: str
    run_dir: Path
    status: str = "running"
    load_id: int | None = None
    dry_run: bool = False
    rows: dict[str, int] = field(default_factory=lambda: {t.name: 0 for t in RAW_TABLES})
    bytes: int = 0
    seconds: float = 0.0
    reject_count: int = 0
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[FileStats] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    replaced_load_id: int | None = None
    #: Lines left out because a line they refer to was rejected (not rejects themselves).
    left_out: int = 0
    left_out_examples: list[Reject] = field(default_factory=list)

    def note_left_out(self) -> None:
        """Sum the left-out lines up in one warning (stored with the load's audit row)."""
        if self.left_out:
            examples = "; ".join(str(example) for example in self.left_out_examples[:3])
            self.warnings.append(
                f"{self.left_out} line(s) not loaded because an entity line they refer to was "
                f"rejected (e.g. {examples})"
            )

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0


class LoadRejected(QcError):
    """The run has more invalid lines than allowed; nothing was written."""


def rejection_message(report: LoadReport, allowed: int) -> str:
    policy = "strict mode" if allowed == 0 else f"more than --max-rejects {allowed}"
    shown = "\n".join(f"  {reject}" for reject in report.rejects[:SHOWN_REJECTS])
    more = report.reject_count - min(len(report.rejects), SHOWN_REJECTS)
    tail = f"\n  … and {more} more" if more > 0 else ""
    hint = (
        "\nUse --max-rejects N to load the valid lines and keep the rejects in raw_load_rejects."
        if allowed == 0
        else ""
    )
    return (
        f"run {report.run_id}: {report.reject_count} invalid line(s), {policy}; nothing was written.\n"
        f"{shown}{tail}{hint}"
    )
