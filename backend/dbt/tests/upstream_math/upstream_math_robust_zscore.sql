-- Upstream math check (format spec 9.2 #12), severity warn.
-- Rule: for every unsuppressed aggregate robust z-score method,
--     robust_zscore = (metric_value - facet median) / max(facet MAD, mad_floor)
-- where the median and the MAD (global_mad, already 1.4826 x median |x - median|) come from
-- the entity's header facet: the robust record itself carries neither.
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
        metric_value,
        entity_dimensions_hash
    from {{ scoped_to_tested_runs(ref('stg_entity_results')) }} as stg_entity_results

),

facets as (

    select
        run_id,
        canonical_node_id,
        facet_key,
        peer_median,
        peer_mad,
        mad_floor
    from {{ scoped_to_tested_runs(ref('int_node_facet_statistics')) }} as int_node_facet_statistics

),

recomputed as (

    select
        methods.*,
        entities.metric_value,
        facets.peer_median,
        facets.peer_mad,
        facets.mad_floor,
        (entities.metric_value - facets.peer_median)
            / nullif(greatest(facets.peer_mad, coalesce(facets.mad_floor, 0)), 0)
                as expected_robust_zscore
    from methods
    inner join entities
        on methods.entity_result_id = entities.entity_result_id
    left join facets
        on methods.run_id = facets.run_id
        and methods.canonical_node_id = facets.canonical_node_id
        and entities.entity_dimensions_hash = facets.facet_key

),

violations as (

    select
        *,
        case
            when peer_median is null
                then 'no peer group (header facet with a median) matches the entity''s dimensions'
            when expected_robust_zscore is null
                or abs(robust_zscore - expected_robust_zscore)
                > {{ var('upstream_math_tolerance') }} * greatest(1, abs(expected_robust_zscore))
                then 'robust_zscore differs from (value - median) / max(MAD, mad_floor)'
        end as failure_reason
    from recomputed

)

select * from violations
where failure_reason is not null
