-- Upstream math check (format spec 9.5 #26-28), severity warn.
-- Rule: in weighted_mean contribution files, the weight shares of one parent group sum to 1
-- (|sum - 1| <= var weight_share_sum_tolerance), each share is weight_value / sum of the
-- group's weight_value, and excess_over_parent = weight_share x (child_value - parent_value).
-- The group is (run, parent node, parent entity, child node, metric): the z-score files share
-- parents with the metric file, so grouping by parent alone would mix them.

{{ config(severity='warn', tags=['upstream_math']) }}

with

contributions as (

    select
        contribution_id,
        run_id,
        parent_node_id,
        parent_entity_key,
        child_node_id,
        metric_id,
        child_value,
        parent_value,
        weight_value,
        weight_share,
        excess_over_parent
    from {{ scoped_to_tested_runs(ref('stg_contributions')) }} as stg_contributions
    where contribution_method = 'weighted_mean'
        and weight_share is not null

),

grouped as (

    select
        contributions.*,
        sum(weight_share) over parent_group as group_share_sum,
        sum(weight_value) over parent_group as group_weight_sum
    from contributions
    window parent_group as (
        partition by run_id, parent_node_id, parent_entity_key, child_node_id, metric_id
    )

),

violations as (

    select
        *,
        case
            when abs(group_share_sum - 1) > {{ var('weight_share_sum_tolerance') }}
                then 'weight shares of the parent group sum to '
                    || group_share_sum::text || ', not 1'
            when group_weight_sum > 0
                and abs(weight_share - weight_value / group_weight_sum)
                > {{ var('weight_share_sum_tolerance') }}
                then 'weight_share differs from weight_value / sum(weight_value) of the group'
            when excess_over_parent is not null
                and child_value is not null
                and parent_value is not null
                and abs(excess_over_parent - weight_share * (child_value - parent_value))
                > {{ var('upstream_math_tolerance') }}
                * greatest(1, abs(child_value - parent_value))
                then 'excess_over_parent differs from weight_share x (child_value - parent_value)'
        end as failure_reason
    from grouped

)

select * from violations
where failure_reason is not null
