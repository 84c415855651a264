-- fct_contributions
-- Grain:  one row per contribution record (contribution_id): a child entity's share of its
--         parent entity for one metric file (run_id, parent_node_id, parent entity,
--         child_node_id, child entity, metric_id).
-- Source: stg_contributions, int_nodes (the child node's real metric, group labels),
--         stg_classifications (the parent's and child's signals), stg_runs (detected_at).
-- Rule:   a parent group is (run, parent node, parent entity, child node, metric): the
--         z-score files (metric_id simple_zscore / robust_zscore) share parents with the
--         metric file, so a group must never mix them. Within a group:
--         contribution_weight = |excess_over_parent| x weight_share (how much the child moves
--         the parent, weighted by its size); contribution_direction is the sign of
--         excess_over_parent (positive pulls the parent up, negative down, 0 neutral; null
--         when the excess is unknown); contribution_rank orders the group by
--         contribution_weight (largest first, ties by child entity) and contribution_pct is
--         the child's percent of the group's total contribution_weight. The group's weight
--         shares must lie in [0, 1] and sum to 1 within var weight_share_sum_tolerance
--         (is_weight_share_valid). metric_sk keys the child node's metric (losIndex also for
--         the z-score files).

{{ config(materialized='run_partitioned') }}

with

contributions as (

    select
        contribution_id,
        parent_entity_result_id,
        child_entity_result_id,
        parent_node_key,
        child_node_key,
        run_id,
        parent_node_id,
        child_node_id,
        metric_id,
        parent_entity_key,
        child_entity_key,
        facility_id,
        parent_entity_dimensions,
        child_entity_dimensions,
        child_segment,
        contribution_method,
        weight_field,
        child_value,
        parent_value,
        weight_value,
        weight_share,
        weighted_child_value,
        raw_component,
        excess_over_parent,
        contribution_weight,
        contribution_direction,
        missing_input_count,
        computed_at
    from {{ ref('stg_contributions') }}
    where {{ run_filter('run_id') }}

),

nodes as (

    select
        node_key,
        metric_id,
        dimension_ids,
        groupby_label
    from {{ ref('int_nodes') }}
    where {{ run_filter('run_id') }}

),

signals as (

    select
        entity_result_id,
        metric_id,
        classification_id
    from {{ ref('stg_classifications') }}
    where not is_suppressed
        and {{ run_filter('run_id') }}

),

runs as (

    select
        run_id,
        detected_at
    from {{ ref('stg_runs') }}

),

parent_groups as (

    select
        contributions.*,
        count(*) over parent_group as group_child_count,
        sum(weight_share) over parent_group as group_weight_share_sum,
        bool_and(weight_share between 0 and 1) over parent_group as is_group_share_in_range,
        sum(contribution_weight) over parent_group as group_contribution_weight,
        row_number() over (
            partition by run_id, parent_node_id, parent_entity_key, child_node_id, metric_id
            order by contribution_weight desc nulls last, child_entity_key asc
        ) as contribution_rank
    from contributions
    window parent_group as (
        partition by run_id, parent_node_id, parent_entity_key, child_node_id, metric_id
    )

),

with_nodes as (

    select
        parent_groups.*,
        coalesce(child_nodes.metric_id, split_part(parent_groups.child_node_id, '__', 1))
            as node_metric_id,
        parent_nodes.groupby_label as parent_groupby_label,
        parent_nodes.dimension_ids as parent_dimension_ids,
        child_nodes.groupby_label as child_groupby_label,
        child_nodes.dimension_ids as child_dimension_ids
    from parent_groups
    left join nodes as child_nodes
        on parent_groups.child_node_key = child_nodes.node_key
    left join nodes as parent_nodes
        on parent_groups.parent_node_key = parent_nodes.node_key

),

final as (

    select
        -- ids
        with_nodes.contribution_id,
        with_nodes.run_id,
        with_nodes.parent_node_id,
        with_nodes.child_node_id,
        with_nodes.metric_id,
        with_nodes.node_metric_id,
        with_nodes.parent_entity_key,
        with_nodes.child_entity_key,
        with_nodes.parent_entity_result_id,
        with_nodes.child_entity_result_id,
        parent_signals.classification_id as parent_signal_id,
        child_signals.classification_id as child_signal_id,
        with_nodes.facility_id,
        {{ surrogate_key(['with_nodes.facility_id']) }} as facility_sk,
        {{ surrogate_key(['with_nodes.node_metric_id']) }} as metric_sk,

        -- entities
        with_nodes.parent_entity_dimensions,
        with_nodes.child_entity_dimensions,
        with_nodes.child_segment,
        with_nodes.parent_groupby_label,
        {{ compute_group_value(
            'with_nodes.parent_entity_dimensions', 'with_nodes.parent_dimension_ids'
        ) }} as parent_group_value,
        with_nodes.child_groupby_label,
        {{ compute_group_value(
            'with_nodes.child_entity_dimensions', 'with_nodes.child_dimension_ids'
        ) }} as child_group_value,
        with_nodes.child_entity_dimensions ->> '{{ var("service_line_dimension") }}'
            as child_service_line,
        with_nodes.child_entity_dimensions ->> '{{ var("sub_service_line_dimension") }}'
            as child_sub_service_line,
        with_nodes.contribution_method,
        with_nodes.weight_field,

        -- values
        with_nodes.child_value,
        with_nodes.parent_value,
        with_nodes.weight_value,
        with_nodes.weight_share,
        with_nodes.weighted_child_value,
        with_nodes.raw_component,
        with_nodes.excess_over_parent,

        -- impact
        with_nodes.contribution_weight,
        with_nodes.contribution_direction,
        with_nodes.contribution_rank::integer as contribution_rank,
        100 * with_nodes.contribution_weight / nullif(with_nodes.group_contribution_weight, 0)
            as contribution_pct,

        -- parent group
        with_nodes.group_child_count::integer as group_child_count,
        with_nodes.group_weight_share_sum,
        with_nodes.group_contribution_weight,

        -- flags
        coalesce(
            with_nodes.is_group_share_in_range
            and abs(with_nodes.group_weight_share_sum - 1)
            <= {{ var('weight_share_sum_tolerance') }},
            false
        ) as is_weight_share_valid,
        with_nodes.metric_id = with_nodes.node_metric_id as is_metric_contribution,
        with_nodes.missing_input_count > 0 as has_missing_inputs,

        -- timestamps
        runs.detected_at,
        with_nodes.computed_at

    from with_nodes
    left join signals as parent_signals
        on with_nodes.parent_entity_result_id = parent_signals.entity_result_id
        and with_nodes.node_metric_id = parent_signals.metric_id
    left join signals as child_signals
        on with_nodes.child_entity_result_id = child_signals.entity_result_id
        and with_nodes.node_metric_id = child_signals.metric_id
    left join runs
        on with_nodes.run_id = runs.run_id

)

select * from final
