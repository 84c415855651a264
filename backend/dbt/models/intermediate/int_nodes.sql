-- int_nodes
-- Grain:  one row per node per run (run_id, canonical_node_id): every node of graph.json,
--         plus any loaded node file graph.json does not list.
-- Source: stg_graph_nodes, stg_nodes, int_node_twins, stg_taxonomy_metrics,
--         stg_taxonomy_dimensions.
-- Rule:   is_loaded says whether the node's result file was loaded (real runs classify
--         entities of multi-dimension nodes whose files are missing). groupby_label names
--         the entity grain with the run's taxonomy display names ("Service Line",
--         'Facility-wide' for facility-only nodes); domain is the taxonomy domain of the
--         metric, else a name heuristic. temporal_node_id is the aggregate node's trends_to
--         twin (int_node_twins); aggregate_node_id is the reverse link on the temporal node.

with

graph_nodes as (

    select * from {{ ref('stg_graph_nodes') }}
    where {{ run_filter('run_id') }}

),

loaded_nodes as (

    select * from {{ ref('stg_nodes') }}
    where {{ run_filter('run_id') }}

),

node_twins as (

    select
        run_id,
        aggregate_node_id,
        temporal_node_id
    from {{ ref('int_node_twins') }}
    where {{ run_filter('run_id') }}

),

twin_parents as (

    select
        run_id,
        temporal_node_id,
        min(aggregate_node_id) as aggregate_node_id
    from node_twins
    group by run_id, temporal_node_id

),

taxonomy_metrics as (

    select
        run_id,
        metric_id,
        metric_display_name,
        domain,
        polarity,
        unit_type
    from {{ ref('stg_taxonomy_metrics') }}
    where {{ run_filter('run_id') }}

),

dimension_labels as (

    select
        run_id,
        jsonb_object_agg(group_by_type_id, dimension_display_name) as dimension_labels
    from {{ ref('stg_taxonomy_dimensions') }}
    where {{ run_filter('run_id') }}
    group by run_id

),

nodes as (

    select
        coalesce(graph_nodes.run_id, loaded_nodes.run_id) as run_id,
        coalesce(graph_nodes.canonical_node_id, loaded_nodes.canonical_node_id)
            as canonical_node_id,
        coalesce(graph_nodes.metric_id, loaded_nodes.metric_id) as metric_id,
        graph_nodes.group_by_set,
        coalesce(nullif(graph_nodes.dimension_ids, '{}'::text[]), loaded_nodes.dimension_ids)
            as dimension_ids,
        coalesce(graph_nodes.time_grain, loaded_nodes.time_grain) as time_grain,
        coalesce(graph_nodes.feature_type, loaded_nodes.feature_type) as feature_type,
        graph_nodes.facet_family_id,
        graph_nodes.node_description,
        coalesce(graph_nodes.is_graph_entry_point, false) as is_graph_entry_point,
        graph_nodes.canonical_node_id is not null as is_in_graph,
        loaded_nodes.canonical_node_id is not null as is_loaded,
        loaded_nodes.entity_results_count,
        loaded_nodes.comparison_group,
        loaded_nodes.period_start_date,
        loaded_nodes.period_end_date,
        loaded_nodes.period_count
    from graph_nodes
    full outer join loaded_nodes
        on graph_nodes.run_id = loaded_nodes.run_id
        and graph_nodes.canonical_node_id = loaded_nodes.canonical_node_id

),

final as (

    select
        -- ids
        {{ surrogate_key(['nodes.run_id', 'nodes.canonical_node_id']) }} as node_key,
        nodes.run_id,
        nodes.canonical_node_id,
        nodes.metric_id,
        node_twins.temporal_node_id,
        twin_parents.aggregate_node_id,

        -- dimensions
        nodes.group_by_set,
        nodes.dimension_ids,
        array(
            select dimension.dimension_id
            from unnest(nodes.dimension_ids) with ordinality as dimension (dimension_id, position)
            -- `<> all (array)` is a comparison, not the function call LT01/LT06 take it for
            where dimension.dimension_id <> all (  -- noqa: LT01, LT06
                {{ text_array_literal([var('facility_dimension')] + var('non_key_dimensions')) }}
            )
            order by dimension.position
        ) as peer_dimension_ids,
        {{ compute_groupby_label('nodes.dimension_ids', 'dimension_labels.dimension_labels') }}
            as groupby_label,
        nodes.time_grain,
        nodes.feature_type,
        nodes.comparison_group,
        nodes.facet_family_id,
        nodes.node_description,

        -- metric
        taxonomy_metrics.metric_display_name,
        {{ classify_metric_domain('nodes.metric_id', 'taxonomy_metrics.domain') }} as domain,
        taxonomy_metrics.polarity as metric_polarity,
        taxonomy_metrics.unit_type as metric_unit_type,

        -- measures
        nodes.entity_results_count,
        nodes.period_start_date,
        nodes.period_end_date,
        nodes.period_count,

        -- flags
        nodes.feature_type = 'aggregate' as is_aggregate,
        nodes.is_graph_entry_point,
        nodes.is_in_graph,
        nodes.is_loaded

    from nodes
    left join node_twins
        on nodes.run_id = node_twins.run_id
        and nodes.canonical_node_id = node_twins.aggregate_node_id
    left join twin_parents
        on nodes.run_id = twin_parents.run_id
        and nodes.canonical_node_id = twin_parents.temporal_node_id
    left join taxonomy_metrics
        on nodes.run_id = taxonomy_metrics.run_id
        and nodes.metric_id = taxonomy_metrics.metric_id
    left join dimension_labels
        on nodes.run_id = dimension_labels.run_id

)

select * from final
