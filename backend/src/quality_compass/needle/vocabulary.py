"""The words of the run format: grains, dimensions, edge types, labels, signal types, columns.

Everything here is a fixed value of ``docs/reference/needle_run_format.md`` (section in
each comment). The loader, the generator, the validator and the tests import it from here; the
dbt project keeps its own copy where SQL needs one (``signal_types`` in dbt_project.yml,
checked against ``SIGNAL_TYPES`` by a test).
"""

from __future__ import annotations

# -- grains and dimensions (§2.4, §5) ---------------------------------------------------

#: Time grain of aggregate nodes: the last part of their canonical node id.
AGGREGATE_TIME_PERIOD = "aggregate_time_period"
#: Time grain of temporal nodes (the dataset's month field); monthly twins end in it.
TIME_GRAIN = "dischargeMonth"
#: The facility dimension: first group-by of every node.
FACILITY_DIM = "medicareId"

# -- edge types (§3.1, §10.1) -------------------------------------------------------------

TRENDS_TO = "trends_to"
SEGMENTS_INTO = "segments_into"
POTENTIALLY_DRIVEN_BY = "potentially_driven_by"
#: Edge types seen for the same edge across taxonomy versions.
DRIFTING_EDGE_TYPES = frozenset({"segments_into", "potential_driver_of", "potentially_driven_by"})

# -- anomaly labels (§3.2) ------------------------------------------------------------------

#: Tier names, ordered. ``no_score`` is the label of a suppressed statistic.
TIER_LABELS: tuple[str, ...] = (
    "extremely_low",
    "very_low",
    "moderately_low",
    "slightly_low",
    "normal",
    "slightly_high",
    "moderately_high",
    "very_high",
    "extremely_high",
)
NO_SCORE = "no_score"

# -- classification (§3.5, §7) --------------------------------------------------------------

#: Signal types, in the order of the dbt var ``signal_types``.
SIGNAL_TYPES: tuple[str, ...] = (
    "suspect_data",
    "sustained_excellence",
    "improving_leader",
    "baseline",
    "emerging_risk",
    "volatility_alert",
    "recovering",
    "chronic_underperformer",
    "critical_trajectory",
)

#: ``classification_summary.csv`` (§7.3): columns that must hold a value.
CSV_REQUIRED = ("node_id", "metric_id", "signal_type", "severity")
#: The CSV summary's fixed columns, in order; every other column is an entity dimension.
CSV_FIXED = (
    "run_id",
    "node_id",
    "metric_id",
    "signal_type",
    "severity",
    "severity_range_min",
    "severity_range_max",
    "aggregate_zscore",
    "slope_percentile",
    "acceleration",
    "zscore_std",
    "max_abs_deviation",
    "position",
    "trend",
    "momentum",
    "consistency",
    "has_spike",
    "suppressed",
    "period_count",
    "timestamp",
)
#: Columns a richer CSV writer may add; mapped to the same JSON keys when present, never
#: mistaken for entity dimensions.
CSV_OPTIONAL = (
    "classification_reasoning",
    "classification_version",
    "magnitude_tier",
    "trajectory_tier",
    "consistency_tier",
    "coefficient_of_variation",
)
#: The CSV columns that are ``inputs`` of a classification record (§7.4).
CLASSIFICATION_INPUTS = (
    "aggregate_zscore",
    "slope_percentile",
    "acceleration",
    "zscore_std",
    "max_abs_deviation",
)
#: The CSV columns that are ``derived_indicators`` of a classification record (besides
#: ``has_spike``).
CLASSIFICATION_INDICATORS = ("position", "trend", "momentum", "consistency")
