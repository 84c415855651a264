"""What the checks of one node result file share: the node, its header's facets, and the
entity lines collected per facet while streaming.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from quality_compass.synth.validate.state import FacetRows, NodeInfo, RunState


class NodeContext:
    """One node result file being checked; issues are reported against its path."""

    def __init__(self, state: RunState, info: NodeInfo, rel: str) -> None:
        self.state = state
        self.info = info
        self.rel = rel
        #: Per-facet recomputation is exact ([V]) only for single-dimension nodes.
        self.single = len(info.dims) == 1
        yaml_doc = state.node_yaml.get(info.id, {})
        contract = (yaml_doc.get("multi_method_contract") or {}).get("methods") or []
        self.yaml_methods = {m.get("id"): m for m in contract if isinstance(m, dict)}
        self.per_period_cols: list[str] = [
            str(c.get("id"))
            for c in yaml_doc.get("metadata_columns", []) or []
            if isinstance(c, dict) and c.get("aggregation") == "per_period"
        ]
        self.header: dict[str, Any] = {}
        #: method short name -> facet key -> the header facet's method_statistics / counts
        self.facets: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {}
        self.header_counts: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {}
        self.methods: list[str] = []
        self.groups: dict[tuple[str, ...], FacetRows] = defaultdict(FacetRows)
        self.periods: list[str] = []
        self.start = self.end = ""

    def err(self, rule: str, line: int | None, message: str) -> None:
        self.state.err(rule, self.rel, line, message)

    def warn(self, rule: str, line: int | None, message: str) -> None:
        self.state.warn(rule, self.rel, line, message)

    def error_or_warning(self, error: bool, rule: str, line: int | None, message: str) -> None:
        self.state.error_or_warning(error, rule, self.rel, line, message)

    def facet_label(self, facet_key: tuple[Any, ...]) -> str:
        """facet_values as the header writes them: the non-facility dimensions."""
        return "{}" if not facet_key else str(dict(zip(self.info.dims[1:], facet_key, strict=True)))
