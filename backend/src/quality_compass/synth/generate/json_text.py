"""Text exactly as the engine writes it: compact and pretty JSON, number cells, CSV cells.

Byte identity matters here: the same seed must give the same bytes, and the number format
must be the engine's (orjson's shortest round-trip floats, ASCII-escaped strings).
"""

from __future__ import annotations

import json
import math
import re
from json.encoder import encode_basestring_ascii
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def dumps_compact(obj: Any) -> str:
    """Compact JSON like the engine's JSONL writer: orjson floats, ASCII-escaped strings."""
    text = orjson.dumps(obj).decode("utf-8")
    return text if text.isascii() else _NON_ASCII.sub(_escape_char, text)


def json_string(text: str) -> str:
    """A JSON string literal, ASCII-escaped (same bytes as Python's json)."""
    return encode_basestring_ascii(text)


def json_numbers(vector: npt.NDArray[Any]) -> list[str]:
    """JSON number strings of a 1-D array (NaN -> null), one orjson call."""
    if vector.size == 0:
        return []
    text = orjson.dumps(np.ascontiguousarray(vector), option=orjson.OPT_SERIALIZE_NUMPY)
    return text.decode()[1:-1].split(",")


def json_number_rows(matrix: npt.NDArray[Any]) -> list[str]:
    """Per row of a 2-D array: its comma-joined JSON numbers (no brackets)."""
    if matrix.shape[0] == 0:
        return []
    if matrix.shape[1] == 0:
        return [""] * matrix.shape[0]
    text = orjson.dumps(np.ascontiguousarray(matrix), option=orjson.OPT_SERIALIZE_NUMPY)
    return text.decode()[2:-2].split("],[")


def pretty_json(obj: Any, sort_keys: bool = False) -> str:
    """Pretty JSON like the engine's Python writers: 2-space indent, no trailing newline."""
    return json.dumps(obj, indent=2, sort_keys=sort_keys)


def four_decimals(value: float) -> str:
    """A statistic as interpretation texts show it (``n/a`` for NaN)."""
    return "n/a" if math.isnan(value) else f"{value:.4f}"


def csv_number(value: float) -> str:
    """A float cell of the classification CSV (empty for NaN)."""
    return "" if math.isnan(value) else repr(float(value))
