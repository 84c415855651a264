-- int_anomaly_labels
-- Grain:  one row per statistical method per entity (statistical_method_id), every method
--         of stg_statistical_methods, with or without anomalies.
-- Source: stg_statistical_methods, stg_anomalies.
-- Rule:   pivot the anomaly labels by what they judge (applies_to): simple_zscore ->
--         simple_zscore_anomaly, robust_zscore -> robust_zscore_anomaly, latest/mean
--         simple and robust z -> their four columns, slope_percentile -> slope_anomaly.
--         A method only fills the columns of its own statistics; the rest stay null.
--         anomaly_labels holds the same as one object {applies_to: label}.

with

statistical_methods as (

    select
        statistical_method_id,
        entity_result_id,
        run_id
    from {{ ref('stg_statistical_methods') }}
    where {{ run_filter('run_id') }}

),

anomalies as (

    select
        statistical_method_id,
        applies_to,
        anomaly_label
    from {{ ref('stg_anomalies') }}
    where {{ run_filter('run_id') }}

),

pivoted as (

    select
        statistical_method_id,
        max(anomaly_label) filter (where applies_to = 'simple_zscore') as simple_zscore_anomaly,
        max(anomaly_label) filter (where applies_to = 'robust_zscore') as robust_zscore_anomaly,
        max(anomaly_label) filter (where applies_to = 'latest_simple_zscore')
            as latest_simple_zscore_anomaly,
        max(anomaly_label) filter (where applies_to = 'mean_simple_zscore')
            as mean_simple_zscore_anomaly,
        max(anomaly_label) filter (where applies_to = 'latest_robust_zscore')
            as latest_robust_zscore_anomaly,
        max(anomaly_label) filter (where applies_to = 'mean_robust_zscore')
            as mean_robust_zscore_anomaly,
        max(anomaly_label) filter (where applies_to = 'slope_percentile') as slope_anomaly,
        jsonb_object_agg(applies_to, anomaly_label) filter (where applies_to is not null)
            as anomaly_labels,
        count(*) as anomaly_count
    from anomalies
    group by statistical_method_id

),

final as (

    select
        -- ids
        statistical_methods.statistical_method_id,
        statistical_methods.entity_result_id,
        statistical_methods.run_id,

        -- labels
        pivoted.simple_zscore_anomaly,
        pivoted.robust_zscore_anomaly,
        pivoted.latest_simple_zscore_anomaly,
        pivoted.mean_simple_zscore_anomaly,
        pivoted.latest_robust_zscore_anomaly,
        pivoted.mean_robust_zscore_anomaly,
        pivoted.slope_anomaly,
        coalesce(pivoted.anomaly_labels, '{}'::jsonb) as anomaly_labels,

        -- measures
        coalesce(pivoted.anomaly_count, 0)::integer as anomaly_count

    from statistical_methods
    left join pivoted
        on statistical_methods.statistical_method_id = pivoted.statistical_method_id

)

select * from final
