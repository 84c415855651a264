"""Parsing and validating the lines of a run: the loader's verdict on each record.

Every check returns ``None`` for a good record or one short reason. Checks are limited to
what the raw layer and staging rely on (JSON object, required keys, types, agreement with
the file the line sits in); the statistical invariants are ``qc validate``'s job and dbt's
data tests'. They run on every line, so they are written for speed: plain dict lookups,
no schema library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

from quality_compass.load.contract_checks import node_id_reason, violation_text
from quality_compass.load.contract_fast import CONTRACT
from quality_compass.load.references import EntityKey, as_text, key_of_object, show_key
from quality_compass.needle.vocabulary import (
    CLASSIFICATION_INDICATORS,
    CLASSIFICATION_INPUTS,
    CSV_FIXED,
    CSV_OPTIONAL,
    CSV_REQUIRED,
)

_NON_FINITE = (b"NaN", b"Infinity")
_POSITION = re.compile(r"line (\d+)")


class LineError(ValueError):
    """A line that cannot become a row; ``str()`` is the reason."""


def _non_finite_to_null(token: str) -> None:
    return None


def parse_json(data: bytes) -> tuple[Any, bytes | None]:
    """Parse one JSON text. Returns ``(value, payload)``.

    ``payload`` is None when ``data`` can be stored as is, or the compact re-serialised
    text when it had to be repaired (``NaN``/``Infinity`` tokens become ``null``, which is
    what the format means by a missing number and what ``jsonb`` can store). Both paths
    refuse a ``\\u0000`` escape (``jsonb`` cannot store NUL).
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if any(token in data for token in _NON_FINITE):
            try:
                value = json.loads(
                    data, parse_constant=_non_finite_to_null, parse_float=_representable
                )
                payload = orjson.dumps(value)
            except LineError:
                raise
            except (ValueError, TypeError, orjson.JSONEncodeError):
                pass
            else:
                _refuse_nul(data)
                return value, payload
        raise LineError(f"invalid JSON ({_short(exc)})") from None
    _refuse_nul(data)
    _refuse_underflow(data)
    return value, None


#: Where a number too small for a double may hide: a 3-digit negative exponent, or a
#: fraction starting with many zeros. Only lines with one are parsed a second time.
_TINY_EXPONENT = re.compile(rb"[0-9][eE]-0*[1-9][0-9]{2}")
# (a regex finds a two-byte literal faster than ``in`` does: measured 2 vs 4.7 us a line)
_E_MINUS = re.compile(rb"e-")
_CAPITAL_E_MINUS = re.compile(rb"E-")
_LONG_ZERO_FRACTION = b"." + b"0" * 300
_SIXTEEN_ZEROS = b".0000000000000000"  # a cheap first look: no double is written so


def _refuse_underflow(data: bytes) -> None:
    """Refuse a non-zero number that no double holds (orjson quietly makes it 0.0).

    PostgreSQL refuses such a number in a double precision column, and below 1e-16383
    even in jsonb; the loader refuses it anywhere in a line, with the line's file:line.
    """
    if (
        (_E_MINUS.search(data) or _CAPITAL_E_MINUS.search(data)) and _TINY_EXPONENT.search(data)
    ) or (_SIXTEEN_ZEROS in data and _LONG_ZERO_FRACTION in data):
        try:
            json.loads(data, parse_float=_representable)
        except LineError:
            raise
        except ValueError:  # orjson took it: only the number hook can object
            pass


def _representable(token: str) -> float:
    value = float(token)
    if value == 0.0 and any(digit in token.lower().partition("e")[0] for digit in "123456789"):
        shown = token if len(token) <= 30 else token[:27] + "..."
        raise LineError(f"number {shown} is too small for a double precision value (underflow)")
    return value


#: A ``\\u0000`` escape: preceded by an even number of backslashes (``\\\\u0000`` is an
#: escaped backslash followed by the text ``u0000``, which ``jsonb`` stores fine).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_NUL_LITERAL = re.compile(rb"\\u0000")


def _refuse_nul(data: bytes) -> None:
    if _NUL_LITERAL.search(data) and _NUL_ESCAPE.search(data):
        raise LineError("contains a \\u0000 (NUL) character, which PostgreSQL jsonb cannot store")


def error_line(message: str) -> int | None:
    """The line number named in a JSON decoder message, if any."""
    match = _POSITION.search(message)
    return int(match.group(1)) if match else None


_SINGLE_LINE_POSITION = re.compile(r": line 1 column (\d+) \(char \d+\)$")


def _short(exc: Exception) -> str:
    """The decoder's message; on a one-line text, the position is just the column."""
    text = _SINGLE_LINE_POSITION.sub(r" at column \1", str(exc).strip())
    return text[:200]


def _is_number(value: Any) -> bool:
    # exact types: JSON parsers return plain int and float, and bool is not a number here
    kind = type(value)
    return kind is float or kind is int


def _is_int(value: Any) -> bool:
    return type(value) is int


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    return "number"


_KIND_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda value: type(value) is str and value != "",
    "object": lambda value: type(value) is dict,
    "array": lambda value: type(value) is list,
    "integer": _is_int,
    "number": _is_number,
}


def _expect(obj: dict[str, Any], key: str, kind: str) -> str | None:
    """Reason when ``obj[key]`` is missing or not of ``kind``."""
    if key not in obj:
        return f"missing required key '{key}'"
    value = obj[key]
    if _KIND_CHECKS[kind](value):
        return None
    if kind == "string" and value == "":
        return f"'{key}' must be a non-empty string"
    return f"'{key}' must be {'an' if kind[0] in 'aeio' else 'a'} {kind}, got {_type_name(value)}"


# -- node result files ------------------------------------------------------------------


def check_node_header(obj: Any, file_stem: str) -> str | None:
    if not isinstance(obj, dict):
        return f"line 1 must be the node header object, got {_type_name(obj)}"
    if obj.get("type") != "node_metadata":
        return (
            f'line 1 must be the node header (type "node_metadata"), got type {obj.get("type")!r}'
        )
    for key, kind in (
        ("canonical_node_id", "string"),
        ("metric_id", "string"),
        ("statistical_methods", "array"),
        ("entity_results_count", "integer"),
    ):
        reason = _expect(obj, key, kind)
        if reason:
            return reason
    if obj["canonical_node_id"] != file_stem:
        return f"canonical_node_id {obj['canonical_node_id']!r} does not match the file name {file_stem!r}"
    if obj["entity_results_count"] < 0:
        return "'entity_results_count' must not be negative"
    reason = node_id_reason(obj["canonical_node_id"])
    if reason:
        return f"canonical_node_id: {reason}"
    return violation_text(CONTRACT.node_header(obj)) or _check_facets_unique(
        obj["statistical_methods"]
    )


def _check_facets_unique(methods: list[Any]) -> str | None:
    """One facet per peer group and method (stg_node_facets' key)."""
    for method_index, method in enumerate(methods):
        summary = method.get("summary") if type(method) is dict else None
        statistics = summary.get("global_statistics") if type(summary) is dict else None
        facets = statistics.get("facets") if type(statistics) is dict else None
        if type(facets) is not list:
            continue
        seen: set[EntityKey] = set()
        for index, facet in enumerate(facets):
            values = facet.get("facet_values") if type(facet) is dict else None
            key = key_of_object(values) if type(values) is dict else ()
            if key in seen:
                return (
                    f"statistical_methods[{method_index}].summary.global_statistics.facets"
                    f"[{index}].facet_values: a second facet for the peer group {show_key(key)}"
                )
            seen.add(key)
    return None


def check_entity(obj: Any, metric_id: str, aggregate: bool) -> str | None:
    """An entity result line of a node whose header declares ``metric_id``."""
    if not isinstance(obj, dict):
        return f"expected an entity result object, got {_type_name(obj)}"
    return (
        _check_entity_key(obj)
        or _check_metric(obj, metric_id, aggregate)
        or _check_metadata(obj)
        or _check_methods(obj)
        or violation_text(CONTRACT.entity_result(obj))
        or _check_anomalies_unique(obj["statistical_methods"])
    )


def _check_anomalies_unique(methods: list[dict[str, Any]]) -> str | None:
    """One judgement per (profile, anomaly method, statistic) of a method (stg_anomalies' key)."""
    for method_index, method in enumerate(methods):
        profiles = method["anomalies"]
        if len(profiles) == 1 and len(profiles[0]["methods"]) < 2:
            continue  # the common case: one judgement, nothing to repeat
        seen: set[tuple[Any, Any, Any]] = set()
        for profile_index, profile in enumerate(profiles):
            for index, anomaly in enumerate(profile["methods"]):
                if type(anomaly) is not dict:
                    continue
                key = (
                    as_text(profile.get("anomaly_profile")),
                    as_text(anomaly.get("anomaly_method")),
                    as_text(anomaly.get("applies_to")),
                )
                if key in seen:
                    return (
                        f"statistical_methods[{method_index}].anomalies[{profile_index}]"
                        f".methods[{index}]: a second judgement of the same profile, anomaly "
                        "method and statistic"
                    )
                seen.add(key)
    return None


def _check_entity_key(obj: dict[str, Any]) -> str | None:
    entity = obj.get("entity")
    if not isinstance(entity, list) or not entity:
        return (
            "missing required key 'entity'"
            if "entity" not in obj
            else "'entity' must be a non-empty array"
        )
    for element in entity:
        if (
            not isinstance(element, dict)
            or not isinstance(element.get("id"), str)
            or "value" not in element
        ):
            return "'entity' elements must be objects with 'id' and 'value'"
        if isinstance(element["value"], dict | list):
            return f"entity value of {element['id']!r} must be a scalar, got {_type_name(element['value'])}"
    return None


def _check_metric(obj: dict[str, Any], metric_id: str, aggregate: bool) -> str | None:
    metric = obj.get("metric")
    if not isinstance(metric, list) or not metric or not isinstance(metric[0], dict):
        return (
            "missing required key 'metric'"
            if "metric" not in obj
            else "'metric' must be a non-empty array of objects"
        )
    first = metric[0]
    metadata = first.get("metadata")
    line_metric = metadata.get("metric_id") if isinstance(metadata, dict) else None
    if not isinstance(line_metric, str):
        return "missing metric[0].metadata.metric_id"
    if line_metric != metric_id:
        return f"metric_id {line_metric!r} differs from the node's metric_id {metric_id!r}"
    if "values" not in first:
        return "missing metric[0].values"
    values = first["values"]
    if aggregate:
        if values is not None and not _is_number(values):
            return f"aggregate node: metric[0].values must be a number or null, got {_type_name(values)}"
    elif not isinstance(values, dict) or not isinstance(values.get("timeline"), list):
        return f"temporal node: metric[0].values must be an object with a 'timeline' array, got {_type_name(values)}"
    return None


def _check_metadata(obj: dict[str, Any]) -> str | None:
    if "metadata" in obj and not isinstance(obj["metadata"], dict):
        return f"'metadata' must be an object, got {_type_name(obj['metadata'])}"
    return None


def _check_methods(obj: dict[str, Any]) -> str | None:
    methods = obj.get("statistical_methods")
    if not isinstance(methods, list):
        return (
            "missing required key 'statistical_methods'"
            if "statistical_methods" not in obj
            else f"'statistical_methods' must be an array, got {_type_name(methods)}"
        )
    for method in methods:
        if not isinstance(method, dict) or not isinstance(method.get("statistical_method"), str):
            return "statistical_methods[] elements need a 'statistical_method' string"
        if not isinstance(method.get("statistics"), dict):
            return f"{method['statistical_method']}: 'statistics' must be an object"
        anomalies = method.get("anomalies")
        if anomalies is not None and not isinstance(anomalies, list):
            return f"{method['statistical_method']}: 'anomalies' must be an array"
    return None


# -- contributions ----------------------------------------------------------------------

_CONTRIBUTION_NUMBERS = (
    "weight_share",
    "weight_value",
    "child_value",
    "parent_value",
    "excess_over_parent",
    "raw_component",
    "weighted_child_value",
    "contribution_value",
)


def check_contribution(obj: Any, child_node_id: str, metric: str) -> str | None:
    if not isinstance(obj, dict):
        return f"expected a contribution object, got {_type_name(obj)}"
    for key, kind in (
        ("parent_node_id", "string"),
        ("child_node_id", "string"),
        ("metric_id", "string"),
        ("parent_entity", "object"),
    ):
        reason = _expect(obj, key, kind)
        if reason:
            return reason
    child_entity = obj.get("child_entity")
    if child_entity is not None and not isinstance(child_entity, dict):
        return f"'child_entity' must be an object or null, got {_type_name(child_entity)}"
    for key in _CONTRIBUTION_NUMBERS:
        value = obj.get(key)
        if value is not None and not _is_number(value):
            return f"'{key}' must be a number or null, got {_type_name(value)}"
    if obj["child_node_id"] != child_node_id:
        return (
            f"child_node_id {obj['child_node_id']!r} differs from the file name's {child_node_id!r}"
        )
    if metric and obj["metric_id"] != metric:
        return f"metric_id {obj['metric_id']!r} differs from the file name's {metric!r}"
    return violation_text(CONTRACT.contribution(obj))


# -- classifications --------------------------------------------------------------------


def check_classification(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return f"expected a classification object, got {_type_name(obj)}"
    for key, kind in (
        ("node_id", "string"),
        ("metric_id", "string"),
        ("entity_key", "object"),
        ("signal_type", "string"),
        ("severity", "number"),
    ):
        reason = _expect(obj, key, kind)
        if reason:
            return reason
    severity_range = obj.get("severity_range")
    if severity_range is not None and (
        not isinstance(severity_range, list)
        or len(severity_range) != 2
        or not all(map(_is_number, severity_range))
    ):
        return "'severity_range' must be an array of two numbers"
    for key in ("inputs", "derived_indicators", "severity_calculation"):
        value = obj.get(key)
        if value is not None and not isinstance(value, dict):
            return f"'{key}' must be an object or null, got {_type_name(value)}"
    return violation_text(CONTRACT.classification(obj))


def _csv_float(row: dict[str, str], key: str) -> float | None:
    text = (row.get(key) or "").strip()
    if not text or text.lower() in ("nan", "none", "null"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise LineError(f"{key}: {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value


def _csv_int(row: dict[str, str], key: str) -> int | None:
    value = _csv_float(row, key)
    if value is None:
        return None
    if not value.is_integer():
        raise LineError(f"{key}: {row[key]!r} is not an integer")
    return int(value)


def _csv_bool(row: dict[str, str], key: str) -> bool | None:
    text = (row.get(key) or "").strip().lower()
    if not text:
        return None
    if text in ("true", "1", "t", "yes"):
        return True
    if text in ("false", "0", "f", "no"):
        return False
    raise LineError(f"{key}: {row[key]!r} is not a boolean")


def classification_from_csv(row: dict[str, str], dimension_columns: list[str]) -> dict[str, Any]:
    """Map one ``classification_summary.csv`` row to the ``classifications.jsonl`` shape."""
    for key in CSV_REQUIRED:
        if not (row.get(key) or "").strip():
            raise LineError(f"missing value for required column '{key}'")
    severity = _csv_int(row, "severity")
    low, high = _csv_int(row, "severity_range_min"), _csv_int(row, "severity_range_max")
    record: dict[str, Any] = {
        "run_id": row.get("run_id") or None,
        "node_id": row["node_id"].strip(),
        "metric_id": row["metric_id"].strip(),
        "entity_key": {dim: row[dim] for dim in dimension_columns if row.get(dim)},
        "signal_type": row["signal_type"].strip(),
        "severity": severity,
        "severity_range": [low, high] if low is not None and high is not None else None,
        "inputs": {key: _csv_float(row, key) for key in CLASSIFICATION_INPUTS},
        "derived_indicators": {
            **{key: (row.get(key) or None) for key in CLASSIFICATION_INDICATORS},
            "has_spike": _csv_bool(row, "has_spike"),
        },
        "classification_reasoning": row.get("classification_reasoning") or None,
        "severity_calculation": None,
        "suppressed": _csv_bool(row, "suppressed"),
        "period_count": _csv_int(row, "period_count"),
        "magnitude_tier": row.get("magnitude_tier") or None,
        "trajectory_tier": row.get("trajectory_tier") or None,
        "consistency_tier": row.get("consistency_tier") or None,
        "coefficient_of_variation": _csv_float(row, "coefficient_of_variation"),
        "timestamp": row.get("timestamp") or None,
    }
    if row.get("classification_version"):
        record["classification_version"] = row["classification_version"]
    return record


def csv_dimension_columns(header: list[str], taxonomy_dimensions: set[str] | None) -> list[str]:
    """The entity-dimension columns of a classification CSV.

    Every column that is not a known classification field; when the run's taxonomy is
    known, only the taxonomy's group-by ids (so an unexpected extra column never becomes
    part of an entity key).
    """
    known = set(CSV_FIXED) | set(CSV_OPTIONAL)
    candidates = [c for c in header if c not in known]
    if taxonomy_dimensions:
        return [c for c in candidates if c in taxonomy_dimensions]
    return candidates
