"""Common conventions of the format (§2): encoding, timestamps, identifier grammar."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from quality_compass.needle.vocabulary import AGGREGATE_TIME_PERIOD, TIME_GRAIN

#: A UTF-8 byte order mark, tolerated at the start of any file (§10).
BOM = b"\xef\xbb\xbf"

_DOUBLE_OFFSET = re.compile(r"[+-]\d\d:\d\d\+00:00$")


def parse_timestamp(text: str) -> datetime | None:
    """Parse the timestamp styles of real runs (§2.2), including the malformed ``+00:00Z``."""
    cleaned = text[:-1] + "+00:00" if text.endswith("Z") else text
    if _DOUBLE_OFFSET.search(cleaned):
        cleaned = cleaned[: -len("+00:00")]
    try:
        return datetime.fromisoformat(cleaned)
    except ValueError:
        return None


def canonical_node_id(metric_id: str, dims: Sequence[str], temporal: bool) -> str:
    """``<metric>__<dim>_<dim>...__<grain>`` (§2.4)."""
    return f"{metric_id}__{'_'.join(dims)}__{TIME_GRAIN if temporal else AGGREGATE_TIME_PERIOD}"


def is_aggregate_node(canonical_node_id: str, header: dict[str, Any] | None = None) -> bool:
    """Aggregate (one scalar per entity) vs temporal (a timeline per entity)."""
    if (
        header is not None
        and isinstance(header.get("summary"), dict)
        and "temporal_context" in header["summary"]
    ):
        return False
    parts = canonical_node_id.split("__")
    return len(parts) < 3 or parts[-1] == AGGREGATE_TIME_PERIOD
