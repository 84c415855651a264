-- Upstream math check (format spec 9.2 #10, #11, #13, #14), severity warn: a bad upstream
-- run shows up without blocking the build.
-- Rule: for every unsuppressed aggregate simple z-score method, recomputed from the peer
-- values themselves (the non-null metric values of the node's entities in the entity's
-- peer group: same dimensions minus medicareId), not from the header's stored statistics:
--     peer_count      = number of peer values
--     peer_mean       = mean of the peer values
--     peer_std        = population std (ddof 0) of the peer values
--     simple_zscore   = (metric_value - that mean) / max(that std, std_floor)
--     percentile_rank = 100 x (#{x < v} + 0.5 x #{x = v}) / n among the peer values
-- and the header facet's global_metric_mean / global_metric_std equal the same recomputed
-- mean / std. std_floor (configuration, not a statistic) comes from the header facet.
-- Tolerance: var upstream_math_tolerance x max(1, |expected|).
-- Returns one row per violating method with the first reason that applies.

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
        peer_std,
        peer_count,
        percentile_rank
    from {{ scoped_to_tested_runs(ref('stg_statistical_methods')) }} as stg_statistical_methods
    where statistical_method_short_name = 'simple_zscore'
        and not is_trending
        and not is_suppressed
        and simple_zscore is not null

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

peers as (

    select
        entities.*,
        count(entities.metric_value) over peer_group as peer_value_count,
        avg(entities.metric_value) over peer_group as peer_value_mean,
        stddev_pop(entities.metric_value) over peer_group as peer_value_std,
        rank() over ordered_peer_group - 1 as lower_peer_count,
        count(*) over (
            partition by
                entities.run_id,
                entities.canonical_node_id,
                entities.entity_dimensions_hash,
                entities.metric_value
        ) as equal_peer_count
    from entities
    window
        peer_group as (
            partition by
                entities.run_id, entities.canonical_node_id, entities.entity_dimensions_hash
        ),
        ordered_peer_group as (
            partition by
                entities.run_id, entities.canonical_node_id, entities.entity_dimensions_hash
            order by entities.metric_value asc nulls last
        )

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
        peers.metric_value,
        peers.peer_value_count,
        peers.peer_value_mean,
        peers.peer_value_std,
        facets.peer_mean as facet_peer_mean,
        facets.peer_std as facet_peer_std,
        facets.std_floor,
        (peers.metric_value - peers.peer_value_mean)
        / nullif(greatest(peers.peer_value_std, coalesce(facets.std_floor, 0)), 0)
            as expected_simple_zscore,
        100.0 * (peers.lower_peer_count + 0.5 * peers.equal_peer_count)
        / nullif(peers.peer_value_count, 0) as expected_percentile_rank
    from methods
    inner join peers
        on methods.entity_result_id = peers.entity_result_id
    left join facets
        on methods.run_id = facets.run_id
        and methods.canonical_node_id = facets.canonical_node_id
        and peers.entity_dimensions_hash = facets.facet_key

),

violations as (

    select
        *,
        case
            when facet_peer_mean is null
                then 'no peer group (header facet) matches the entity''s dimensions'
            when metric_value is null
                then 'a simple z-score without a metric value'
            when peer_count is null or peer_count <> peer_value_count
                then 'peer_count differs from the number of peer values'
            when peer_mean is null
                or abs(peer_mean - peer_value_mean)
                > {{ var('upstream_math_tolerance') }} * greatest(1, abs(peer_value_mean))
                then 'peer_mean differs from the mean of the peer values'
            when peer_std is null
                or abs(peer_std - peer_value_std)
                > {{ var('upstream_math_tolerance') }} * greatest(1, abs(peer_value_std))
                then 'peer_std differs from the population std of the peer values'
            when expected_simple_zscore is null
                or abs(simple_zscore - expected_simple_zscore)
                > {{ var('upstream_math_tolerance') }} * greatest(1, abs(expected_simple_zscore))
                then 'simple_zscore differs from (value - peer mean) / max(peer std, std_floor)'
            when percentile_rank is null
                or abs(percentile_rank - expected_percentile_rank)
                > {{ var('upstream_math_tolerance') }} * greatest(1, expected_percentile_rank)
                then 'percentile_rank differs from the midpoint percentile among the peer values'
            when abs(facet_peer_mean - peer_value_mean)
                > {{ var('upstream_math_tolerance') }} * greatest(1, abs(peer_value_mean))
                or abs(facet_peer_std - peer_value_std)
                > {{ var('upstream_math_tolerance') }} * greatest(1, abs(peer_value_std))
                then 'the header facet''s global_metric_mean / std differ from the peer values'
        end as failure_reason
    from recomputed

)

select * from violations
where failure_reason is not null
