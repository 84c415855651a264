-- stg_node_header_edges
-- Grain:  one row per edge listed in a loaded node's header (run_id, canonical_node_id,
--         related_node_id, edge_type, edge_direction).
-- Source: raw.raw_node_results headers: canonical_child_node_ids[] ('child') and
--         canonical_parent_node_ids[] ('parent').
-- Rule:   the node's own view of its graph edges; it must equal graph.json's edges of that
--         node (format spec 9.1 #5, checked by
--         tests/upstream_math/upstream_graph_header_edges.sql). int_node_twins also reads
--         it, so a run without graph.json still finds its trends_to twins. Edge types are
--         kept as written.

with

headers as (

    select
        run_id,
        canonical_node_id,
        json_data -> 'canonical_child_node_ids' as child_edges,
        json_data -> 'canonical_parent_node_ids' as parent_edges
    from {{ source('raw', 'raw_node_results') }}
    where {{ run_filter('run_id') }}

),

edges as (

    select
        headers.run_id,
        headers.canonical_node_id,
        child.canonical_child_node_id as related_node_id,
        child.edge_type,
        'child' as edge_direction
    from headers
    cross join lateral jsonb_to_recordset(
        {{ jsonb_array_or_empty('headers.child_edges') }}
    ) as child (
        canonical_child_node_id text,
        edge_type text
    )

    union all

    select
        headers.run_id,
        headers.canonical_node_id,
        parent.canonical_parent_node_id as related_node_id,
        parent.edge_type,
        'parent' as edge_direction
    from headers
    cross join lateral jsonb_to_recordset(
        {{ jsonb_array_or_empty('headers.parent_edges') }}
    ) as parent (
        canonical_parent_node_id text,
        edge_type text
    )

),

final as (

    select
        -- ids
        {{ surrogate_key([
            'run_id', 'canonical_node_id', 'related_node_id', 'edge_type', 'edge_direction',
        ]) }} as node_edge_key,
        {{ surrogate_key(['run_id', 'canonical_node_id']) }} as node_key,
        run_id,
        canonical_node_id,
        related_node_id,

        -- attributes
        edge_type,
        edge_direction

    from edges
    where related_node_id is not null

)

select * from final
