-- stg_taxonomy_edge_types
-- Grain:  one row per run per edge type (run_id, edge_type_id).
-- Source: raw.raw_run_documents, document metadata_bundle (edge_types[]).
-- Rule:   edge types drift between runs (segments_into -> potential_driver_of ->
--         potentially_driven_by for the same edge), so an edge's metadata is resolved in the
--         same run's taxonomy.

with

bundles as (

    select
        run_id,
        json_data
    from {{ source('raw', 'raw_run_documents') }}
    where document_type = 'metadata_bundle'
        and {{ run_filter('run_id') }}

),

edge_types as (

    select
        bundles.run_id,
        bundles.json_data ->> 'taxonomy_hash' as taxonomy_hash,
        edge_type.*
    from bundles
    cross join lateral jsonb_to_recordset(
        {{ jsonb_array_or_empty("bundles.json_data -> 'edge_types'") }}
    ) as edge_type (
        id text,
        display_name text,
        description text,
        ui_behavior text,
        direction text,
        category text
    )

),

final as (

    select
        -- ids
        {{ surrogate_key(['run_id', 'id']) }} as taxonomy_edge_type_key,
        run_id,
        id as edge_type_id,

        -- attributes
        display_name as edge_type_display_name,
        description as edge_type_description,
        ui_behavior,
        direction as edge_type_direction,
        category as edge_type_category,
        taxonomy_hash

    from edge_types
    where id is not null

)

select * from final
