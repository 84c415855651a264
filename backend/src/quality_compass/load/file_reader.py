"""Reading a run's files for the scanner: lines with their numbers, and every reject.

A ``FileReader`` counts what it reads (lines, bytes for the progress bar) and records
rejects into the load report, keeping the first ``KEPT_REJECTS`` with their text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from quality_compass.errors import QcError
from quality_compass.load.copy_writer import escape_copy_text
from quality_compass.load.records import LineError, parse_json
from quality_compass.load.references import DependentReason
from quality_compass.load.report import (
    KEPT_REJECTS,
    REJECT_TEXT_LIMIT,
    SHOWN_REJECTS,
    FileStats,
    LoadReport,
    ProgressCallback,
    Reject,
)
from quality_compass.needle.conventions import BOM
from quality_compass.needle.run_files import open_run_file
from quality_compass.needle.run_folder import RunFile

#: Progress is reported after at least this many bytes.
_PROGRESS_STEP = 1 << 20


class FileReader:
    """Lines of a run's files, and the rejects of the lines that cannot load."""

    def __init__(self, report: LoadReport, progress: ProgressCallback | None = None) -> None:
        self.report = report
        self.progress = progress or (lambda n: None)

    def reject(
        self, stats: FileStats, line: int | None, reason: str, text: bytes | str | None = None
    ) -> None:
        stats.rejects += 1
        self.report.reject_count += 1
        if len(self.report.rejects) < KEPT_REJECTS:
            if isinstance(text, bytes):
                text = text.decode("utf-8", errors="replace")
            if text is not None and len(text) > REJECT_TEXT_LIMIT:
                text = text[:REJECT_TEXT_LIMIT] + "…"
            self.report.rejects.append(Reject(stats.rel, line, reason, text))

    def checked(
        self, stats: FileStats, number: int, line: bytes, check: Callable[[Any], str | None]
    ) -> bytes | None:
        """Parse and check one line: its COPY text, or None after recording the reject."""
        try:
            obj, payload = parse_json(line)
        except LineError as exc:
            self.reject(stats, number, str(exc), line)
            return None
        reason = check(obj)
        if reason:
            if isinstance(reason, DependentReason):
                self.leave_out(stats, number, reason)
            else:
                self.reject(stats, number, reason, line)
            return None
        return escape_copy_text(payload or line)

    def leave_out(self, stats: FileStats, line: int, reason: str) -> None:
        """A line that depends on a rejected line: not loaded, not a reject of its own."""
        self.report.left_out += 1
        if len(self.report.left_out_examples) < SHOWN_REJECTS:
            self.report.left_out_examples.append(Reject(stats.rel, line, reason))

    def stats(self, run_file: RunFile, table: str) -> FileStats:
        stats = FileStats(rel=run_file.rel, kind=run_file.kind, table=table, bytes=run_file.size)
        self.report.files.append(stats)
        return stats

    def lines(self, run_file: RunFile, stats: FileStats) -> Iterator[tuple[int, bytes]]:
        """Non-blank lines with their 1-based physical numbers; BOM and CR tolerated."""
        pending = 0
        handle = open_run_file(run_file.path, run_file.rel, run_file.identity)
        with handle:
            number = 0
            try:
                for number, raw in enumerate(handle, 1):
                    pending += len(raw)
                    if pending >= _PROGRESS_STEP:
                        self.progress(pending)
                        pending = 0
                    line = raw[3:] if number == 1 and raw.startswith(BOM) else raw
                    line = line.rstrip(b"\r\n")
                    if not line or line.isspace():
                        continue
                    stats.lines += 1
                    yield number, line
            except OSError as exc:
                raise QcError(
                    f"cannot read {run_file.rel} (after line {number}): {exc.strerror}"
                ) from None
        self.progress(pending)

    def read_whole(self, run_file: RunFile, stats: FileStats) -> bytes:
        """A small file (or a legacy node file) at once, BOM removed."""
        try:
            with open_run_file(run_file.path, run_file.rel, run_file.identity) as handle:
                data = handle.read().removeprefix(BOM)
        except OSError as exc:
            raise QcError(f"cannot read {run_file.rel}: {exc.strerror}") from None
        self.progress(len(data))
        stats.lines = data.count(b"\n") + 1
        return data

    def check_declared(
        self,
        stats: FileStats,
        line: int | None,
        declarer: str,
        key: str,
        declared: int | None,
        found: int,
        unit: str,
        hint: str = "truncated file?",
    ) -> None:
        """A count declared by a header or an index must equal what the file holds."""
        if declared is not None and declared != found:
            self.reject(
                stats,
                line,
                f"{declarer} declares {key}={declared} but the file has {found} {unit} ({hint})",
            )
