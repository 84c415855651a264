-- int_statistical_methods_agg
-- Grain:  one row per entity per node per run (entity_result_id): every row of
--         stg_entity_results, also entities without methods.
-- Source: stg_entity_results, stg_statistical_methods, int_anomaly_labels,
--         int_node_facet_statistics.
-- Rule:   pivot the entity's methods into columns. Aggregate entities: simple_zscore,
--         percentile_rank, peer_mean, peer_std, peer_count come from the simple z-score
--         method, robust_zscore from the robust one, and the robust peer median/MAD from
--         the entity's facet in the node header (facet_values = entity dimensions minus
--         medicareId), since the robust record carries neither. Temporal entities:
--         latest/mean simple and robust z, per-period z arrays (monthly_z_scores),
--         peer_median/peer_mad of the latest period, and the slope method's statistics.
--         Labels: each of the seven label columns comes from the one method that judges
--         that statistic. statistical_methods is every method as one jsonb array, in file
--         order: {statistical_method, method, suppressed, statistics (as written, without
--         the per-period arrays), anomalies ({statistic: label})}.

with

entities as (

    select
        entity_result_id,
        run_id,
        canonical_node_id,
        entity_dimensions_hash
    from {{ ref('stg_entity_results') }}
    where {{ run_filter('run_id') }}

),

statistical_methods as (

    select * from {{ ref('stg_statistical_methods') }}
    where {{ run_filter('run_id') }}

),

anomaly_labels as (

    select * from {{ ref('int_anomaly_labels') }}
    where {{ run_filter('run_id') }}

),

facets as (

    select
        run_id,
        canonical_node_id,
        facet_key,
        entity_count,
        peer_mean,
        peer_std,
        std_floor,
        peer_median,
        peer_mad,
        mad_floor
    from {{ ref('int_node_facet_statistics') }}
    where {{ run_filter('run_id') }}

),

methods_labelled as (

    select
        statistical_methods.*,
        anomaly_labels.anomaly_labels,
        anomaly_labels.simple_zscore_anomaly,
        anomaly_labels.robust_zscore_anomaly,
        anomaly_labels.latest_simple_zscore_anomaly,
        anomaly_labels.mean_simple_zscore_anomaly,
        anomaly_labels.latest_robust_zscore_anomaly,
        anomaly_labels.mean_robust_zscore_anomaly,
        anomaly_labels.slope_anomaly
    from statistical_methods
    left join anomaly_labels
        on statistical_methods.statistical_method_id = anomaly_labels.statistical_method_id

),

pivoted as (

    select
        entity_result_id,

        -- simple z-score method (aggregate: the primary statistics)
        max(simple_zscore) filter (where statistical_method_short_name = 'simple_zscore')
            as simple_zscore,
        max(percentile_rank) filter (where statistical_method_short_name = 'simple_zscore')
            as percentile_rank,
        max(peer_mean) filter (where statistical_method_short_name = 'simple_zscore') as peer_mean,
        max(peer_std) filter (where statistical_method_short_name = 'simple_zscore') as peer_std,
        max(peer_count) filter (where statistical_method_short_name = 'simple_zscore')
            as peer_count,
        max(latest_simple_zscore) filter (where statistical_method_short_name = 'simple_zscore')
            as latest_simple_zscore,
        max(mean_simple_zscore) filter (where statistical_method_short_name = 'simple_zscore')
            as mean_simple_zscore,
        (array_agg(per_period_simple_zscores) filter (
            where statistical_method_short_name = 'simple_zscore'
                and per_period_simple_zscores is not null
        ))[1] as monthly_z_scores,

        -- robust z-score method
        max(robust_zscore) filter (where statistical_method_short_name = 'robust_zscore')
            as robust_zscore,
        max(percentile_rank) filter (where statistical_method_short_name = 'robust_zscore')
            as robust_percentile_rank,
        max(peer_count) filter (where statistical_method_short_name = 'robust_zscore')
            as robust_peer_count,
        max(latest_robust_zscore) filter (where statistical_method_short_name = 'robust_zscore')
            as latest_robust_zscore,
        max(mean_robust_zscore) filter (where statistical_method_short_name = 'robust_zscore')
            as mean_robust_zscore,
        max(peer_median) filter (where statistical_method_short_name = 'robust_zscore')
            as latest_peer_median,
        max(peer_mad) filter (where statistical_method_short_name = 'robust_zscore')
            as latest_peer_mad,
        (array_agg(per_period_robust_zscores) filter (
            where statistical_method_short_name = 'robust_zscore'
                and per_period_robust_zscores is not null
        ))[1] as monthly_robust_z_scores,

        -- slope method
        max(slope) filter (where statistical_method_short_name = 'slope_percentile') as slope,
        max(slope_percentile) filter (where statistical_method_short_name = 'slope_percentile')
            as slope_percentile,
        max(acceleration) filter (where statistical_method_short_name = 'slope_percentile')
            as acceleration,
        max(end_start_delta) filter (where statistical_method_short_name = 'slope_percentile')
            as end_start_delta,
        max(period_count) filter (where statistical_method_short_name = 'slope_percentile')
            as period_count,
        max(trend_direction) filter (where statistical_method_short_name = 'slope_percentile')
            as trend_direction,
        max(momentum) filter (where statistical_method_short_name = 'slope_percentile') as momentum,

        -- labels (each set by exactly one method)
        max(simple_zscore_anomaly) as simple_zscore_anomaly,
        max(robust_zscore_anomaly) as robust_zscore_anomaly,
        max(latest_simple_zscore_anomaly) as latest_simple_zscore_anomaly,
        max(mean_simple_zscore_anomaly) as mean_simple_zscore_anomaly,
        max(latest_robust_zscore_anomaly) as latest_robust_zscore_anomaly,
        max(mean_robust_zscore_anomaly) as mean_robust_zscore_anomaly,
        max(slope_anomaly) as slope_anomaly,

        -- suppression
        bool_or(is_suppressed) filter (where statistical_method_short_name = 'simple_zscore')
            as is_simple_suppressed,
        bool_or(is_suppressed) filter (where statistical_method_short_name = 'robust_zscore')
            as is_robust_suppressed,
        bool_or(is_suppressed) filter (where statistical_method_short_name = 'slope_percentile')
            as is_slope_suppressed,
        bool_or(is_suppressed) as is_any_suppressed,
        bool_and(is_suppressed) as is_all_suppressed,
        count(*) as method_count,

        -- every method, in file order: its statistics object as written plus its labels
        jsonb_agg(
            jsonb_build_object(
                'statistical_method', statistical_method,
                'method', statistical_method_short_name,
                'suppressed', is_suppressed,
                'statistics', statistics,
                'anomalies', coalesce(anomaly_labels, '{}'::jsonb)
            )
            order by method_position
        ) as statistical_methods

    from methods_labelled
    group by entity_result_id

),

final as (

    select
        -- ids
        entities.entity_result_id,
        entities.run_id,
        entities.canonical_node_id,
        entities.entity_dimensions_hash as facet_key,

        -- aggregate statistics
        pivoted.simple_zscore,
        pivoted.robust_zscore,
        pivoted.percentile_rank,
        pivoted.peer_mean,
        pivoted.peer_std,
        pivoted.peer_count,
        pivoted.robust_percentile_rank,
        pivoted.robust_peer_count,

        -- the entity's peer group (header facet)
        facets.entity_count as facet_entity_count,
        facets.peer_mean as facet_peer_mean,
        facets.peer_std as facet_peer_std,
        facets.std_floor as facet_std_floor,
        facets.peer_median as facet_peer_median,
        facets.peer_mad as facet_peer_mad,
        facets.mad_floor as facet_mad_floor,

        -- temporal statistics
        pivoted.latest_simple_zscore,
        pivoted.mean_simple_zscore,
        pivoted.latest_robust_zscore,
        pivoted.mean_robust_zscore,
        pivoted.monthly_z_scores,
        pivoted.monthly_robust_z_scores,
        pivoted.latest_peer_median,
        pivoted.latest_peer_mad,
        pivoted.slope,
        pivoted.slope_percentile,
        pivoted.acceleration,
        pivoted.end_start_delta,
        pivoted.period_count,
        pivoted.trend_direction,
        pivoted.momentum,

        -- anomaly labels
        pivoted.simple_zscore_anomaly,
        pivoted.robust_zscore_anomaly,
        pivoted.latest_simple_zscore_anomaly,
        pivoted.mean_simple_zscore_anomaly,
        pivoted.latest_robust_zscore_anomaly,
        pivoted.mean_robust_zscore_anomaly,
        pivoted.slope_anomaly,

        -- all methods
        coalesce(pivoted.statistical_methods, '[]'::jsonb) as statistical_methods,
        coalesce(pivoted.method_count, 0)::integer as method_count,

        -- flags
        coalesce(pivoted.is_simple_suppressed, false) as is_simple_suppressed,
        coalesce(pivoted.is_robust_suppressed, false) as is_robust_suppressed,
        coalesce(pivoted.is_slope_suppressed, false) as is_slope_suppressed,
        coalesce(pivoted.is_any_suppressed, false) as is_any_suppressed,
        coalesce(pivoted.is_all_suppressed, false) as is_all_suppressed

    from entities
    left join pivoted
        on entities.entity_result_id = pivoted.entity_result_id
    left join facets
        on entities.run_id = facets.run_id
        and entities.canonical_node_id = facets.canonical_node_id
        and entities.entity_dimensions_hash = facets.facet_key

)

select * from final
