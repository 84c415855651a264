"""§9.4 Anomalies: each anomaly item of a method agrees with its statistic and the YAML.

The item's ``statistic_value`` is the method's statistic, its label is the statistic's
tier, its template id ends with the label, its anomaly method is one the node YAML
declares, and a suppressed statistic is labelled ``no_score``.
"""

from __future__ import annotations

from typing import Any

from quality_compass.needle.formulas import PERCENTILE_BOUNDS, Z_BOUNDS
from quality_compass.needle.methods import METHOD_APPLIES, short_method_name
from quality_compass.needle.vocabulary import NO_SCORE
from quality_compass.synth.validate import statistics
from quality_compass.synth.validate.check_numbers import as_float, close, shown
from quality_compass.synth.validate.node_context import NodeContext


def check_anomalies(node: NodeContext, method: dict[str, Any], number: int) -> None:
    """The anomaly items of one method block of an entity line."""
    method_id = method.get("statistical_method", "")
    raw_stats = method.get("statistics")
    statistics: dict[str, Any] = raw_stats if isinstance(raw_stats, dict) else {}
    yaml_method = node.yaml_methods.get(method_id)
    for profile in method.get("anomalies", []) or []:
        if yaml_method and profile.get("anomaly_profile") != yaml_method.get("anomaly_profile"):
            node.err(
                "9.4-24",
                number,
                f"anomaly_profile {profile.get('anomaly_profile')!r} != node YAML {yaml_method.get('anomaly_profile')!r}",
            )
        for item in profile.get("methods", []) or []:
            _check_item(node, method_id, statistics, yaml_method, item, number)


def _check_item(
    node: NodeContext,
    method_id: str,
    statistics: dict[str, Any],
    yaml_method: dict[str, Any] | None,
    item: dict[str, Any],
    number: int,
) -> None:
    applies = item.get("applies_to")
    if applies not in METHOD_APPLIES.get(short_method_name(method_id), set()):
        node.err("9.4-22", number, f"applies_to {applies!r} is not valid for {method_id}")
        return
    value = item.get("statistic_value")
    stat = statistics.get(applies)
    if not close(as_float(value), as_float(stat)):
        node.err(
            "9.4-22",
            number,
            f"{applies} statistic_value {shown(value)} != statistics.{applies} {shown(stat)}",
        )
    label = item.get("anomaly")
    _check_label(node, applies, value, label, number)
    template = (item.get("interpretation") or {}).get("template_id", "")
    if not str(template).endswith(f"__{label}"):
        node.err(
            "9.4-24",
            number,
            f"interpretation.template_id {template!r} does not end with '__{label}'",
        )
    if yaml_method is not None:
        allowed = yaml_method.get("anomaly_methods") or [yaml_method.get("anomaly_method")]
        if item.get("anomaly_method") not in allowed:
            node.err(
                "9.4-24",
                number,
                f"anomaly_method {item.get('anomaly_method')!r} not in node YAML anomaly_methods",
            )
    if statistics.get("suppressed") is True and not (label == NO_SCORE or value is None):
        node.err(
            "9.4-25",
            number,
            f"{applies} is suppressed but anomaly is {label!r} with statistic_value {shown(value)}",
        )


def _check_label(node: NodeContext, applies: str, value: Any, label: Any, number: int) -> None:
    """The label is the tier of the value (a percentile on a bound may go either way)."""
    bounds = PERCENTILE_BOUNDS if applies == "slope_percentile" else Z_BOUNDS
    numeric = as_float(value)
    expected = statistics.tier_label(numeric, bounds)
    if label != expected:
        on_bound = applies == "slope_percentile" and numeric in bounds
        legacy = label in {"high", "low"}
        if not (on_bound or legacy):
            node.err(
                "9.4-23",
                number,
                f"{applies} anomaly {label!r} != tier({shown(value)}) = {expected!r}",
            )
