-- stg_taxonomy_dimensions
-- Grain:  one row per run per group-by type (run_id, group_by_type_id).
-- Source: raw.raw_run_documents, document metadata_bundle (group_by_types[]).
-- Rule:   a group-by type is an entity dimension (medicareId, vizientServiceLine, ...) or a
--         time dimension (dischargeMonth, ...); its id equals the entity `id`, and its
--         display_name labels it in the UI. Values live in stg_taxonomy_dimension_values.

with

bundles as (

    select
        run_id,
        json_data
    from {{ source('raw', 'raw_run_documents') }}
    where document_type = 'metadata_bundle'
        and {{ run_filter('run_id') }}

),

dimensions as (

    select
        bundles.run_id,
        bundles.json_data ->> 'taxonomy_hash' as taxonomy_hash,
        dimension.*
    from bundles
    cross join lateral jsonb_to_recordset(
        {{ jsonb_array_or_empty("bundles.json_data -> 'group_by_types'") }}
    ) as dimension (
        id text,
        display_name text,
        category text,
        dataset_field text,
        description text,
        allowed_values jsonb
    )

),

final as (

    select
        -- ids
        {{ surrogate_key(['run_id', 'id']) }} as taxonomy_dimension_key,
        run_id,
        id as group_by_type_id,

        -- attributes
        display_name as dimension_display_name,
        category as dimension_category,
        dataset_field,
        description as dimension_description,
        taxonomy_hash,

        -- measures
        jsonb_array_length({{ jsonb_array_or_empty('allowed_values') }}) as allowed_value_count,

        -- flags
        category = 'time' as is_time_dimension,
        jsonb_array_length({{ jsonb_array_or_empty('allowed_values') }}) = 0 as is_open_domain

    from dimensions
    where id is not null

)

select * from final
