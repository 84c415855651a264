"""Statistical methods of node results and their anomaly contracts (§2.4, §3.3, §4.5).

A method id reads ``statistical_method__<short name>__<time period>``; each method carries
one anomaly profile with one or two anomaly methods (as the node YAML's
``multi_method_contract`` declares them), and each anomaly item names an interpretation
template ``<prefix><label>``.
"""

from __future__ import annotations

METHOD_SIMPLE_ZSCORE = "statistical_method__simple_zscore__aggregate_time_period"
METHOD_ROBUST_ZSCORE = "statistical_method__robust_zscore__aggregate_time_period"
METHOD_TRENDING_SIMPLE_ZSCORE = "statistical_method__trending_simple_zscore__trending_time_period"
METHOD_TRENDING_ROBUST_ZSCORE = "statistical_method__trending_robust_zscore__trending_time_period"
METHOD_SLOPE_PERCENTILE = "statistical_method__slope_percentile__trending_time_period"

#: Methods of an aggregate node and of a temporal node, in file order.
AGGREGATE_METHODS = (METHOD_SIMPLE_ZSCORE, METHOD_ROBUST_ZSCORE)
TREND_METHODS = (
    METHOD_TRENDING_SIMPLE_ZSCORE,
    METHOD_TRENDING_ROBUST_ZSCORE,
    METHOD_SLOPE_PERCENTILE,
)

#: method id -> (anomaly profile, anomaly methods), as in the node YAML.
METHOD_CONTRACTS: dict[str, tuple[str, list[str]]] = {
    METHOD_SIMPLE_ZSCORE: (
        "anomaly_profiles__simple_zscore__aggregate_time_period",
        ["anomaly_method__simple_zscore__simple_zscore_threshold__aggregate_time_period"],
    ),
    METHOD_ROBUST_ZSCORE: (
        "anomaly_profiles__robust_zscore__aggregate_time_period",
        ["anomaly_method__robust_zscore__robust_zscore_threshold__aggregate_time_period"],
    ),
    METHOD_TRENDING_SIMPLE_ZSCORE: (
        "anomaly_profiles__trending_simple_zscore__trending_time_period",
        [
            "anomaly_method__trending_simple_zscore__simple_zscore_threshold__trending_time_period",
            "anomaly_method__trending_simple_zscore__mean_simple_zscore_threshold__trending_time_period",
        ],
    ),
    METHOD_TRENDING_ROBUST_ZSCORE: (
        "anomaly_profiles__trending_robust_zscore__trending_time_period",
        [
            "anomaly_method__trending_robust_zscore__robust_zscore_threshold__trending_time_period",
            "anomaly_method__trending_robust_zscore__mean_robust_zscore_threshold__trending_time_period",
        ],
    ),
    METHOD_SLOPE_PERCENTILE: (
        "anomaly_profiles__slope_percentile__trending_time_period",
        ["anomaly_method__slope_percentile__percentile_threshold__trending_time_period"],
    ),
}

#: Statistics an anomaly item may apply to, per method short name (§3.3).
METHOD_APPLIES: dict[str, set[str]] = {
    "simple_zscore": {"simple_zscore"},
    "robust_zscore": {"robust_zscore"},
    "trending_simple_zscore": {"latest_simple_zscore", "mean_simple_zscore"},
    "trending_robust_zscore": {"latest_robust_zscore", "mean_robust_zscore"},
    "slope_percentile": {"slope_percentile"},
}

#: Interpretation template id prefix per (method, applies_to); the label is appended.
#: The trending robust "latest" family omits the threshold, as in real runs (§2.4).
TEMPLATE_PREFIX: dict[tuple[str, str], str] = {
    (
        METHOD_SIMPLE_ZSCORE,
        "simple_zscore",
    ): "interpretation_template__simple_zscore__simple_zscore_threshold__aggregate_time_period__",
    (
        METHOD_ROBUST_ZSCORE,
        "robust_zscore",
    ): "interpretation_template__robust_zscore__robust_zscore_threshold__aggregate_time_period__",
    (
        METHOD_TRENDING_SIMPLE_ZSCORE,
        "latest_simple_zscore",
    ): "interpretation_template__trending_simple_zscore__simple_zscore_threshold__trending_time_period__",
    (
        METHOD_TRENDING_SIMPLE_ZSCORE,
        "mean_simple_zscore",
    ): "interpretation_template__trending_simple_zscore__mean_simple_zscore_threshold__trending_time_period__",
    (
        METHOD_TRENDING_ROBUST_ZSCORE,
        "latest_robust_zscore",
    ): "interpretation_template__trending_robust_zscore__trending_time_period__",
    (
        METHOD_TRENDING_ROBUST_ZSCORE,
        "mean_robust_zscore",
    ): "interpretation_template__trending_robust_zscore__mean_robust_zscore_threshold__trending_time_period__",
    (
        METHOD_SLOPE_PERCENTILE,
        "slope_percentile",
    ): "interpretation_template__slope_percentile__percentile_threshold__trending_time_period__",
}

#: The same prefixes by method id, then by ``applies_to``.
TEMPLATE_PREFIX_BY_METHOD: dict[str, dict[str, str]] = {}
for (_method, _applies), _prefix in TEMPLATE_PREFIX.items():
    TEMPLATE_PREFIX_BY_METHOD.setdefault(_method, {})[_applies] = _prefix


def short_method_name(method_id: str) -> str:
    """``statistical_method__simple_zscore__aggregate_time_period`` -> ``simple_zscore``."""
    parts = method_id.split("__")
    return parts[1] if len(parts) >= 3 else method_id
