"""Writing a run's files and counting what was written.

A ``RunFiles`` writes under one folder and adds every file and byte to one ``TaskResult``:
the main process has its own, each node task another, merged in task order at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

#: Lines joined per write, and the write buffer: bounded memory for any node size.
CHUNK_LINES = 2000
BUFFER = 1 << 20


@dataclass
class TaskResult:
    """What one node task wrote (merged by the main process, in task order)."""

    index: int
    artifacts: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    distribution: dict[str, int] = field(default_factory=dict)
    severities: list[int] = field(default_factory=list)
    files: int = 0
    jsonl_bytes: int = 0
    total_bytes: int = 0
    entity_lines: int = 0
    contribution_lines: int = 0
    classification_lines: int = 0


class RunFiles:
    """Files under ``run_dir``, counted into ``tally``."""

    def __init__(self, run_dir: Path, tally: TaskResult) -> None:
        self.run_dir = run_dir
        self.tally = tally

    def path(self, rel: str) -> Path:
        path = self.run_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write_text(self, rel: str, text: str, encoding: str = "ascii") -> None:
        data = text.encode(encoding)
        self.path(rel).write_bytes(data)
        self.tally.files += 1
        self.tally.total_bytes += len(data)

    def open_text(self, rel: str, count: bool = True) -> TextIO:
        """A text file to write line by line (ASCII, ``\\n``); ``jsonl_done`` counts its bytes."""
        if count:
            self.tally.files += 1
        return open(self.path(rel), "w", encoding="ascii", newline="\n", buffering=BUFFER)

    def jsonl_done(self, rel: str) -> None:
        size = (self.run_dir / rel).stat().st_size
        self.tally.jsonl_bytes += size
        self.tally.total_bytes += size

    def write_lines(self, rel: str, header: str, lines: Iterable[str]) -> None:
        """Write a JSONL file in chunks (bounded memory) and account for it."""
        with self.open_text(rel) as out:
            if header:
                out.write(header)
            buf: list[str] = []
            for line in lines:
                buf.append(line)
                if len(buf) >= CHUNK_LINES:
                    out.write("".join(buf))
                    buf.clear()
            out.write("".join(buf))
        self.jsonl_done(rel)
