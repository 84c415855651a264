"""§9.5 Contributions: the contribution index, then every contribution file it lists.

For ``weighted_mean`` records: shares in [0, 1] summing to 1 per parent entity (26),
shares = weight / total weight (27), the raw and excess components (28), keys matching
the graph (29), counts matching the index (30), and values matching the node files (31).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from quality_compass.needle.layout import (
    CONTRIBUTION_INDEX,
    CONTRIBUTION_RUN_ARGS,
    contribution_path,
)
from quality_compass.synth.validate.check_numbers import as_float, close, shown
from quality_compass.synth.validate.state import AggEntity, NodeInfo, RunState

#: (line, weight_value, weight_share) of the records of one parent entity and metric.
_Shares = dict[tuple[Any, ...], list[tuple[int, float, float]]]


def check_contributions(state: RunState) -> None:
    rel_index = CONTRIBUTION_INDEX
    index = state.read_json(rel_index)
    if not isinstance(index, dict):
        return
    state.check_run_id(rel_index, index.get("run_id"))
    state.check_timestamp(rel_index, index.get("generated_at"), "generated_at")
    listed = [p.get("parent_node_id") for p in index.get("parents", [])]
    missing = sorted(set(state.nodes) - set(listed))
    if missing:
        state.err("6.1", rel_index, None, f"parents[] lacks nodes: {', '.join(missing)}")
    for parent in index.get("parents", []):
        pid = parent.get("parent_node_id")
        artifacts = parent.get("metric_artifacts", [])
        total = sum(int(a.get("row_count", 0)) for a in artifacts)
        if parent.get("child_rows") != total:
            state.err(
                "9.5-30",
                rel_index,
                None,
                f"{pid}: child_rows {parent.get('child_rows')} != sum of row_count {total}",
            )
        for artifact in artifacts:
            _check_artifact(state, pid, artifact)
    if (state.root / CONTRIBUTION_RUN_ARGS).is_file():
        state.read_json(CONTRIBUTION_RUN_ARGS)


def _check_artifact(state: RunState, pid: str, artifact: dict[str, Any]) -> None:
    """One ``metric_artifacts`` entry of the index, and its file when present."""
    name = artifact.get("artifact_path", "")
    rel = contribution_path(name)
    child_id, _, rest = name.partition(".")
    metric = rest[: -len(".jsonl")] if rest.endswith(".jsonl") else rest
    if child_id in state.nodes:
        state.contrib_rows.setdefault(child_id, int(artifact.get("row_count", 0)))
    if artifact.get("metric_id") != metric:
        state.err(
            "9.5-30",
            CONTRIBUTION_INDEX,
            None,
            f"artifact {name}: metric_id {artifact.get('metric_id')!r} != file suffix {metric!r}",
        )
    if not (state.root / rel).is_file():
        state.warn("10", rel, None, "contribution file missing (as in the reference runs)")
        return
    row_count = int(artifact.get("row_count", -1))
    ContributionChecker(state, rel, pid, child_id, metric, row_count).run()


class ContributionChecker:
    """One contribution file: ``<child_node_id>.<metric>.jsonl`` of one parent node."""

    def __init__(
        self,
        state: RunState,
        rel: str,
        parent_id: str,
        child_id: str,
        metric: str,
        row_count: int,
    ) -> None:
        self.state = state
        self.rel = rel
        self.parent_id = parent_id
        self.child_id = child_id
        self.metric = metric
        self.row_count = row_count

    def err(self, rule: str, line: int | None, message: str) -> None:
        self.state.err(rule, self.rel, line, message)

    def run(self) -> None:
        state = self.state
        parent = state.nodes.get(self.parent_id)
        child = state.nodes.get(self.child_id)
        if parent is None or child is None:
            self.err("9.5-29", None, f"unknown parent {self.parent_id} or child {self.child_id}")
            return
        if (self.child_id, "segments_into") not in parent.children and not any(
            c == self.child_id for c, _ in parent.children
        ):
            self.err("9.5-29", None, f"no graph edge {self.parent_id} -> {self.child_id}")
        shares: _Shares = defaultdict(list)
        seen: set[tuple[str, ...]] = set()
        count = 0
        for number, rec in state.read_jsonl(self.rel):
            count += 1
            if rec is not None:
                self._record(rec, number, parent, child, seen, shares)
        if count != self.row_count:
            self.err("9.5-30", None, f"{count} lines != index row_count {self.row_count}")
        self._check_shares(shares)

    def _record(
        self,
        rec: dict[str, Any],
        number: int,
        parent: NodeInfo,
        child: NodeInfo,
        seen: set[tuple[str, ...]],
        shares: _Shares,
    ) -> None:
        self.state.check_run_id(self.rel, rec.get("run_id"), number)
        self._check_names(rec, number)
        parent_entity = rec.get("parent_entity") or {}
        child_entity = rec.get("child_entity") or {}
        if not isinstance(parent_entity, dict) or not isinstance(child_entity, dict):
            self.err("9.5-29", number, "parent_entity / child_entity must be objects")
            return
        if {k: child_entity.get(k) for k in parent_entity} != parent_entity:
            self.err(
                "9.5-29",
                number,
                f"child_entity {child_entity} restricted to the parent keys != parent_entity {parent_entity}",
            )
        ckey = tuple(str(child_entity.get(d)) for d in child.dims)
        pkey = tuple(str(parent_entity.get(d)) for d in parent.dims)
        if ckey in seen:
            self.err("9.5-30", number, f"child entity {child_entity} appears twice")
        seen.add(ckey)
        if rec.get("method") == "weighted_mean":
            share = self._weighted_mean(rec, number)
            shares[(pkey, rec.get("metric_id"))].append(
                (number, as_float(rec.get("weight_value")), share)
            )
        self._node_values(
            rec,
            pkey,
            ckey,
            self.state.agg_store.get(self.parent_id),
            self.state.agg_store.get(self.child_id),
            number,
        )

    def _check_names(self, rec: dict[str, Any], number: int) -> None:
        if rec.get("child_node_id") != self.child_id:
            self.err(
                "9.5-29",
                number,
                f"child_node_id {rec.get('child_node_id')!r} != file prefix {self.child_id!r}",
            )
        if rec.get("parent_node_id") != self.parent_id:
            self.err(
                "9.5-29",
                number,
                f"parent_node_id {rec.get('parent_node_id')!r} != index parent {self.parent_id!r}",
            )
        if rec.get("metric_id") != self.metric:
            self.state.warn(
                "9.5-30",
                self.rel,
                number,
                f"metric_id {rec.get('metric_id')!r} != file suffix {self.metric!r}",
            )

    def _weighted_mean(self, rec: dict[str, Any], number: int) -> float:
        """26, 28: the record's share and components; returns the share."""
        share = as_float(rec.get("weight_share"))
        if not 0.0 <= share <= 1.0:
            self.err("9.5-26", number, f"weight_share {shown(share)} outside [0, 1]")
        child_value, parent_value = (
            as_float(rec.get("child_value")),
            as_float(rec.get("parent_value")),
        )
        raw = as_float(rec.get("raw_component"))
        if not math.isnan(child_value) and not close(raw, share * child_value):
            self.err(
                "9.5-28",
                number,
                f"raw_component {shown(raw)} != weight_share*child_value = {shown(share * child_value)}",
            )
        excess = as_float(rec.get("excess_over_parent"))
        if (
            not math.isnan(child_value)
            and not math.isnan(parent_value)
            and not close(excess, share * (child_value - parent_value))
        ):
            self.err(
                "9.5-28",
                number,
                f"excess_over_parent {shown(excess)} != weight_share*(child_value - parent_value) = {shown(share * (child_value - parent_value))}",
            )
        return share

    def _check_shares(self, shares: _Shares) -> None:
        """26, 27: per parent entity, shares sum to 1 and follow the weights."""
        for (pkey, _metric), items in shares.items():
            total_share = sum(s for _, _, s in items)
            if abs(total_share - 1.0) > 1e-6:
                self.err(
                    "9.5-26",
                    items[0][0],
                    f"sum of weight_share for parent {list(pkey)} is {shown(total_share)}, not 1",
                )
            total_weight = sum(w for _, w, _ in items)
            for number, weight, share in items:
                want = weight / total_weight if total_weight else math.nan
                if not close(share, want):
                    self.err(
                        "9.5-27",
                        number,
                        f"weight_share {shown(share)} != weight_value/sum(weight_value) = {shown(want)}",
                    )
                    break

    def _node_values(
        self,
        rec: dict[str, Any],
        pkey: tuple[str, ...],
        ckey: tuple[str, ...],
        parents: dict[tuple[str, ...], AggEntity] | None,
        children: dict[tuple[str, ...], AggEntity] | None,
        number: int,
    ) -> None:
        """31: parent, child and weight values match the node files (when loaded)."""
        p = parents.get(pkey) if parents is not None else None
        c = children.get(ckey) if children is not None else None
        if parents is not None and p is None:
            self.err("9.5-29", number, f"parent entity {list(pkey)} not in {self.parent_id}")
        if children is not None and c is None:
            self.err("9.5-29", number, f"child entity {list(ckey)} not in {self.child_id}")
        if p is None or c is None:
            return
        attr = {"simple_zscore": "simple", "robust_zscore": "robust"}.get(self.metric, "value")
        for name, got, want in (
            ("parent_value", as_float(rec.get("parent_value")), getattr(p, attr)),
            ("child_value", as_float(rec.get("child_value")), getattr(c, attr)),
            ("weight_value", as_float(rec.get("weight_value")), c.encounters),
        ):
            if not close(got, want):
                self.state.warn(
                    "9.5-31",
                    self.rel,
                    number,
                    f"{name} {shown(got)} != node file value {shown(want)}",
                )
