"""Fail when the package outgrows its size limits or grows an import cycle.

Limits (issue 11): no module over 800 lines, no class over 400, no function over 80, and
no import cycle inside the package. Sizes are physical lines (a class or function counts
from its first decorator to its last line; a nested function counts inside its parent and
on its own). The import graph is built with ``ast`` from every ``import`` statement,
including imports inside functions and under ``TYPE_CHECKING``: a cycle that only a lazy
import keeps from failing at start-up is still a cycle in the design. Importing a
submodule is an edge to that submodule only, not to the packages above it.

Usage (from ``backend/``)::

    uv run python tools/check_structure.py            # check; exit 1 on any violation
    uv run python tools/check_structure.py --top 10   # also list the largest units
"""

from __future__ import annotations

import argparse
import ast
import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_MODULE_LINES = 800
MAX_CLASS_LINES = 400
MAX_FUNCTION_LINES = 80

BACKEND = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = BACKEND / "src"
PACKAGE = "quality_compass"


@dataclass(frozen=True)
class Unit:
    """A module, class or function and its size in lines."""

    kind: str
    name: str
    path: str
    line: int
    lines: int


def module_name(path: Path, source: Path) -> str:
    parts = list(path.relative_to(source).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def definitions(tree: ast.AST, prefix: str) -> Iterator[tuple[ast.AST, str]]:
    """Every class and function with its dotted name inside the module."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}.{node.name}" if prefix else node.name
            yield node, name
            yield from definitions(node, name)
        else:
            yield from definitions(node, prefix)


def span(node: ast.AST) -> tuple[int, int]:
    decorators = getattr(node, "decorator_list", [])
    first = min([node.lineno, *(d.lineno for d in decorators)])  # type: ignore[attr-defined]
    return first, node.end_lineno or node.lineno  # type: ignore[attr-defined]


def measure(path: Path, source: Path, tree: ast.Module) -> list[Unit]:
    rel = path.relative_to(source.parent).as_posix()
    units = [Unit("module", module_name(path, source), rel, 1, len(path.read_bytes().splitlines()))]
    for node, name in definitions(tree, ""):
        first, last = span(node)
        kind = "class" if isinstance(node, ast.ClassDef) else "function"
        units.append(Unit(kind, name, rel, first, last - first + 1))
    return units


def imported_modules(
    tree: ast.Module, module: str, is_package: bool, known: set[str]
) -> Iterator[tuple[str, int]]:
    """(module of this package, line) for every import statement in the tree."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known_prefix(alias.name, known)
                if target:
                    yield target, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            for alias in node.names:
                candidate = f"{base}.{alias.name}" if base else alias.name
                target = candidate if candidate in known else _known_prefix(base, known)
                if target:
                    yield target, node.lineno


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    keep = len(parts) - node.level + (1 if is_package else 0)
    base = ".".join(parts[:keep])
    return f"{base}.{node.module}" if node.module else base


def _known_prefix(name: str, known: set[str]) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


class _Tarjan:
    """Tarjan's strongly connected components over the import graph."""

    def __init__(self, graph: dict[str, set[str]]) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.on_stack: set[str] = set()
        self.components: list[list[str]] = []

    def visit(self, node: str) -> None:
        self.index[node] = self.low[node] = len(self.index)
        self.stack.append(node)
        self.on_stack.add(node)
        for target in sorted(self.graph.get(node, ())):
            if target not in self.index:
                self.visit(target)
                self.low[node] = min(self.low[node], self.low[target])
            elif target in self.on_stack:
                self.low[node] = min(self.low[node], self.index[target])
        if self.low[node] == self.index[node]:
            self._pop_component(node)

    def _pop_component(self, root: str) -> None:
        component: list[str] = []
        while True:
            member = self.stack.pop()
            self.on_stack.discard(member)
            component.append(member)
            if member == root:
                break
        if len(component) > 1 or root in self.graph.get(root, ()):
            self.components.append(sorted(component))


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself."""
    tarjan = _Tarjan(graph)
    for node in sorted(graph):
        if node not in tarjan.index:
            tarjan.visit(node)
    return tarjan.components


def cycle_path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One concrete cycle inside a component: a -> b -> ... -> a."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        current = frontier.pop(0)
        for target in sorted(graph[current] & members):
            if target == start:
                path = [current]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if target not in previous:
                previous[target] = current
                frontier.append(target)
    return [start, start]


def check(source: Path, top: int) -> int:
    files = sorted((source / PACKAGE).rglob("*.py"))
    trees = {path: ast.parse(path.read_bytes(), filename=str(path)) for path in files}
    names = {path: module_name(path, source) for path in files}
    known = set(names.values())
    units: list[Unit] = []
    graph: dict[str, set[str]] = {name: set() for name in known}
    edge_lines: dict[tuple[str, str], int] = {}
    for path, tree in trees.items():
        module = names[path]
        units.extend(measure(path, source, tree))
        for target, line in imported_modules(tree, module, path.name == "__init__.py", known):
            if target != module or path.name != "__init__.py":
                graph[module].add(target)
                edge_lines.setdefault((module, target), line)

    limits = {"module": MAX_MODULE_LINES, "class": MAX_CLASS_LINES, "function": MAX_FUNCTION_LINES}
    problems = [
        f"{u.path}:{u.line}: {u.kind} {u.name} has {u.lines} lines (limit {limits[u.kind]})"
        for u in units
        if u.lines > limits[u.kind]
    ]
    for component in find_cycles(graph):
        cycle = cycle_path(graph, component)
        steps = " -> ".join(
            f"{a} (line {edge_lines[(a, b)]})" for a, b in itertools.pairwise(cycle)
        )
        problems.append(f"import cycle: {steps} -> {cycle[-1]}")

    if top:
        for kind, plural in (
            ("module", "modules"),
            ("class", "classes"),
            ("function", "functions"),
        ):
            largest = sorted((u for u in units if u.kind == kind), key=lambda u: -u.lines)[:top]
            print(f"largest {plural} (limit {limits[kind]} lines):")
            for u in largest:
                print(f"  {u.lines:5d}  {u.name}  ({u.path}:{u.line})")
    for problem in problems:
        print(problem, file=sys.stderr)
    counts = {kind: sum(1 for u in units if u.kind == kind) for kind in limits}
    verdict = f"{len(problems)} problem(s)" if problems else "ok"
    print(
        f"check_structure: {counts['module']} modules, {counts['class']} classes, "
        f"{counts['function']} functions, {sum(len(t) for t in graph.values())} imports "
        f"inside {PACKAGE}: {verdict}"
    )
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the src/ folder")
    parser.add_argument("--top", type=int, default=0, help="list the N largest of each kind")
    args = parser.parse_args(argv)
    return check(args.source.resolve(), args.top)


if __name__ == "__main__":
    sys.exit(main())
