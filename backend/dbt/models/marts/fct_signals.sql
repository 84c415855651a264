-- fct_signals
-- Grain:  one row per classified aggregate entity per run: every classification that is not
--         suppressed (run_id, canonical_node_id, entity_key, metric_id). signal_id is the
--         classification's key, so it is stable across reloads of the same run.
-- Source: stg_classifications (the signal), int_nodes (grain label, domain, twin node),
--         stg_entity_results (value, encounters), int_statistical_methods_agg (primary
--         statistics, labels, all methods), int_temporal_twins (trend), int_facility_runs
--         (system name), stg_runs (detected_at).
-- Rule:   a signal is an aggregate entity that Project Needle classified. Its primary
--         statistics are the aggregate node's simple z-score method: z = (value - peer mean)
--         / max(peer std, std floor), percentile rank and peer mean/std/count; robust z comes
--         from the robust method. benchmark_value = the mean of the entity's peer group (the
--         header facet), else the method's peer_mean; variance_percent = 100 x (value -
--         benchmark) / benchmark. The trend comes from the entity's temporal twin (same
--         entity in the node its node trends_to). anomaly_classification is the simple
--         z-score's 9-tier label and severity its 4-level mapping (map_anomaly_to_severity).
--         Partial runs: the real runs classify entities of multi-dimension nodes whose node
--         files are not shipped. Those classifications are still signals (type, severity,
--         inputs, indicators and reasoning are the classification's own); the columns that
--         need node results stay null and has_entity_result is false (docs: marts.md).
--         Suppressed classifications are excluded; a post-hook logs how many (of the runs
--         built).

{%- set log_excluded_suppressed -%}
{% raw -%}
{%- if execute -%}
    {%- set excluded = run_query(
        "select run_id, count(*) from " ~ ref('stg_classifications')
        ~ " where is_suppressed and " ~ qc_in_runs('run_id', built_runs(this))
        ~ " group by run_id order by run_id"
    ) -%}
    {%- set per_run = [] -%}
    {%- set total = namespace(count=0) -%}
    {%- for row in excluded.rows -%}
        {%- set total.count = total.count + row[1] -%}
        {%- do per_run.append(row[0] ~ ": " ~ row[1]) -%}
    {%- endfor -%}
    {{ log("fct_signals: excluded " ~ total.count ~ " suppressed classifications"
        ~ (" (" ~ per_run | join(", ") ~ ")" if per_run else ""), info=true) }}
{%- endif -%}
{%- endraw %}
{%- endset %}

{{ config(materialized='run_partitioned', post_hook=[log_excluded_suppressed]) }}

with

classifications as (

    select
        classification_id,
        entity_result_id,
        node_key,
        run_id,
        canonical_node_id,
        metric_id,
        entity_key,
        facility_id,
        service_line,
        sub_service_line,
        entity_dimensions,
        signal_type,
        severity,
        severity_range_min,
        severity_range_max,
        inputs,
        derived_indicators,
        position_indicator,
        trend_indicator,
        momentum_indicator,
        consistency_indicator,
        has_spike,
        classification_reasoning,
        severity_calculation,
        magnitude_tier,
        trajectory_tier,
        consistency_tier,
        source_format,
        classified_at
    from {{ ref('stg_classifications') }}
    where not is_suppressed
        and {{ run_filter('run_id') }}

),

nodes as (

    select
        node_key,
        temporal_node_id,
        dimension_ids,
        groupby_label,
        domain
    from {{ ref('int_nodes') }}
    where {{ run_filter('run_id') }}

),

entities as (

    select
        entity_result_id,
        metric_value,
        encounters
    from {{ ref('stg_entity_results') }}
    where is_aggregate
        and {{ run_filter('run_id') }}

),

entity_statistics as (

    select
        entity_result_id,
        simple_zscore,
        robust_zscore,
        percentile_rank,
        peer_mean,
        peer_std,
        peer_count,
        facet_peer_mean,
        simple_zscore_anomaly,
        robust_zscore_anomaly,
        statistical_methods
    from {{ ref('int_statistical_methods_agg') }}
    where {{ run_filter('run_id') }}

),

temporal_twins as (

    select
        aggregate_entity_result_id,
        latest_simple_zscore,
        mean_simple_zscore,
        latest_robust_zscore,
        mean_robust_zscore,
        slope,
        slope_percentile,
        acceleration,
        end_start_delta,
        period_count,
        trend_direction,
        momentum,
        monthly_z_scores,
        metric_timeline,
        observed_period_count,
        coverage_ratio,
        peer_percentile_trends,
        latest_simple_zscore_anomaly,
        mean_simple_zscore_anomaly,
        latest_robust_zscore_anomaly,
        mean_robust_zscore_anomaly,
        slope_anomaly,
        has_twin_entity
    from {{ ref('int_temporal_twins') }}
    where {{ run_filter('run_id') }}

),

facility_runs as (

    select
        run_id,
        facility_id,
        system_name,
        facility_name
    from {{ ref('int_facility_runs') }}
    where {{ run_filter('run_id') }}

),

runs as (

    select
        run_id,
        detected_at
    from {{ ref('stg_runs') }}

),

signals as (

    select
        classifications.*,
        nodes.temporal_node_id,
        nodes.dimension_ids,
        nodes.groupby_label,
        nodes.domain,
        facility_runs.system_name,
        facility_runs.facility_name,
        entities.entity_result_id is not null as has_entity_result,
        entities.metric_value,
        entities.encounters,
        coalesce(entity_statistics.facet_peer_mean, entity_statistics.peer_mean) as benchmark_value,
        entity_statistics.simple_zscore,
        entity_statistics.robust_zscore,
        entity_statistics.percentile_rank,
        entity_statistics.peer_mean,
        entity_statistics.peer_std,
        entity_statistics.peer_count,
        entity_statistics.simple_zscore_anomaly,
        entity_statistics.robust_zscore_anomaly,
        entity_statistics.statistical_methods,
        temporal_twins.latest_simple_zscore,
        temporal_twins.mean_simple_zscore,
        temporal_twins.latest_robust_zscore,
        temporal_twins.mean_robust_zscore,
        temporal_twins.slope,
        temporal_twins.slope_percentile,
        temporal_twins.acceleration,
        temporal_twins.end_start_delta,
        temporal_twins.period_count,
        temporal_twins.trend_direction,
        temporal_twins.momentum,
        temporal_twins.monthly_z_scores,
        temporal_twins.metric_timeline,
        temporal_twins.observed_period_count,
        temporal_twins.coverage_ratio,
        temporal_twins.peer_percentile_trends,
        temporal_twins.latest_simple_zscore_anomaly,
        temporal_twins.mean_simple_zscore_anomaly,
        temporal_twins.latest_robust_zscore_anomaly,
        temporal_twins.mean_robust_zscore_anomaly,
        temporal_twins.slope_anomaly,
        coalesce(temporal_twins.has_twin_entity, false) as has_temporal_twin,
        runs.detected_at
    from classifications
    left join nodes
        on classifications.node_key = nodes.node_key
    left join entities
        on classifications.entity_result_id = entities.entity_result_id
    left join entity_statistics
        on classifications.entity_result_id = entity_statistics.entity_result_id
    left join temporal_twins
        on classifications.entity_result_id = temporal_twins.aggregate_entity_result_id
    left join facility_runs
        on classifications.run_id = facility_runs.run_id
        and classifications.facility_id = facility_runs.facility_id
    left join runs
        on classifications.run_id = runs.run_id

),

final as (

    select
        -- ids
        classification_id as signal_id,
        run_id,
        canonical_node_id,
        temporal_node_id,
        facility_id,
        metric_id,
        entity_key,
        entity_result_id,
        {{ surrogate_key(['facility_id']) }} as facility_sk,
        {{ surrogate_key(['metric_id']) }} as metric_sk,

        -- entity
        system_name,
        facility_name,
        service_line,
        sub_service_line,
        entity_dimensions,
        groupby_label,
        {{ compute_group_value('entity_dimensions', 'dimension_ids') }} as group_value,
        domain,

        -- values
        metric_value,
        benchmark_value,
        case
            when benchmark_value <> 0
                then 100 * (metric_value - benchmark_value) / benchmark_value
        end as variance_percent,
        encounters,

        -- primary statistics (aggregate simple z-score method; robust z from the robust method)
        simple_zscore,
        robust_zscore,
        percentile_rank,
        peer_mean,
        peer_std,
        peer_count,
        statistical_methods,

        -- temporal enrichment (the trends_to twin)
        latest_simple_zscore,
        mean_simple_zscore,
        latest_robust_zscore,
        mean_robust_zscore,
        slope,
        slope_percentile,
        acceleration,
        end_start_delta,
        period_count,
        observed_period_count,
        coverage_ratio,
        trend_direction,
        momentum,
        monthly_z_scores,
        metric_timeline as metric_trend_timeline,
        peer_percentile_trends,

        -- anomaly labels
        simple_zscore_anomaly,
        robust_zscore_anomaly,
        latest_simple_zscore_anomaly,
        mean_simple_zscore_anomaly,
        latest_robust_zscore_anomaly,
        mean_robust_zscore_anomaly,
        slope_anomaly,
        simple_zscore_anomaly as anomaly_classification,
        {{ map_anomaly_to_severity('simple_zscore_anomaly') }} as severity,

        -- classification
        signal_type,
        severity as signal_severity,
        array[severity_range_min, severity_range_max]::integer[] as signal_severity_range,
        inputs as classification_inputs,
        derived_indicators as classification_indicators,
        position_indicator,
        trend_indicator,
        momentum_indicator,
        consistency_indicator,
        classification_reasoning,
        severity_calculation,
        magnitude_tier,
        trajectory_tier,
        consistency_tier,
        source_format as classification_source_format,

        -- flags
        has_entity_result,
        has_temporal_twin,
        coalesce(has_spike, false) as has_spike,

        -- timestamps
        detected_at,
        classified_at

    from signals

)

select * from final
