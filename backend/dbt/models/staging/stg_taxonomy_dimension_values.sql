-- stg_taxonomy_dimension_values
-- Grain:  one row per run per dimension value (run_id, group_by_type_id, code).
-- Source: raw.raw_run_documents, document metadata_bundle (group_by_types[].allowed_values[]).
-- Rule:   entity values match `code` (code == label in every observed entry); `identifier`
--         is NOT unique (admissionSource repeats 5, 6 and 9) and keeps its leading zeros, so
--         the key is (group_by_type_id, code). Data values outside the vocabulary exist
--         (en dash vs hyphen): consumers left-join to this table.

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
        dimension.id as group_by_type_id,
        dimension.allowed_values
    from bundles
    cross join lateral jsonb_to_recordset(
        {{ jsonb_array_or_empty("bundles.json_data -> 'group_by_types'") }}
    ) as dimension (
        id text,
        allowed_values jsonb
    )

),

dimension_values as (

    select
        dimensions.run_id,
        dimensions.group_by_type_id,
        allowed.position as value_position,
        allowed_value.*
    from dimensions
    cross join lateral jsonb_array_elements({{ jsonb_array_or_empty('dimensions.allowed_values') }})
        with ordinality as allowed (value, position)
    cross join lateral jsonb_to_record(
        {{ jsonb_object_or_null('allowed.value') }}
    ) as allowed_value (
        code text,
        identifier text,
        label text
    )

),

final as (

    select
        -- ids
        {{ surrogate_key(['run_id', 'group_by_type_id', 'code']) }} as taxonomy_dimension_value_key,
        {{ surrogate_key(['run_id', 'group_by_type_id']) }} as taxonomy_dimension_key,
        run_id,
        group_by_type_id,
        code,

        -- attributes
        identifier,
        coalesce(nullif(label, ''), code) as label,

        -- measures
        value_position::integer as value_position

    from dimension_values
    where group_by_type_id is not null
        and code is not null

)

select * from final
