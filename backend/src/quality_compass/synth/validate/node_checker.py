"""Node result files (§5, §9.1-9.4): the header line, every entity line, then the facets.

``check_node_files`` finds the files (§9.1); a ``NodeChecker`` streams one file: the
header against the graph and the index (rules 5, 6, 8), each entity line (rules 7-9 and
§9.4 via ``anomaly_checks``; monthly lines via ``temporal_lines``), and at the end the
per-facet recomputation (``aggregate_facets``, ``temporal_facets``).
"""

from __future__ import annotations

from typing import Any

from quality_compass.needle.layout import NODES_DIR, RESULTS_INDEX, node_result_path
from quality_compass.needle.methods import short_method_name
from quality_compass.synth.validate.aggregate_facets import check_aggregate_facets
from quality_compass.synth.validate.anomaly_checks import check_anomalies
from quality_compass.synth.validate.check_numbers import as_float
from quality_compass.synth.validate.node_context import NodeContext
from quality_compass.synth.validate.state import AggEntity, FacetRows, RunState
from quality_compass.synth.validate.temporal_facets import check_temporal_facets
from quality_compass.synth.validate.temporal_lines import check_temporal_entity


def check_node_files(state: RunState) -> None:
    """Every node of the graph has its result file (multi-dimension ones may be missing)."""
    folder = state.root / NODES_DIR
    if not folder.is_dir():
        state.err("9.1-2", NODES_DIR, None, "folder missing: no node result files")
        return
    present = {p.name for p in folder.glob("*.jsonl")}
    for name in sorted(present):
        if name[: -len(".jsonl")] not in state.nodes:
            state.err(
                "9.1-2",
                f"{NODES_DIR}/{name}",
                None,
                "result file of a node that is not in graph.json",
            )
    for nid in sorted(state.nodes):
        info = state.nodes[nid]
        rel = node_result_path(nid)
        expected_path = state.index_paths.get(nid)
        if expected_path is not None and expected_path != rel:
            state.err("9.1-6", RESULTS_INDEX, None, f"result_path {expected_path!r} != {rel!r}")
        if f"{nid}.jsonl" not in present:
            if len(info.dims) > 1:
                state.warn(
                    "10",
                    rel,
                    None,
                    "multi-dimension node result file missing (as in the reference runs)",
                )
            else:
                state.err("9.1-2", rel, None, "node result file missing")
            continue
        NodeChecker(state, info, rel).run()


class NodeChecker(NodeContext):
    def run(self) -> None:
        count = 0
        seen: set[tuple[str, ...]] = set()
        header_count: int | None = None
        first = True
        for number, obj in self.state.read_jsonl(self.rel):
            if first:
                first = False
                if obj is None:
                    self.err("9.1-6", number, "line 1 is not a valid node header; file skipped")
                    return
                header_count = self._header(obj, number)
                continue
            count += 1
            if obj is None:
                continue
            self._entity(obj, number, seen)
        if header_count is not None and header_count != count:
            self.err("9.1-6", 1, f"entity_results_count {header_count} != {count} entity lines")
        self.state.entity_counts[self.info.id] = count
        if self.info.temporal:
            check_temporal_facets(self)
        else:
            check_aggregate_facets(self)

    # -- header -------------------------------------------------------------------------------

    def _header(self, obj: dict[str, Any], number: int) -> int | None:
        """Check line 1 and keep its facets; returns the declared entity count."""
        info = self.info
        self.header = obj
        if obj.get("type") != "node_metadata":
            self.err("9.1-6", number, f"type {obj.get('type')!r} != 'node_metadata'")
        if obj.get("canonical_node_id") != info.id:
            self.err(
                "9.1-6",
                number,
                f"canonical_node_id {obj.get('canonical_node_id')!r} != file stem {info.id!r}",
            )
        if obj.get("metric_id") != info.metric_id:
            self.err(
                "9.1-8",
                number,
                f"metric_id {obj.get('metric_id')!r} != graph metric {info.metric_id!r}",
            )
        self._header_edges(obj, number)
        self._header_methods(obj, number)
        if info.temporal:
            ctx = (obj.get("summary") or {}).get("temporal_context") or {}
            self.start = str(ctx.get("start_period", ""))
            self.end = str(ctx.get("end_period", ""))
        count = obj.get("entity_results_count")
        return count if isinstance(count, int) else None

    def _header_edges(self, obj: dict[str, Any], number: int) -> None:
        """The header's child and parent node lists are the graph's edges."""
        info = self.info
        children = {
            (c.get("canonical_child_node_id"), c.get("edge_type"))
            for c in obj.get("canonical_child_node_ids", [])
        }
        parents = {
            (c.get("canonical_parent_node_id"), c.get("edge_type"))
            for c in obj.get("canonical_parent_node_ids", [])
        }
        if children != info.children:
            self.err(
                "9.1-5",
                number,
                f"canonical_child_node_ids {sorted(children)} != graph edges {sorted(info.children)}",
            )
        if parents != info.parents:
            self.err(
                "9.1-5",
                number,
                f"canonical_parent_node_ids {sorted(parents)} != graph edges {sorted(info.parents)}",
            )

    def _header_methods(self, obj: dict[str, Any], number: int) -> None:
        """The methods match the index; keep each method's facets for the facet checks."""
        methods = [m.get("statistical_method") for m in obj.get("statistical_methods", [])]
        self.methods = methods
        index_methods = self.state.index_methods.get(self.info.id)
        if index_methods is not None and index_methods != methods:
            self.err(
                "9.1-8",
                number,
                f"statistical_methods {methods} != results/index.json {index_methods}",
            )
        for method in obj.get("statistical_methods", []):
            gs = ((method.get("summary") or {}).get("global_statistics")) or {}
            facets: dict[tuple[str, ...], dict[str, Any]] = {}
            counts: dict[tuple[str, ...], dict[str, Any]] = {}
            for facet in gs.get("facets", []) or []:
                values = facet.get("facet_values") or {}
                key = tuple(str(values.get(d)) for d in self.info.dims[1:])
                facets[key] = facet.get("method_statistics") or {}
                counts[key] = facet.get("facet_counts") or {}
            short = short_method_name(method.get("statistical_method", ""))
            self.facets[short] = facets
            self.header_counts[short] = counts
            trends = gs.get("percentile_trends")
            if trends is not None:
                self.header["_percentile_trends"] = trends

    # -- entity lines ---------------------------------------------------------------------------

    def _entity(self, obj: dict[str, Any], number: int, seen: set[tuple[str, ...]]) -> None:
        info = self.info
        key = self._entity_key(obj, number, seen)
        if key is None:
            return
        metric = obj.get("metric")
        if not isinstance(metric, list) or not metric or not isinstance(metric[0], dict):
            self.err("9.1-9", number, "metric is not a non-empty array")
            return
        first_metric = metric[0]
        if (first_metric.get("metadata") or {}).get("metric_id") != info.metric_id:
            self.err(
                "9.1-8",
                number,
                f"metric[0].metadata.metric_id {(first_metric.get('metadata') or {}).get('metric_id')!r} != {info.metric_id!r}",
            )
        methods = obj.get("statistical_methods")
        if not isinstance(methods, list):
            self.err("9.1-9", number, "statistical_methods is not an array")
            return
        names = [m.get("statistical_method") for m in methods if isinstance(m, dict)]
        if names != self.methods:
            self.err("9.1-8", number, f"statistical_methods {names} != header {self.methods}")
        by_short = {
            short_method_name(m.get("statistical_method", "")): m
            for m in methods
            if isinstance(m, dict)
        }
        for method in methods:
            if isinstance(method, dict):
                check_anomalies(self, method, number)
        group = self.groups[key[1:]]
        raw_meta = obj.get("metadata")
        metadata: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        if info.temporal:
            check_temporal_entity(self, first_metric, metadata, by_short, number, key, group)
        else:
            self._aggregate_entity(first_metric, metadata, by_short, number, key, group)

    def _entity_key(
        self, obj: dict[str, Any], number: int, seen: set[tuple[str, ...]]
    ) -> tuple[str, ...] | None:
        """The entity's values in group-by order; None (after an error) if unusable."""
        entity = obj.get("entity")
        if not isinstance(entity, list):
            self.err("9.1-7", number, "entity is not an array")
            return None
        ids = [e.get("id") for e in entity if isinstance(e, dict)]
        if ids != self.info.dims:
            self.err("9.1-7", number, f"entity ids {ids} != node group_bys {self.info.dims}")
            return None
        if any(e.get("dataset_field") != e.get("id") for e in entity):
            self.err("9.1-7", number, "entity dataset_field != id")
        key = tuple(str(e.get("value")) for e in entity)
        if key in seen:
            self.err("9.1-7", number, f"duplicate entity {list(key)}")
            return None
        seen.add(key)
        return key

    def _aggregate_entity(
        self,
        first_metric: dict[str, Any],
        metadata: dict[str, Any],
        methods: dict[str, dict[str, Any]],
        number: int,
        key: tuple[str, ...],
        group: FacetRows,
    ) -> None:
        value = first_metric.get("values")
        if isinstance(value, bool) or not isinstance(value, (int, float, type(None))):
            self.err("9.1-9", number, "aggregate metric[0].values is not a number")
            return
        simple = (methods.get("simple_zscore") or {}).get("statistics") or {}
        robust = (methods.get("robust_zscore") or {}).get("statistics") or {}
        peer_simple = ((methods.get("simple_zscore") or {}).get("runtime") or {}).get(
            "anomaly_statistics"
        ) or {}
        peer_robust = ((methods.get("robust_zscore") or {}).get("runtime") or {}).get(
            "anomaly_statistics"
        ) or {}
        row: dict[str, Any] = {
            "value": as_float(value),
            "z": as_float(simple.get("simple_zscore")),
            "peer_mean": as_float(simple.get("peer_mean")),
            "peer_std": as_float(simple.get("peer_std")),
            "pr": as_float(simple.get("percentile_rank")),
            "s_sup": simple.get("suppressed") is True,
            "r": as_float(robust.get("robust_zscore")),
            "r_sup": robust.get("suppressed") is True,
            "peer_count_s": peer_simple.get("peer_count"),
            "peer_count_r": peer_robust.get("peer_count"),
        }
        group.lines.append(number)
        group.values.append(row["value"])
        group.rows.append(row)
        self.state.agg_store.setdefault(self.info.id, {})[key] = AggEntity(
            row["value"],
            row["z"],
            row["r"],
            as_float(metadata.get("encounters")),
            bool(row["s_sup"] or row["r_sup"]),
        )
