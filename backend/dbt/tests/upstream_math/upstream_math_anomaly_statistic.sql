-- Upstream math check (format spec 9.4 #22), severity warn.
-- Rule: an anomaly's statistic_value is the method's statistic it applies to
-- (statistic_value == statistics[applies_to]), both null when suppressed.
-- Stored values only: this compares two values the run stores (the anomaly item's copy and
-- the method's statistic) with each other; it recomputes nothing. Whether the statistic
-- itself is right is upstream_math_simple_zscore's, _robust_zscore's and
-- _temporal_summaries' job.

{{ config(severity='warn', tags=['upstream_math']) }}

with

anomalies as (

    select
        anomaly_id,
        statistical_method_id,
        run_id,
        canonical_node_id,
        applies_to,
        statistic_value
    from {{ scoped_to_tested_runs(ref('stg_anomalies')) }} as stg_anomalies

),

methods as (

    select *
    from {{ scoped_to_tested_runs(ref('stg_statistical_methods')) }} as stg_statistical_methods

),

compared as (

    select
        anomalies.*,
        case anomalies.applies_to
            when 'simple_zscore' then methods.simple_zscore
            when 'robust_zscore' then methods.robust_zscore
            when 'latest_simple_zscore' then methods.latest_simple_zscore
            when 'mean_simple_zscore' then methods.mean_simple_zscore
            when 'latest_robust_zscore' then methods.latest_robust_zscore
            when 'mean_robust_zscore' then methods.mean_robust_zscore
            when 'slope_percentile' then methods.slope_percentile
        end as method_statistic
    from anomalies
    inner join methods
        on anomalies.statistical_method_id = methods.statistical_method_id

)

select
    *,
    'statistic_value differs from the method''s ' || applies_to as failure_reason
from compared
where applies_to in (
        'simple_zscore', 'robust_zscore', 'latest_simple_zscore', 'mean_simple_zscore',
        'latest_robust_zscore', 'mean_robust_zscore', 'slope_percentile'
    )
    and (
        (statistic_value is null) <> (method_statistic is null)
        or abs(statistic_value - method_statistic)
            > {{ var('upstream_math_tolerance') }} * greatest(1, abs(method_statistic))
    )
