-- Upstream math check (format spec 3.2 and 9.4 #23, #25), severity warn.
-- Rule: an anomaly's label is the tier of its statistic with upper-inclusive bounds - the
-- first tier whose bound b has value <= b; z-scores [-3, -2, -1, -0.5, 0.5, 1, 2, 3],
-- slope_percentile [5, 10, 20, 40, 60, 80, 90, 95] (vars zscore_tier_bounds,
-- percentile_tier_bounds); a null statistic (suppressed) is labelled no_score.
-- The recomputation lives in int_anomaly_checks.

{{ config(severity='warn', tags=['upstream_math']) }}

select
    anomaly_id,
    run_id,
    canonical_node_id,
    applies_to,
    statistic_value,
    anomaly_label,
    expected_anomaly_label,
    'label ' || coalesce(anomaly_label, 'null') || ' but the statistic''s tier is '
        || expected_anomaly_label as failure_reason
from {{ scoped_to_tested_runs(ref('int_anomaly_checks')) }} as int_anomaly_checks
where not is_label_consistent
