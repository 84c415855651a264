"""Compiling the loader's contract (``load/contract.py``) into fast checkers.

``compile_spec`` turns a spec into a function ``value -> None | (field path, reason)``.
The checkers run on every line of a load, so they are written for speed: an object's own
keys are walked (not the spec's), and a plain ``number`` (the most common field) is checked
inline. The checker a load uses combines it with the generated fast pass
(``load/contract_fast.py``: ``CONTRACT``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from quality_compass.load.contract import (
    INT32,
    INT64,
    MAX_MAGNITUDE,
    METHOD_SHORT_NAMES,
    MIN_MAGNITUDE,
    NUMBER,
    Either,
    Fields,
    First,
    Items,
    Leaf,
    Spec,
)

Violation = tuple[str, str]  # (field path, reason)
Checker = Callable[[Any], Violation | None]


# -- compiling a contract into a checker ----------------------------------------------------


def describe(value: Any) -> str:
    """A value as a message shows it: its JSON type and a short rendering."""
    if value is None:
        return "null"
    if value is True or value is False:
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f'string "{shown}"'
    if isinstance(value, int | float):
        return f"number {value!r}"
    return "an object" if isinstance(value, dict) else "an array"


def _join(key: str, violation: Violation) -> Violation:
    path, reason = violation
    if not path:
        return key, reason
    return (key + path if path.startswith("[") else f"{key}.{path}"), reason


def compile_spec(spec: Spec) -> Checker:
    """A function that checks one value against ``spec``: None or (path, reason)."""
    if isinstance(spec, Leaf):
        if spec == NUMBER:
            return _plain_number
        return _LEAF_CHECKERS[spec.kind](spec)
    if isinstance(spec, Fields):
        return _fields_checker(spec)
    if isinstance(spec, Items):
        return _items_checker(spec)
    if isinstance(spec, First):
        return _first_checker(spec)
    return _either_checker(spec)


def _in_window(item: Any) -> bool:
    """The fast path of a plain ``number``: a float or int inside the magnitude window."""
    kind = type(item)
    if kind is float or kind is int:
        magnitude: float = item if item >= 0 else -item
        return magnitude <= MAX_MAGNITUDE and (magnitude >= MIN_MAGNITUDE or magnitude == 0)
    return False


def _fields_checker(spec: Fields) -> Checker:
    members = {key: compile_spec(sub) for key, sub in spec.fields.items()}
    required = tuple(key for key, sub in spec.fields.items() if getattr(sub, "required", False))
    plain = _plain_number
    high, low = MAX_MAGNITUDE, MIN_MAGNITUDE
    width = len(members)

    def check(value: Any) -> Violation | None:
        if type(value) is not dict:
            if spec.strict:
                return "", f"expected an object, got {describe(value)}"
            return None
        for key in required:
            if value.get(key) is None:
                return key, "must not be null" if key in value else "missing required field"
        # walk the smaller side: the object's keys, or the few fields staging reads
        pairs = value.items() if len(value) <= width else ((k, value.get(k)) for k in members)
        for key, item in pairs:
            checker = members.get(key)
            if checker is None or item is None:
                continue
            if (
                checker is plain
                and type(item) is float
                and (  # inline: the common case
                    low <= item <= high or -high <= item <= -low or item == 0.0
                )
            ):
                continue
            violation = checker(item)
            if violation is not None:
                return _join(key, violation)
        return None

    return check


def _items_checker(spec: Items) -> Checker:
    element = compile_spec(spec.element) if spec.element is not None else None
    objects = spec.objects
    plain = element is _plain_number

    def check(value: Any) -> Violation | None:
        if type(value) is not list:
            if spec.strict:
                return "", f"expected an array, got {describe(value)}"
            return None
        if plain and _all_in_window(value):
            return None
        for index, item in enumerate(value):
            if objects and type(item) is not dict:
                return f"[{index}]", f"expected an object, got {describe(item)}"
            if element is None or item is None or (plain and _in_window(item)):
                continue
            violation = element(item)
            if violation is not None:
                return _join(f"[{index}]", violation)
        return _duplicate(value, spec.unique) if spec.unique is not None else None

    return check


def _all_in_window(values: list[Any]) -> bool:
    """An array of floats inside the window, checked with C-level passes (None: not sure)."""
    if not values or set(map(type, values)) != {float}:
        return False
    magnitudes = list(map(abs, values))
    return max(magnitudes) <= MAX_MAGNITUDE and (
        min(magnitudes) >= MIN_MAGNITUDE or all(m >= MIN_MAGNITUDE or m == 0 for m in magnitudes)
    )


def _duplicate(items: list[Any], unique: str) -> Violation | None:
    """The first element whose ``unique`` field repeats an earlier element's."""
    seen: set[str] = set()
    for index, item in enumerate(items):
        key = item.get(unique) if type(item) is dict else None
        if isinstance(key, str):
            if key in seen:
                return f"[{index}].{unique}", f'"{key}" appears twice in the array'
            seen.add(key)
    return None


def _first_checker(spec: First) -> Checker:
    element = compile_spec(spec.element)

    def check(value: Any) -> Violation | None:
        if type(value) is not list or not value:
            return None
        violation = element(value[0]) if value[0] is not None else None
        return _join("[0]", violation) if violation is not None else None

    return check


def _either_checker(spec: Either) -> Checker:
    as_number = compile_spec(spec.number)
    as_object = compile_spec(spec.object_spec)

    def check(value: Any) -> Violation | None:
        if type(value) is dict:
            return as_object(value)
        if type(value) is list or isinstance(value, str) or value is True or value is False:
            return None  # staging reads neither a number nor a timeline: null
        return as_number(value)

    return check


# -- leaves ---------------------------------------------------------------------------------


def _range_reason(value: float, spec: Leaf) -> str | None:
    if spec.minimum is not None and value < spec.minimum:
        return f"{value!r} is below the minimum {spec.minimum:g}"
    if spec.maximum is not None and value > spec.maximum:
        return f"{value!r} is above the maximum {spec.maximum:g}"
    return None


def _plain_number(value: Any) -> Violation | None:
    """``number`` without a range of its own (the common case, see ``_in_window``)."""
    if _in_window(value):
        return None
    if type(value) is float or type(value) is int:
        return "", (
            f"number {value!r} is outside the loadable range (0 or "
            f"{MIN_MAGNITUDE:g} to {MAX_MAGNITUDE:g} in magnitude)"
        )
    return "", f"expected a number, got {describe(value)}"


def _number(spec: Leaf) -> Checker:
    def check(value: Any) -> Violation | None:
        kind = type(value)
        if kind is float or kind is int:
            magnitude = abs(value)
            if magnitude > MAX_MAGNITUDE or (magnitude < MIN_MAGNITUDE and value != 0):
                return "", (
                    f"number {value!r} is outside the loadable range (0 or "
                    f"{MIN_MAGNITUDE:g} to {MAX_MAGNITUDE:g} in magnitude)"
                )
            reason = _range_reason(value, spec)
            return ("", reason) if reason else None
        return "", f"expected a number, got {describe(value)}"

    return check


def _integer(spec: Leaf) -> Checker:
    bits = "integer" if spec.kind == "integer" else "bigint"

    def check(value: Any) -> Violation | None:
        kind = type(value)
        if kind is float:
            if not math.isfinite(value) or not value.is_integer():
                return "", f"expected an integer, got {describe(value)}"
        elif kind is not int:
            return "", f"expected an integer, got {describe(value)}"
        limit_low, limit_high = INT32 if bits == "integer" else INT64
        if not limit_low <= value <= limit_high:
            return "", f"{value!r} does not fit in a PostgreSQL {bits}"
        reason = _range_reason(value, spec)
        return ("", reason) if reason else None

    return check


def _boolean(spec: Leaf) -> Checker:
    def check(value: Any) -> Violation | None:
        if value is True or value is False:
            return None
        return "", f"expected true or false, got {describe(value)}"

    return check


def _text(spec: Leaf) -> Checker:
    def check(value: Any) -> Violation | None:
        if isinstance(value, str) and (value or not spec.required):
            return None
        return "", f"expected a non-empty string, got {describe(value)}"

    return check


def _enum(spec: Leaf) -> Checker:
    shown = ", ".join(sorted(spec.values))

    def check(value: Any) -> Violation | None:
        if isinstance(value, str) and value in spec.values:
            return None
        return "", f"expected one of {shown}; got {describe(value)}"

    return check


def _method(spec: Leaf) -> Checker:
    """A statistical method id: must name one of the short names (§3.3)."""

    def check(value: Any) -> Violation | None:
        if isinstance(value, str) and any(short in value for short in METHOD_SHORT_NAMES):
            return None
        return "", (
            "expected a statistical method id naming simple_zscore, robust_zscore or "
            f"slope_percentile, got {describe(value)}"
        )

    return check


def _node_id(spec: Leaf) -> Checker:
    def check(value: Any) -> Violation | None:
        reason = node_id_reason(value)
        return ("", reason) if reason else None

    return check


def node_id_reason(value: Any) -> str | None:
    """Why ``value`` is not a canonical node id (``<metric>__<group-bys>__<time>``, §2.4)."""
    if not isinstance(value, str) or not value:
        return f"expected a canonical node id, got {describe(value)}"
    parts = value.split("__")
    if len(parts) < 3 or not all(parts):
        return f'"{value}" is not a canonical node id (<metricId>__<groupBys>__<timeGrain>, §2.4)'
    return None


# period_to_date (macros/parsing.sql): the patterns it parses; year 0 fails make_date
_PERIOD = re.compile(r"(\d{4})(?:-?(?:0[1-9]|1[0-2])|-Q?[1-4])?", re.ASCII)


def _period(spec: Leaf) -> Checker:
    def check(value: Any) -> Violation | None:
        if isinstance(value, str) and value.startswith("0000"):
            match = _PERIOD.fullmatch(value)
            if match:
                return "", f'period "{value}" has year 0'
        return None

    return check


def _timestamp(spec: Leaf) -> Checker:
    def check(value: Any) -> Violation | None:
        if isinstance(value, str):
            reason = timestamp_reason(value)
            if reason:
                return "", reason
        return None

    return check


# parse_timestamptz (macros/parsing.sql): the pattern it casts, with the same groups
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
    r"\s*(Z|[+-](\d{2})(?::?(\d{2}))?)?(Z?)",
    re.ASCII,
)
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def timestamp_reason(text: str) -> str | None:
    """Why PostgreSQL would fail to cast ``text`` after staging's pattern accepted it."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None  # staging reads it as null
    year, month, day, hour, minute, second, zone, zone_hour, zone_minute, z = match.groups()
    leap = int(year) % 4 == 0 and (int(year) % 100 != 0 or int(year) % 400 == 0)
    days = 29 if month == "02" and leap else _DAYS[int(month) - 1] if "01" <= month <= "12" else 0
    valid = (
        year != "0000"
        and 1 <= int(day) <= days
        and (hour is None or _valid_time(int(hour), int(minute), int(second or 0)))
        and (zone_hour is None or (int(zone_hour) <= 15 and int(zone_minute or 0) <= 59))
        and not (zone == "Z" and z)  # 'ZZ': staging strips a Z only after an offset
    )
    return None if valid else f'timestamp "{text}" is not a valid date and time'


def _valid_time(hour: int, minute: int, second: int) -> bool:
    if hour == 24:
        return minute == 0 and second == 0
    return hour <= 23 and minute <= 59 and second <= 60


_LEAF_CHECKERS: dict[str, Callable[[Leaf], Checker]] = {
    "number": _number,
    "integer": _integer,
    "bigint": _integer,
    "boolean": _boolean,
    "period": _period,
    "timestamp": _timestamp,
    "enum": _enum,
    "text": _text,
    "method": _method,
    "node_id": _node_id,
}


def violation_text(violation: Violation | None) -> str | None:
    """``field path: reason`` (the reject reason), or None."""
    if violation is None:
        return None
    path, reason = violation
    return f"{path}: {reason}" if path else reason
