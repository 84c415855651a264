-- int_node_facet_statistics
-- Grain:  one row per loaded node per facet (peer group) (run_id, canonical_node_id,
--         facet_key).
-- Source: stg_node_facets.
-- Rule:   the peer-group statistics of both z-score methods side by side. Simple method:
--         peer mean and population std, z = (value - mean) / max(std, std_floor). Robust
--         method: median and MAD (global_mad is already 1.4826 x median |x - median|),
--         z = (value - median) / max(mad, mad_floor). A peer group smaller than
--         min_peer_count is suppressed upstream. An entity belongs to the facet whose
--         facet_key equals its entity_dimensions_hash (its dimensions minus medicareId).

with

facets as (

    select * from {{ ref('stg_node_facets') }}
    where {{ run_filter('run_id') }}

),

pivoted as (

    select
        run_id,
        canonical_node_id,
        facet_key,
        (array_agg(facet_values))[1] as facet_values,

        -- simple method (aggregate or trending)
        max(record_count) filter (where statistical_method_short_name = 'simple_zscore')
            as simple_record_count,
        max(entity_count) filter (where statistical_method_short_name = 'simple_zscore')
            as simple_entity_count,
        max(global_metric_mean) filter (where statistical_method_short_name = 'simple_zscore')
            as peer_mean,
        max(global_metric_std) filter (where statistical_method_short_name = 'simple_zscore')
            as peer_std,
        max(std_floor) filter (where statistical_method_short_name = 'simple_zscore') as std_floor,
        bool_or(is_std_floor_applied) filter (where statistical_method_short_name = 'simple_zscore')
            as is_std_floor_applied,
        max(min_peer_count) filter (where statistical_method_short_name = 'simple_zscore')
            as simple_min_peer_count,

        -- robust method (aggregate or trending)
        max(entity_count) filter (where statistical_method_short_name = 'robust_zscore')
            as robust_entity_count,
        max(global_metric_median) filter (where statistical_method_short_name = 'robust_zscore')
            as peer_median,
        max(global_mad) filter (where statistical_method_short_name = 'robust_zscore') as peer_mad,
        max(mad_floor) filter (where statistical_method_short_name = 'robust_zscore') as mad_floor,
        bool_or(is_mad_floor_applied) filter (where statistical_method_short_name = 'robust_zscore')
            as is_mad_floor_applied,
        max(winsor_percentile) filter (where statistical_method_short_name = 'robust_zscore')
            as winsor_percentile,
        bool_or(is_winsor_applied) filter (where statistical_method_short_name = 'robust_zscore')
            as is_winsor_applied,
        max(min_peer_count) filter (where statistical_method_short_name = 'robust_zscore')
            as robust_min_peer_count,

        count(*) as method_count,
        sum(warning_count) as warning_count
    from facets
    group by run_id, canonical_node_id, facet_key

),

final as (

    select
        -- ids
        {{ surrogate_key(['run_id', 'canonical_node_id', 'facet_key']) }} as node_facet_id,
        {{ surrogate_key(['run_id', 'canonical_node_id']) }} as node_key,
        run_id,
        canonical_node_id,
        facet_key,

        -- dimensions
        facet_values,
        {{ compute_group_value('facet_values') }} as facet_label,

        -- simple method
        coalesce(simple_entity_count, robust_entity_count) as entity_count,
        simple_record_count as record_count,
        peer_mean,
        peer_std,
        std_floor,
        greatest(peer_std, std_floor) as effective_peer_std,
        simple_min_peer_count,

        -- robust method
        peer_median,
        peer_mad,
        mad_floor,
        greatest(peer_mad, mad_floor) as effective_peer_mad,
        winsor_percentile,
        robust_min_peer_count,

        -- measures
        method_count::integer as method_count,
        warning_count::integer as warning_count,

        -- flags
        is_std_floor_applied,
        is_mad_floor_applied,
        is_winsor_applied,
        coalesce(simple_entity_count, robust_entity_count)
            < coalesce(simple_min_peer_count, robust_min_peer_count) as is_below_min_peer_count

    from pivoted

)

select * from final
