"""Mutated runs for the contract's property test (tests/test_contract_property.py).

A case takes a small base run (a trimmed real run, or a small generated one), picks one
line of one file (or one CSV cell, or one document), one place in it, and one change:

* ``remove`` — delete the key or array element;
* ``swap`` — another JSON type (a string where a number was, a boolean, null, {}, [] ...);
* ``extreme`` — 1e308, -1e308, 2**63, 2**70, 5e-324, and raw tokens PostgreSQL or orjson
  cannot take as they are (1e-400, 1e400, NaN, Infinity), a 100,000-character string;
* ``enum`` — a word the format does not have (legacy labels, case changes, spaces);
* ``reference`` — an id that names nothing: a node id, a metric id, an entity value, or
  another line's value of the same field (a duplicate key).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from hypothesis import strategies as st

from quality_compass.synth.generate.options import GenerateOptions
from quality_compass.synth.generate.run import generate_run

RAW = "\u0001raw\u0001"  # placeholder replaced by a raw JSON token after serialising

TYPE_SWAPS: tuple[Any, ...] = (
    "abc",
    "",
    "12",
    True,
    False,
    None,
    {},
    [],
    0,
    -1,
    1.5,
    {"x": 1},
    ["x"],
)
EXTREMES: tuple[Any, ...] = (
    1e308,
    -1e308,
    2**63,
    2**70,
    -(2**63) - 1,
    2**31,
    5e-324,
    1e101,
    -1,
    101,
    f"{RAW}1e-400",
    f"{RAW}1e400",
    f"{RAW}NaN",
    f"{RAW}-Infinity",
    "x" * 100_000,
)
WRONG_WORDS: tuple[str, ...] = ("high", "low", "NORMAL", "slightly high", "zz_unknown", "")
UNKNOWN_REFERENCES: tuple[str, ...] = (
    "zz_unknown",
    "ZZZ999",
    "losIndex__medicareId__zz",
    "losIndex__zzDimension__aggregate_time_period",
    "zzMetric",
)
CSV_VALUES: tuple[str, ...] = (
    "abc",
    "",
    "1e308",
    "-1e308",
    "9223372036854775808",
    "1e-400",
    "NaN",
    "inf",
    "True",
    "2.5",
    "-5",
    "101",
    "zz_unknown",
    "x" * 100_000,
)
KINDS = ("remove", "swap", "extreme", "enum", "reference")


@dataclass(frozen=True)
class BaseRun:
    name: str
    run_dir: Path
    #: rel path -> "jsonl" | "csv" | "json"
    files: dict[str, str]


@dataclass(frozen=True)
class Case:
    base: str
    rel: str
    line: int  # 1-based; 1 for a document
    path: tuple[str | int, ...]
    kind: str
    value: Any

    def describe(self) -> str:
        where = ".".join(str(part) for part in self.path) or "<line>"
        shown = repr(self.value)
        shown = shown if len(shown) < 60 else shown[:57] + "..."
        return f"{self.base}: {self.rel}:{self.line} {where} {self.kind} {shown}"


# -- base runs ------------------------------------------------------------------------------


def _data_files(run_dir: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir).as_posix()
        if not path.is_file() or rel.startswith(("nodes/", "edges/", "defaults/", "graphviz/")):
            continue
        if path.suffix == ".jsonl":
            files[rel] = "jsonl"
        elif path.suffix == ".csv":
            files[rel] = "csv"
        elif path.suffix == ".json":
            files[rel] = "json"
    return files


def trimmed_real_run(source: Path, target: Path, facilities: int = 6) -> BaseRun:
    """A real run cut down to its first ``facilities`` facilities (counts kept consistent)."""
    shutil.copytree(source, target)
    kept: set[str] = set()
    for node in sorted((target / "results" / "nodes").glob("*.jsonl")):
        lines = [line for line in node.read_bytes().split(b"\n") if line]
        header, entities = orjson.loads(lines[0]), lines[1:]
        selected = []
        for line in entities:
            facility = orjson.loads(line)["entity"][0]["value"]
            if not kept or facility in kept or len(kept) < facilities:
                if len(kept) < facilities:
                    kept.add(facility)
                if facility in kept:
                    selected.append(line)
        header["entity_results_count"] = len(selected)
        node.write_bytes(b"\n".join([orjson.dumps(header), *selected]) + b"\n")
    summary = target / "analysis" / "classification" / "classification_summary.csv"
    with open(summary, newline="") as handle:
        rows = list(csv.reader(handle))
    facility_column = rows[0].index("medicareId")
    body = [row for row in rows[1:] if row[facility_column] in kept]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([rows[0], *body])
    summary.write_text(buffer.getvalue())
    index = target / "analysis" / "classification" / "index.json"
    document = orjson.loads(index.read_bytes())
    document["total_entities"] = len(body)
    index.write_bytes(orjson.dumps(document))
    return BaseRun("real", target, _data_files(target))


def generated_run(out_dir: Path) -> BaseRun:
    options = GenerateOptions(
        out_dir=out_dir,
        facilities=5,
        months=6,
        group_by_sets=("facility_base", "facility_service_line"),
        seed=11,
        graphviz=False,
        workers=1,
    )
    run_dir = generate_run(options).run_dir
    return BaseRun("generated", run_dir, _data_files(run_dir))


# -- drawing a case -------------------------------------------------------------------------


def _paths(
    value: Any, prefix: tuple[str | int, ...] = (), limit: int = 4000
) -> Iterator[tuple[str | int, ...]]:
    """Every place in a JSON value (depth-first), the root excluded."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [(prefix, value)]
    count = 0
    while stack and count < limit:
        path, node = stack.pop()
        children: list[tuple[str | int, Any]] = []
        if isinstance(node, dict):
            children = list(node.items())
        elif isinstance(node, list):
            children = list(enumerate(node))
        for key, child in children:
            count += 1
            yield (*path, key)
            stack.append(((*path, key), child))


def _get(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _json_value(draw: st.DrawFn, kind: str, current: Any) -> Any:
    if kind == "swap":
        return draw(st.sampled_from(TYPE_SWAPS))
    if kind == "extreme":
        return draw(st.sampled_from(EXTREMES))
    if kind == "enum":
        return draw(st.sampled_from(WRONG_WORDS))
    choices = list(UNKNOWN_REFERENCES)
    if isinstance(current, str) and "__" in current:
        choices.append(current + "x")
    return draw(st.sampled_from(choices))


@st.composite
def cases(draw: st.DrawFn, bases: dict[str, BaseRun]) -> Case:
    base = bases[draw(st.sampled_from(sorted(bases)))]
    # lines of data files three times as often as documents: they carry most of the contract
    weighted = [
        rel for rel, kind in sorted(base.files.items()) for _ in range(3 if kind != "json" else 1)
    ]
    rel = draw(st.sampled_from(weighted))
    kind = draw(st.sampled_from(KINDS))
    file_kind = base.files[rel]
    data = (base.run_dir / rel).read_bytes()
    if file_kind == "csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        line = draw(st.integers(2, len(rows)))
        column = draw(st.sampled_from(rows[0]))
        if kind == "reference":
            column_values = sorted({row[rows[0].index(column)] for row in rows[1:]})
            value = draw(st.sampled_from([*UNKNOWN_REFERENCES, *column_values[:20]]))
        else:
            value = "" if kind == "remove" else draw(st.sampled_from(CSV_VALUES))
        return Case(base.name, rel, line, (column,), kind, value)
    lines = data.split(b"\n") if file_kind == "jsonl" else [data]
    numbers = [n for n, text in enumerate(lines, 1) if text.strip()]
    line = (
        draw(st.sampled_from(numbers))
        if len(numbers) < 50
        else numbers[draw(st.integers(0, len(numbers) - 1))]
    )
    document = orjson.loads(lines[line - 1])
    paths = list(_paths(document))
    if not paths:
        return Case(base.name, rel, line, (), "swap", draw(st.sampled_from(TYPE_SWAPS)))
    path = paths[draw(st.integers(0, len(paths) - 1))]
    current = _get(document, path)
    if kind == "reference" and draw(st.booleans()):
        # another line's value of the same field: a duplicate key or a wrong but real id
        others = [
            _get(orjson.loads(lines[n - 1]), path)
            for n in numbers[:200]
            if n != line and _has_path(lines[n - 1], path)
        ]
        others = [other for other in others if other != current]
        if others:
            return Case(base.name, rel, line, path, kind, draw(st.sampled_from(others[:20])))
    value = None if kind == "remove" else _json_value(draw, kind, current)
    return Case(base.name, rel, line, path, kind, value)


def _has_path(line: bytes, path: tuple[str | int, ...]) -> bool:
    try:
        _get(orjson.loads(line), path)
    except (KeyError, IndexError, TypeError, orjson.JSONDecodeError):
        return False
    return True


# -- applying a case ------------------------------------------------------------------------


def mutated_bytes(data: bytes, file_kind: str, case: Case) -> bytes:
    """``data`` (the content of ``case.rel``, of kind jsonl/csv/json) with the case applied."""
    if file_kind == "csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        rows[case.line - 1][rows[0].index(str(case.path[0]))] = str(case.value)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        return buffer.getvalue().encode()
    lines = data.split(b"\n") if file_kind == "jsonl" else [data]
    document = orjson.loads(lines[case.line - 1])
    if case.path:
        parent = _get(document, case.path[:-1])
        last = case.path[-1]
        if case.kind == "remove":
            del parent[last]
        else:
            parent[last] = case.value
    else:
        document = case.value
    try:
        text = orjson.dumps(document)
    except TypeError:  # an integer past 64 bits: the standard library writes it
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    if isinstance(case.value, str) and case.value.startswith(RAW):
        quoted = orjson.dumps(case.value)
        text = text.replace(quoted, case.value.removeprefix(RAW).encode())
    lines[case.line - 1] = text
    return b"\n".join(lines)


def apply(base: BaseRun, folder: Path, cases: list[Case]) -> None:
    """Write the cases into ``folder`` (a copy of the base run), one after the other."""
    for case in cases:
        target = folder / case.rel
        target.write_bytes(mutated_bytes(target.read_bytes(), base.files[case.rel], case))


def pack(cases: list[Case], size: int) -> list[list[Case]]:
    """Cases of one base grouped by ``size``, never two on the same line of a file."""
    groups: list[list[Case]] = []
    for case in cases:
        for group in groups:
            if (
                len(group) < size
                and group[0].base == case.base
                and all((other.rel, other.line) != (case.rel, case.line) for other in group)
            ):
                group.append(case)
                break
        else:
            groups.append([case])
    return groups
