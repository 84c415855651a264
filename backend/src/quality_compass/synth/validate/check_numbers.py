"""Numbers in checks: reading JSON and CSV values, comparing them, showing them."""

from __future__ import annotations

import math
from typing import Any


def shown(value: Any) -> str:
    """A number for messages (10 significant digits; null for None/NaN)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            return "null"
        return f"{value:.10g}"
    return repr(value)


def as_float(value: Any) -> float:
    """Numeric JSON value -> float (NaN for null / non-numbers)."""
    if value is None or isinstance(value, bool):
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    return math.nan


def close(a: float, b: float, tol: float = 1e-9) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol * max(1.0, abs(b))


def csv_float(text: str | None) -> float:
    if text is None or text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def csv_int(text: str | None) -> int | None:
    try:
        return int(text or "")
    except ValueError:
        return None
