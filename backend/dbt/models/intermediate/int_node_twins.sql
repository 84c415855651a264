-- int_node_twins
-- Grain:  one row per node that has a trends_to edge to a twin node (run_id,
--         aggregate_node_id).
-- Source: stg_node_edges (graph.json), stg_node_header_edges (node headers).
-- Rule:   an aggregate node's temporal twin is the target of its trends_to edge (same
--         metric and entity grain, one timeline per entity). When a node trends to several
--         nodes, the finest time grain of var temporal_grain_preference wins
--         (dischargeMonth before dischargeQuarter before dischargeYear), then the node id.
--         Edges come from graph.json and from the loaded node headers (they agree in every
--         observed run; the union keeps twins findable when graph.json is missing).

with

trends_to_edges as (

    select
        run_id,
        canonical_node_id as aggregate_node_id,
        related_node_id as temporal_node_id
    from {{ ref('stg_node_edges') }}
    where edge_type = 'trends_to'
        and edge_direction = 'child'
        and {{ run_filter('run_id') }}

    union

    select
        run_id,
        canonical_node_id as aggregate_node_id,
        related_node_id as temporal_node_id
    from {{ ref('stg_node_header_edges') }}
    where edge_type = 'trends_to'
        and edge_direction = 'child'
        and {{ run_filter('run_id') }}

),

ranked as (

    select
        run_id,
        aggregate_node_id,
        temporal_node_id,
        count(*) over (partition by run_id, aggregate_node_id) as twin_candidate_count,
        row_number() over (
            partition by run_id, aggregate_node_id
            order by
                coalesce(
                    array_position(
                        {{ text_array_literal(var('temporal_grain_preference')) }},
                        {{ extract_feature_type('temporal_node_id', 'time_grain') }}
                    ),
                    {{ var('temporal_grain_preference') | length + 1 }}
                ),
                temporal_node_id
        ) as preference
    from trends_to_edges

),

final as (

    select
        -- ids
        {{ surrogate_key(['run_id', 'aggregate_node_id']) }} as node_key,
        run_id,
        aggregate_node_id,
        temporal_node_id,

        -- measures
        twin_candidate_count::integer as twin_candidate_count

    from ranked
    where preference = 1

)

select * from final
