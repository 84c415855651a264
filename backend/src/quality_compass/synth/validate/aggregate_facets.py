"""§9.2 Aggregate statistics, recomputed per facet (peer group) of an aggregate node.

The header facet's mean, std, median and MAD against the facet's values (rules 10, 12);
every entity's peer statistics, simple and robust z and percentile rank (rules 10-14).
For multi-dimension nodes the per-facet reading is itself reconstructed ([R]), so
recomputations from the facet are warnings there; each record's self-consistency stays
an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from quality_compass.needle.formulas import AGGREGATE_MIN_PEER_COUNT
from quality_compass.synth.validate import statistics
from quality_compass.synth.validate.check_numbers import as_float, close, shown
from quality_compass.synth.validate.node_context import NodeContext
from quality_compass.synth.validate.state import FacetRows


@dataclass(frozen=True)
class _FacetHeader:
    """The numbers a facet's header declares, as floats."""

    entity_count: Any
    min_peer_count: Any
    mean: float
    std: float
    median: float
    mad: float
    std_floor: float
    mad_floor: float


def check_aggregate_facets(node: NodeContext) -> None:
    simple_h = node.facets.get("simple_zscore", {})
    robust_h = node.facets.get("robust_zscore", {})
    counts_h = node.header_counts.get("simple_zscore", {})
    for facet_key, group in node.groups.items():
        label = node.facet_label(facet_key)
        simple_header = simple_h.get(facet_key)
        robust_header = robust_h.get(facet_key)
        if simple_header is None or robust_header is None:
            node.err("9.2-10", 1, f"no header facet for facet_values {label}")
            continue
        header = _FacetHeader(
            entity_count=(counts_h.get(facet_key) or {}).get("entity_count"),
            min_peer_count=simple_header.get("min_peer_count", AGGREGATE_MIN_PEER_COUNT),
            mean=as_float(simple_header.get("global_metric_mean")),
            std=as_float(simple_header.get("global_metric_std")),
            median=as_float(robust_header.get("global_metric_median")),
            mad=as_float(robust_header.get("global_mad")),
            std_floor=as_float(simple_header.get("std_floor")),
            mad_floor=as_float(robust_header.get("mad_floor")),
        )
        _check_facet(node, group, label, header, simple_header, robust_header)
        ranks = statistics.midpoint_percentiles(group.values)
        for line, row, rank in zip(group.lines, group.rows, ranks.tolist(), strict=True):
            _check_entity(node, header, line, row, rank)


def _check_facet(
    node: NodeContext,
    group: FacetRows,
    label: str,
    header: _FacetHeader,
    simple_header: dict[str, Any],
    robust_header: dict[str, Any],
) -> None:
    """The header's entity count and statistics against the facet's values."""
    exact = node.single  # per-facet recomputation is [R] for multi-dimension nodes
    if header.entity_count != len(group.values):
        node.error_or_warning(
            exact,
            "9.2-14",
            1,
            f"facet {label}: entity_count {header.entity_count} != {len(group.values)} entities",
        )
    x = [v for v in group.values if not math.isnan(v)]
    if not x:
        return
    checks = (
        ("global_metric_mean", simple_header.get("global_metric_mean"), statistics.mean(x),
         "mean of the facet's values"),
        ("global_metric_std", simple_header.get("global_metric_std"),
         statistics.population_std(x), "population std (ddof=0) of the facet's values"),
        ("global_metric_median", robust_header.get("global_metric_median"),
         statistics.median(x), "median of the facet's values"),
        ("global_mad", robust_header.get("global_mad"), statistics.scaled_mad(x),
         "1.4826 * MAD of the facet's values"),
    )  # fmt: skip
    for name, got, want, what in checks:
        if got is not None and not close(as_float(got), want):
            rule = "9.2-12" if name in {"global_metric_median", "global_mad"} else "9.2-10"
            node.error_or_warning(
                exact, rule, 1, f"facet {label}: {name} {shown(got)} != {what} = {shown(want)}"
            )


def _check_peer_count(
    node: NodeContext, header: _FacetHeader, line: int, row: dict[str, Any]
) -> None:
    """14: the entity's peer counts are the facet's; a small facet is suppressed."""
    count_h = header.entity_count
    for name in ("peer_count_s", "peer_count_r"):
        if row[name] is not None and row[name] != count_h:
            node.err("9.2-14", line, f"peer_count {row[name]} != facet entity_count {count_h}")
            break
    if count_h is not None and count_h < header.min_peer_count and not row["s_sup"]:
        node.warn(
            "9.2-14",
            line,
            f"facet entity_count {count_h} < min_peer_count {header.min_peer_count} but not suppressed",
        )


def _check_entity(
    node: NodeContext, header: _FacetHeader, line: int, row: dict[str, Any], rank: float
) -> None:
    """One entity's peer count, peer statistics, z-scores and percentile rank."""
    _check_peer_count(node, header, line, row)
    if row["s_sup"] or math.isnan(row["value"]):
        return
    value = row["value"]
    if not close(row["peer_mean"], header.mean) or not close(row["peer_std"], header.std):
        node.err(
            "9.2-10",
            line,
            f"peer_mean/peer_std {shown(row['peer_mean'])}/{shown(row['peer_std'])} != facet global_metric_mean/std {shown(header.mean)}/{shown(header.std)}",
        )
    std_floor = header.std_floor if not math.isnan(header.std_floor) else 0.0
    denom = max(row["peer_std"], std_floor)
    want = (value - row["peer_mean"]) / denom if denom else math.nan
    if not close(row["z"], want):
        node.err(
            "9.2-11",
            line,
            f"simple_zscore {shown(row['z'])} != (value - peer_mean)/max(peer_std, std_floor) = {shown(want)}",
        )
    if not row["r_sup"]:
        mad_floor = header.mad_floor if not math.isnan(header.mad_floor) else 0.0
        denom_r = max(header.mad, mad_floor)
        want_r = (value - header.median) / denom_r if denom_r else math.nan
        if not close(row["r"], want_r):
            node.err(
                "9.2-12",
                line,
                f"robust_zscore {shown(row['r'])} != (value - global_metric_median)/max(global_mad, mad_floor) = {shown(want_r)}",
            )
    if not 0.0 <= row["pr"] <= 100.0:
        node.err("9.2-13", line, f"percentile_rank {shown(row['pr'])} outside [0, 100]")
    elif not close(row["pr"], rank):
        node.error_or_warning(
            node.single,
            "9.2-13",
            line,
            f"percentile_rank {shown(row['pr'])} != midpoint percentile within the facet = {shown(rank)}",
        )
