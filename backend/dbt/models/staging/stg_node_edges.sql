-- stg_node_edges
-- Grain:  one row per graph edge per endpoint (run_id, canonical_node_id, related_node_id,
--         edge_type, edge_direction): each edge source -> target appears once as the
--         source's 'child' edge and once as the target's 'parent' edge.
-- Source: raw.raw_run_documents, document graph (graph.json edges[]), the authoritative
--         edge list (node headers only cover the nodes whose file was loaded).
-- Rule:   edge types are kept as written: they drift between runs (segments_into,
--         potential_driver_of, potentially_driven_by, trends_to, ...), and an unknown type
--         is data, not an error. trends_to links an aggregate node to its temporal twin.

with

graphs as (

    select
        run_id,
        json_data
    from {{ source('raw', 'raw_run_documents') }}
    where document_type = 'graph'
        and {{ run_filter('run_id') }}

),

edges as (

    select
        graphs.run_id,
        edge.*
    from graphs
    cross join lateral jsonb_to_recordset(
        {{ jsonb_array_or_empty("graphs.json_data -> 'edges'") }}
    ) as edge (
        id text,
        source text,
        target text,
        type text,
        direction text,
        conditions jsonb,
        rationale text
    )
    where edge.source is not null
        and edge.target is not null

),

oriented as (

    select
        run_id,
        id as graph_edge_id,
        source as canonical_node_id,
        target as related_node_id,
        type as edge_type,
        'child' as edge_direction,
        direction as graph_direction,
        conditions,
        rationale
    from edges

    union all

    select
        run_id,
        id as graph_edge_id,
        target as canonical_node_id,
        source as related_node_id,
        type as edge_type,
        'parent' as edge_direction,
        direction as graph_direction,
        conditions,
        rationale
    from edges

),

final as (

    select
        -- ids
        {{ surrogate_key([
            'run_id', 'canonical_node_id', 'related_node_id', 'edge_type', 'edge_direction',
        ]) }} as node_edge_key,
        {{ surrogate_key(['run_id', 'canonical_node_id']) }} as node_key,
        {{ surrogate_key(['run_id', 'related_node_id']) }} as related_node_key,
        run_id,
        graph_edge_id,
        canonical_node_id,
        related_node_id,

        -- attributes
        edge_type,
        edge_direction,
        graph_direction,
        array(
            select condition.value ->> 'field'
            from jsonb_array_elements({{ jsonb_array_or_empty('conditions') }})
                with ordinality as condition (value, position)
            order by condition.position
        ) as condition_fields,
        rationale as edge_rationale

    from oriented

)

select * from final
