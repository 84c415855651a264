"""The state of one validation: the report, the run's graph, and what each check keeps.

Checks run in order (structure, node files, contributions, classifications); each keeps
what later ones compare against: the graph's nodes, the aggregate entities' values
(``agg_store``) and the monthly twins' statistics (``twin_store``), entity counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from quality_compass.needle.conventions import parse_timestamp
from quality_compass.synth.validate.report import ERROR, WARNING, Report, ValidateError


@dataclass
class NodeInfo:
    id: str
    metric_id: str
    dims: list[str]
    temporal: bool
    group_by_set: str
    children: set[tuple[str, str]] = field(default_factory=set)
    parents: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class AggEntity:
    value: float
    simple: float
    robust: float
    encounters: float
    suppressed: bool


@dataclass
class TwinEntity:
    mean_simple: float
    slope_percentile: float
    acceleration: float
    zscore_std: float
    max_abs_deviation: float
    period_count: int


class FacetRows:
    """Numbers of one peer group of one node, collected while streaming."""

    def __init__(self) -> None:
        self.lines: list[int] = []
        self.values: list[Any] = []
        self.rows: list[dict[str, Any]] = []


class RunState:
    """The run being validated: its report, and what earlier checks learnt for later ones."""

    def __init__(self, run_dir: Path) -> None:
        if not run_dir.is_dir():
            raise ValidateError(f"run folder not found: {run_dir}")
        self.root = run_dir
        self.report = Report(run_dir)
        self.run_id = run_dir.name
        self.nodes: dict[str, NodeInfo] = {}
        self.edges: list[dict[str, Any]] = []
        self.node_yaml: dict[str, dict[str, Any]] = {}
        self.index_methods: dict[str, list[str]] = {}
        self.index_paths: dict[str, str] = {}
        self.bundle: dict[str, Any] = {}
        self.agg_store: dict[str, dict[tuple[str, ...], AggEntity]] = {}
        self.twin_store: dict[str, dict[tuple[str, ...], TwinEntity]] = {}
        self.entity_counts: dict[str, int] = {}
        self.contrib_rows: dict[str, int] = {}

    # -- reporting ------------------------------------------------------------------------

    def err(self, rule: str, file: str, line: int | None, message: str) -> None:
        self.report.add(ERROR, rule, file, line, message)

    def warn(self, rule: str, file: str, line: int | None, message: str) -> None:
        self.report.add(WARNING, rule, file, line, message)

    def error_or_warning(
        self, error: bool, rule: str, file: str, line: int | None, message: str
    ) -> None:
        self.report.add(ERROR if error else WARNING, rule, file, line, message)

    # -- file access ------------------------------------------------------------------------

    def read_json(self, rel: str, required: bool = True, optional_rule: str = "10") -> Any:
        path = self.root / rel
        if not path.is_file():
            if required:
                self.err("1", rel, None, "required file missing")
            else:
                self.warn(optional_rule, rel, None, "optional file missing")
            return None
        data = path.read_bytes()
        self.report.files += 1
        self.report.bytes += len(data)
        try:
            return json.loads(data)
        except ValueError as exc:
            self.err("2.1", rel, None, f"invalid JSON: {exc}")
            return None

    def read_jsonl(self, rel: str) -> Iterator[tuple[int, Any]]:
        """(line number, parsed object) for every non-blank line; reports bad lines."""
        path = self.root / rel
        self.report.files += 1
        last = b""
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                self.report.lines_read += 1
                self.report.bytes += len(raw)
                last = raw
                if not raw.strip():
                    continue
                try:
                    obj = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    self.err("2.1", rel, number, f"invalid JSON line: {exc}")
                    yield number, None
                    continue
                if not isinstance(obj, dict):
                    self.err("2.1", rel, number, "line is not a JSON object")
                    yield number, None
                    continue
                yield number, obj
        if last and not last.endswith(b"\n"):
            self.err("2.1", rel, None, "file does not end with a newline (truncated?)")

    # -- shared checks ------------------------------------------------------------------

    def check_run_id(self, rel: str, value: Any, line: int | None = None) -> None:
        if value != self.run_id:
            self.err("9.1-1", rel, line, f"run_id {value!r} != run folder {self.run_id!r}")

    def check_timestamp(self, rel: str, value: Any, key: str) -> None:
        """ISO timestamps in any of the observed styles (§2.2), parsed leniently."""
        if not isinstance(value, str) or parse_timestamp(value) is None:
            self.warn("2.2", rel, None, f"{key} {value!r} is not an ISO-8601 timestamp")
