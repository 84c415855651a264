-- stg_graph_nodes
-- Grain:  one row per run per graph node (run_id, canonical_node_id).
-- Source: raw.raw_run_documents, document graph (graph.json nodes[]).
-- Rule:   graph.json is the authoritative node list: it names every node of the run, also
--         those whose result file is missing (the bundled real runs lack the
--         multi-dimension node files). group_bys gives the dimension order of the node's
--         entities; facet_family_id loses the literal backticks it carries in the file.

with

graphs as (

    select
        run_id,
        json_data
    from {{ source('raw', 'raw_run_documents') }}
    where document_type = 'graph'
        and {{ run_filter('run_id') }}

),

nodes as (

    select
        graphs.run_id,
        node.*
    from graphs
    cross join lateral jsonb_to_recordset(
        {{ jsonb_array_or_empty("graphs.json_data -> 'nodes'") }}
    ) as node (
        id text,
        metric_id text,
        group_by_set text,
        group_bys jsonb,
        time_grain text,
        facet_family_id text,
        graph_entry_point boolean,
        description text
    )

),

final as (

    select
        -- ids
        {{ surrogate_key(['run_id', 'id']) }} as node_key,
        run_id,
        id as canonical_node_id,
        metric_id,

        -- dimensions
        group_by_set,
        array(
            select group_by.value ->> 'type'
            from jsonb_array_elements({{ jsonb_array_or_empty('group_bys') }})
                with ordinality as group_by (value, position)
            order by group_by.position
        ) as dimension_ids,
        coalesce(time_grain, {{ extract_feature_type('id', 'time_grain') }}) as time_grain,
        {{ extract_feature_type('id', 'feature_type') }} as feature_type,
        nullif(trim(both '`' from facet_family_id), '') as facet_family_id,

        -- attributes
        description as node_description,

        -- flags
        coalesce(graph_entry_point, false) as is_graph_entry_point

    from nodes
    where id is not null

)

select * from final
