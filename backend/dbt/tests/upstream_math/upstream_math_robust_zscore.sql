-- Upstream math check (format spec 9.2 #12), severity warn.
-- Rule: for every unsuppressed aggregate robust z-score method, recomputed from the peer
-- values themselves (the non-null metric values of the node's entities in the entity's
-- peer group: same dimensions minus medicareId), not from the header's stored statistics:
--     median = median of the peer values
--     MAD    = var robust_mad_scale (1.4826) x median(|x - median|) of the peer values
--     robust_zscore = (metric_value - median) / max(MAD, mad_floor)
-- and the header facet's global_metric_median / global_mad equal the same median / MAD.
-- mad_floor (configuration) comes from the header facet. A facet whose header says the
-- values were winsorized (winsor_applied) is compared with the header's median and MAD
-- instead: the winsorized peer values are not in the files.
-- Tolerance: var upstream_math_tolerance x max(1, |expected|).

{{ config(severity='warn', tags=['upstream_math']) }}

with

methods as (

    select
        statistical_method_id,
        entity_result_id,
        run_id,
        canonical_node_id,
        robust_zscore
    from {{ scoped_to_tested_runs(ref('stg_statistical_methods')) }} as stg_statistical_methods
    where statistical_method_short_name = 'robust_zscore'
        and not is_trending
        and not is_suppressed
        and robust_zscore is not null

),

entities as (

    select
        entity_result_id,
        run_id,
        canonical_node_id,
        entity_dimensions_hash,
        metric_value
    from {{ scoped_to_tested_runs(ref('stg_entity_results')) }} as stg_entity_results
    where is_aggregate

),

peer_medians as (

    select
        run_id,
        canonical_node_id,
        entity_dimensions_hash,
        percentile_cont(0.5) within group (order by metric_value) as peer_value_median
    from entities
    where metric_value is not null
    group by run_id, canonical_node_id, entity_dimensions_hash

),

peer_mads as (

    select
        peer_medians.run_id,
        peer_medians.canonical_node_id,
        peer_medians.entity_dimensions_hash,
        peer_medians.peer_value_median,
        {{ var('robust_mad_scale') }} * percentile_cont(0.5) within group (
            order by abs(entities.metric_value - peer_medians.peer_value_median)
        ) as peer_value_mad
    from peer_medians
    inner join entities
        on peer_medians.run_id = entities.run_id
        and peer_medians.canonical_node_id = entities.canonical_node_id
        and peer_medians.entity_dimensions_hash = entities.entity_dimensions_hash
    where entities.metric_value is not null
    group by
        peer_medians.run_id,
        peer_medians.canonical_node_id,
        peer_medians.entity_dimensions_hash,
        peer_medians.peer_value_median

),

facets as (

    select
        run_id,
        canonical_node_id,
        facet_key,
        peer_median,
        peer_mad,
        mad_floor,
        coalesce(is_winsor_applied, false) as is_winsor_applied
    from {{ scoped_to_tested_runs(ref('int_node_facet_statistics')) }} as int_node_facet_statistics

),

recomputed as (

    select
        methods.*,
        entities.metric_value,
        facets.peer_median as facet_peer_median,
        facets.peer_mad as facet_peer_mad,
        facets.mad_floor,
        facets.is_winsor_applied,
        case
            when facets.is_winsor_applied then facets.peer_median
            else peer_mads.peer_value_median
        end as expected_median,
        case
            when facets.is_winsor_applied then facets.peer_mad
            else peer_mads.peer_value_mad
        end as expected_mad
    from methods
    inner join entities
        on methods.entity_result_id = entities.entity_result_id
    left join peer_mads
        on entities.run_id = peer_mads.run_id
        and entities.canonical_node_id = peer_mads.canonical_node_id
        and entities.entity_dimensions_hash = peer_mads.entity_dimensions_hash
    left join facets
        on methods.run_id = facets.run_id
        and methods.canonical_node_id = facets.canonical_node_id
        and entities.entity_dimensions_hash = facets.facet_key

),

expectations as (

    select
        *,
        (metric_value - expected_median)
        / nullif(greatest(expected_mad, coalesce(mad_floor, 0)), 0) as expected_robust_zscore
    from recomputed

),

violations as (

    select
        *,
        case
            when facet_peer_median is null
                then 'no peer group (header facet with a median) matches the entity''s dimensions'
            when metric_value is null
                then 'a robust z-score without a metric value'
            when expected_robust_zscore is null
                or abs(robust_zscore - expected_robust_zscore)
                > {{ var('upstream_math_tolerance') }} * greatest(1, abs(expected_robust_zscore))
                then 'robust_zscore differs from (value - peer median) / max(peer MAD, mad_floor)'
            when abs(facet_peer_median - expected_median)
                > {{ var('upstream_math_tolerance') }} * greatest(1, abs(expected_median))
                or facet_peer_mad is null
                or abs(facet_peer_mad - expected_mad)
                > {{ var('upstream_math_tolerance') }} * greatest(1, abs(expected_mad))
                then 'the header facet''s median / global_mad differ from the peer values'
        end as failure_reason
    from expectations

)

select * from violations
where failure_reason is not null
