-- stg_taxonomy_group_by_sets
-- Grain:  one row per run per group-by set, allowed combination and position
--         (run_id, group_by_set_id, combination_index, dimension_position): a bridge from a
--         set to the dimensions of each combination it allows.
-- Source: raw.raw_run_documents, document metadata_bundle (group_by_sets[]).
-- Rule:   allowed_dimensions is an array of arrays of group-by ids, e.g.
--         [["medicareId","vizientServiceLine"]]; positions are 1-based, in listed order.

with

bundles as (

    select
        run_id,
        json_data
    from {{ source('raw', 'raw_run_documents') }}
    where document_type = 'metadata_bundle'
        and {{ run_filter('run_id') }}

),

group_by_sets as (

    select
        bundles.run_id,
        group_by_set.*
    from bundles
    cross join lateral jsonb_to_recordset(
        {{ jsonb_array_or_empty("bundles.json_data -> 'group_by_sets'") }}
    ) as group_by_set (
        id text,
        description text,
        allowed_metric_method_sets jsonb,
        allowed_dimensions jsonb,
        optional_time_dimensions jsonb
    )

),

combinations as (

    select
        group_by_sets.run_id,
        group_by_sets.id as group_by_set_id,
        group_by_sets.description,
        group_by_sets.allowed_metric_method_sets,
        group_by_sets.optional_time_dimensions,
        combination.position as combination_index,
        dimension.position as dimension_position,
        dimension.value as group_by_type_id
    from group_by_sets
    cross join lateral jsonb_array_elements(
        {{ jsonb_array_or_empty('group_by_sets.allowed_dimensions') }}
    ) with ordinality as combination (value, position)
    cross join lateral jsonb_array_elements_text({{ jsonb_array_or_empty('combination.value') }})
        with ordinality as dimension (value, position)

),

final as (

    select
        -- ids
        {{ surrogate_key([
            'run_id', 'group_by_set_id', 'combination_index', 'dimension_position',
        ]) }} as taxonomy_group_by_set_key,
        run_id,
        group_by_set_id,
        combination_index::integer as combination_index,
        dimension_position::integer as dimension_position,
        group_by_type_id,

        -- attributes
        description as group_by_set_description,
        {{ jsonb_text_array('allowed_metric_method_sets') }} as allowed_metric_method_sets,
        {{ jsonb_text_array('optional_time_dimensions') }} as optional_time_dimensions

    from combinations
    where group_by_set_id is not null

)

select * from final
