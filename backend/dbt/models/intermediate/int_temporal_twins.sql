-- int_temporal_twins
-- Grain:  one row per aggregate entity whose node has a trends_to twin node
--         (aggregate_entity_result_id).
-- Source: int_node_twins, stg_entity_results, int_statistical_methods_agg,
--         int_node_percentile_bands.
-- Rule:   an aggregate entity's trend lives in its temporal twin: the entity with the
--         same entity_key in the node its node trends_to (format spec 8). The twin gives
--         the latest/mean simple and robust z, slope, slope percentile, acceleration, trend
--         direction, momentum, the monthly z-scores and the metric timeline, and its node
--         the peer percentile bands. The twin columns are null when the twin node or
--         entity was not loaded (has_twin_entity = false).

with

node_twins as (

    select
        run_id,
        aggregate_node_id,
        temporal_node_id
    from {{ ref('int_node_twins') }}
    where {{ run_filter('run_id') }}

),

entities as (

    select
        entity_result_id,
        run_id,
        canonical_node_id,
        entity_key,
        facility_id,
        is_aggregate,
        metric_timeline,
        encounters_per_period,
        observed_period_count,
        missing_period_count,
        coverage_ratio
    from {{ ref('stg_entity_results') }}
    where {{ run_filter('run_id') }}

),

statistics as (

    select * from {{ ref('int_statistical_methods_agg') }}
    where {{ run_filter('run_id') }}

),

bands as (

    select
        run_id,
        canonical_node_id,
        peer_percentile_trends
    from {{ ref('int_node_percentile_bands') }}
    where {{ run_filter('run_id') }}

),

aggregate_entities as (

    select
        entities.entity_result_id as aggregate_entity_result_id,
        entities.run_id,
        entities.canonical_node_id as aggregate_node_id,
        node_twins.temporal_node_id,
        entities.entity_key,
        entities.facility_id
    from entities
    inner join node_twins
        on entities.run_id = node_twins.run_id
        and entities.canonical_node_id = node_twins.aggregate_node_id
    where entities.is_aggregate

),

final as (

    select
        -- ids
        aggregate_entities.aggregate_entity_result_id,
        twin.entity_result_id as temporal_entity_result_id,
        aggregate_entities.run_id,
        aggregate_entities.aggregate_node_id,
        aggregate_entities.temporal_node_id,
        aggregate_entities.entity_key,
        aggregate_entities.facility_id,

        -- temporal z-scores
        twin_statistics.latest_simple_zscore,
        twin_statistics.mean_simple_zscore,
        twin_statistics.latest_robust_zscore,
        twin_statistics.mean_robust_zscore,
        twin_statistics.monthly_z_scores,
        twin_statistics.monthly_robust_z_scores,
        twin_statistics.latest_peer_median,
        twin_statistics.latest_peer_mad,

        -- slope
        twin_statistics.slope,
        twin_statistics.slope_percentile,
        twin_statistics.acceleration,
        twin_statistics.end_start_delta,
        twin_statistics.period_count,
        twin_statistics.trend_direction,
        twin_statistics.momentum,

        -- twin anomaly labels
        twin_statistics.latest_simple_zscore_anomaly,
        twin_statistics.mean_simple_zscore_anomaly,
        twin_statistics.latest_robust_zscore_anomaly,
        twin_statistics.mean_robust_zscore_anomaly,
        twin_statistics.slope_anomaly,

        -- timeline and peer bands
        twin.metric_timeline,
        twin.encounters_per_period,
        twin.observed_period_count,
        twin.missing_period_count,
        twin.coverage_ratio,
        bands.peer_percentile_trends,

        -- flags
        twin.entity_result_id is not null as has_twin_entity,
        coalesce(twin_statistics.is_slope_suppressed, false) as is_slope_suppressed,
        coalesce(twin_statistics.is_any_suppressed, false) as is_any_suppressed

    from aggregate_entities
    left join entities as twin
        on aggregate_entities.run_id = twin.run_id
        and aggregate_entities.temporal_node_id = twin.canonical_node_id
        and aggregate_entities.entity_key = twin.entity_key
    left join statistics as twin_statistics
        on twin.entity_result_id = twin_statistics.entity_result_id
    left join bands
        on aggregate_entities.run_id = bands.run_id
        and aggregate_entities.temporal_node_id = bands.canonical_node_id

)

select * from final
