-- Upstream math check (format spec 9.2 #10-11), severity warn: a bad upstream run shows up
-- without blocking the build.
-- Rule: for every unsuppressed aggregate simple z-score method,
--     simple_zscore = (metric_value - peer_mean) / max(peer_std, std_floor)
-- and peer_mean / peer_std equal the mean / population std of the entity's peer group
-- (the header facet whose facet_values equal the entity's dimensions minus medicareId).
-- Tolerance: var upstream_math_tolerance x max(1, |expected|).
-- Returns one row per violating method with the reason.

{{ config(severity='warn', tags=['upstream_math']) }}

with

methods as (

    select
        statistical_method_id,
        entity_result_id,
        run_id,
        canonical_node_id,
        simple_zscore,
        peer_mean,
        peer_std
    from {{ scoped_to_tested_runs(ref('stg_statistical_methods')) }} as stg_statistical_methods
    where statistical_method_short_name = 'simple_zscore'
        and not is_trending
        and not is_suppressed
        and simple_zscore is not null

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
        peer_mean,
        peer_std,
        std_floor
    from {{ scoped_to_tested_runs(ref('int_node_facet_statistics')) }} as int_node_facet_statistics

),

recomputed as (

    select
        methods.*,
        entities.metric_value,
        facets.peer_mean as facet_peer_mean,
        facets.peer_std as facet_peer_std,
        facets.std_floor,
        (entities.metric_value - methods.peer_mean)
            / nullif(greatest(methods.peer_std, coalesce(facets.std_floor, 0)), 0)
                as expected_simple_zscore
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
            when facet_peer_mean is null
                then 'no peer group (header facet) matches the entity''s dimensions'
            when abs(peer_mean - facet_peer_mean)
                > {{ var('upstream_math_tolerance') }} * greatest(1, abs(facet_peer_mean))
                then 'peer_mean differs from the facet''s global_metric_mean'
            when abs(peer_std - facet_peer_std)
                > {{ var('upstream_math_tolerance') }} * greatest(1, abs(facet_peer_std))
                then 'peer_std differs from the facet''s global_metric_std'
            when expected_simple_zscore is null
                or abs(simple_zscore - expected_simple_zscore)
                > {{ var('upstream_math_tolerance') }} * greatest(1, abs(expected_simple_zscore))
                then 'simple_zscore differs from (value - peer_mean) / max(peer_std, std_floor)'
        end as failure_reason
    from recomputed

)

select * from violations
where failure_reason is not null
