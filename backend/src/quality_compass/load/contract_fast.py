"""A fast yes/no pass of the loader's contract, generated as straight-line Python.

The contract runs on every line of a load (hundreds of thousands of lines for a large run)
next to PostgreSQL's ``jsonb`` parsing, so its cost decides whether ``qc load`` keeps up
with a bare ``COPY``. ``generate`` turns a spec of ``load/contract.py`` into the source of
one function with the checks inlined (no call per field, no path bookkeeping); it answers
only "does the value keep the contract". When it says no, the generic checker of
``load/contract_checks.py`` runs on that value and words the reject (field path and
reason), so both must agree on what passes: ``tests/test_contract.py`` compares them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from quality_compass.load.contract import (
    CLASSIFICATION,
    CONTRIBUTION,
    DOCUMENT_CONTRACTS,
    ENTITY_RESULT,
    INT32,
    INT64,
    MAX_MAGNITUDE,
    METHOD_SHORT_NAMES,
    MIN_MAGNITUDE,
    NODE_HEADER,
    Either,
    Fields,
    First,
    Items,
    Leaf,
    Spec,
)
from quality_compass.load.contract_checks import Checker, Violation, compile_spec

FastCheck = Callable[[Any], bool]


class _Writer:
    """Source lines of the generated function, with fresh variable names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self._names: Iterator[int] = itertools.count()

    def name(self, prefix: str = "v") -> str:
        return f"{prefix}{next(self._names)}"

    def constant(self, value: Any) -> str:
        name = self.name("c")
        self.constants[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def _number_test(var: str, leaf: Leaf) -> str:
    """An expression true when ``var`` (not None) is a number inside its window and range."""
    high, low = MAX_MAGNITUDE, MIN_MAGNITUDE
    window = (
        f"((type({var}) is float and ({low!r} <= {var} <= {high!r} or {-high!r} <= {var} <= "
        f"{-low!r} or {var} == 0.0)) or (type({var}) is int and {-high!r} <= {var} <= {high!r}))"
    )
    bounds = []
    if leaf.minimum is not None:
        bounds.append(f"{var} >= {leaf.minimum!r}")
    if leaf.maximum is not None:
        bounds.append(f"{var} <= {leaf.maximum!r}")
    return "(" + " and ".join([window, *bounds]) + ")"


def _integer_test(var: str, leaf: Leaf) -> str:
    low, high = INT32 if leaf.kind == "integer" else INT64
    low = max(low, int(leaf.minimum)) if leaf.minimum is not None else low
    high = min(high, int(leaf.maximum)) if leaf.maximum is not None else high
    return (
        f"((type({var}) is int or (type({var}) is float and {var}.is_integer())) "
        f"and {low} <= {var} <= {high})"
    )


def _leaf_test(writer: _Writer, var: str, leaf: Leaf) -> str:
    """An expression true when the (not None) value ``var`` keeps ``leaf``."""
    kind = leaf.kind
    if kind == "number":
        return _number_test(var, leaf)
    if kind in ("integer", "bigint"):
        return _integer_test(var, leaf)
    if kind == "boolean":
        return f"({var} is True or {var} is False)"
    if kind == "text":
        return f"(type({var}) is str and {var} != '')" if leaf.required else f"type({var}) is str"
    if kind == "enum":
        return f"(type({var}) is str and {var} in {writer.constant(leaf.values)})"
    if kind == "method":
        names = " or ".join(f"{short!r} in {var}" for short in METHOD_SHORT_NAMES)
        return f"(type({var}) is str and ({names}))"
    if kind == "period":
        return f"(type({var}) is not str or not {var}.startswith('0000'))"
    # timestamp and node ids: the generic checker's own test, called
    return f"{writer.constant(_generic(kind))}({var})"


def _emit(writer: _Writer, depth: int, var: str, spec: Spec) -> None:
    """Statements that ``return False`` when the (not None) value ``var`` breaks ``spec``."""
    if isinstance(spec, Leaf):
        writer.emit(depth, f"if not {_leaf_test(writer, var, spec)}: return False")
    elif isinstance(spec, Fields):
        _emit_fields(writer, depth, var, spec)
    elif isinstance(spec, Items):
        _emit_items(writer, depth, var, spec)
    elif isinstance(spec, First):
        writer.emit(depth, f"if type({var}) is list and {var}:")
        element = writer.name()
        writer.emit(depth + 1, f"{element} = {var}[0]")
        writer.emit(depth + 1, f"if {element} is not None:")
        _emit(writer, depth + 2, element, spec.element)
    else:
        _emit_either(writer, depth, var, spec)


def _emit_fields(writer: _Writer, depth: int, var: str, spec: Fields) -> None:
    writer.emit(depth, f"if type({var}) is dict:")
    writer.emit(depth + 1, "pass")
    for key, sub in spec.fields.items():
        item = writer.name()
        writer.emit(depth + 1, f"{item} = {var}.get({key!r})")
        if getattr(sub, "required", False):
            writer.emit(depth + 1, f"if {item} is None: return False")
            _emit(writer, depth + 1, item, sub)
        else:
            writer.emit(depth + 1, f"if {item} is not None:")
            _emit(writer, depth + 2, item, sub)
    if spec.strict:
        writer.emit(depth, "else: return False")


def _emit_items(writer: _Writer, depth: int, var: str, spec: Items) -> None:
    writer.emit(depth, f"if type({var}) is list:")
    writer.emit(depth + 1, "pass")
    if spec.element is not None or spec.objects:
        element = writer.name()
        writer.emit(depth + 1, f"for {element} in {var}:")
        if spec.objects:
            writer.emit(depth + 2, f"if type({element}) is not dict: return False")
        if spec.element is not None:
            writer.emit(depth + 2, f"if {element} is not None:")
            _emit(writer, depth + 3, element, spec.element)
    if spec.unique is not None:
        duplicate = writer.constant(_has_duplicate)
        writer.emit(depth + 1, f"if {duplicate}({var}, {spec.unique!r}): return False")
    if spec.strict:
        writer.emit(depth, "else: return False")


def _emit_either(writer: _Writer, depth: int, var: str, spec: Either) -> None:
    writer.emit(depth, f"if type({var}) is dict:")
    _emit(writer, depth + 1, var, spec.object_spec)
    writer.emit(depth, f"elif type({var}) is float or type({var}) is int:")
    _emit(writer, depth + 1, var, spec.number)


def _has_duplicate(items: list[Any], unique: str) -> bool:
    seen: set[str] = set()
    for item in items:
        key = item.get(unique) if type(item) is dict else None
        if isinstance(key, str):
            if key in seen:
                return True
            seen.add(key)
    return False


def generate(spec: Spec, name: str = "fast_check") -> tuple[str, dict[str, Any]]:
    """The source of ``def <name>(value) -> bool`` for ``spec``, and its constants."""
    writer = _Writer()
    writer.emit(0, f"def {name}(value):")
    writer.emit(1, "if value is None: return True")
    _emit(writer, 1, "value", spec)
    writer.emit(1, "return True")
    return "\n".join(writer.lines) + "\n", writer.constants


def compile_fast(spec: Spec) -> FastCheck:
    """The generated yes/no check of ``spec``."""
    source, constants = generate(spec)
    namespace: dict[str, Any] = dict(constants)
    exec(compile(source, f"<contract fast check of {type(spec).__name__}>", "exec"), namespace)
    check: FastCheck = namespace["fast_check"]
    return check


def _generic(kind: str) -> Callable[[Any], bool]:
    """A leaf kind with a test too long to inline: the generic checker, as a predicate."""
    checker = compile_spec(Leaf(kind))
    return lambda value: checker(value) is None


# -- the compiled contract ---------------------------------------------------------------------


def compile_contract(spec: Spec) -> Checker:
    """The checker a load uses: the generated fast pass, and the generic checker
    (``load/contract_checks.py``) to word a reject when the fast pass says no."""
    fast = compile_fast(spec)
    slow = compile_spec(spec)

    def check(value: Any) -> Violation | None:
        return None if fast(value) else slow(value)

    return check


@dataclass(frozen=True)
class Contract:
    """The compiled checkers of every record kind."""

    entity_result: Checker = field(default_factory=lambda: compile_contract(ENTITY_RESULT))
    node_header: Checker = field(default_factory=lambda: compile_contract(NODE_HEADER))
    contribution: Checker = field(default_factory=lambda: compile_contract(CONTRIBUTION))
    classification: Checker = field(default_factory=lambda: compile_contract(CLASSIFICATION))
    documents: dict[str, Checker] = field(
        default_factory=lambda: {
            name: compile_contract(spec) for name, spec in DOCUMENT_CONTRACTS.items()
        }
    )


CONTRACT = Contract()
