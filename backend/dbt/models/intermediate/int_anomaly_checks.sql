-- int_anomaly_checks
-- Grain:  one row per anomaly (anomaly_id), as stg_anomalies.
-- Source: stg_anomalies.
-- Rule:   recompute each label from its statistic with the upper-inclusive tier bounds
--         (format spec 3.2): z-scores [-3, -2, -1, -0.5, 0.5, 1, 2, 3], slope_percentile
--         [5, 10, 20, 40, 60, 80, 90, 95]; the label is the first tier whose bound b has
--         value <= b. A null statistic (suppressed) expects no_score. severity maps the
--         label to Critical / High / Moderate / Watch / null. A view: it is read by the
--         upstream-math test only.

{{ config(materialized='view') }}

with

anomalies as (

    select
        anomaly_id,
        statistical_method_id,
        run_id,
        canonical_node_id,
        statistical_method_short_name,
        applies_to,
        anomaly_label,
        statistic_value
    from {{ ref('stg_anomalies') }}

),

final as (

    select
        anomalies.*,
        coalesce(
            {{ expected_anomaly_label('statistic_value', 'applies_to') }},
            '{{ var("anomaly_no_score_label") }}'
        ) as expected_anomaly_label,
        {{ map_anomaly_to_severity('anomaly_label') }} as anomaly_severity,
        (
            anomaly_label is not distinct from coalesce(
                {{ expected_anomaly_label('statistic_value', 'applies_to') }},
                '{{ var("anomaly_no_score_label") }}'
            )
        ) as is_label_consistent
    from anomalies

)

select * from final
