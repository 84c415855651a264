-- stg_contributions
-- Grain:  one row per parent-child entity pair per metric (run_id, parent_node_id,
--         parent entity, child_node_id, child entity, metric_id).
-- Source: raw.raw_contributions, lines of analysis/contribution/<child_node_id>.<metric>.jsonl.
-- Rule:   a child entity's share of its parent entity for one metric (losIndex, or the
--         pseudo-metrics simple_zscore / robust_zscore). For weighted_mean records
--         weight_share = weight_value / sum(weight_value) over the parent group,
--         raw_component = weight_share x child_value and
--         excess_over_parent = weight_share x (child_value - parent_value).
--         contribution_weight = |excess_over_parent| x weight_share, and
--         contribution_direction is the sign of excess_over_parent (positive pulls the
--         parent up). A missing child_entity falls back to dataset_row_locator.key.

with

raw_contributions as (

    select
        raw_contribution.run_id,
        raw_contribution.file_path,
        raw_contribution.line_number,
        raw_contribution.loaded_at,
        record.*
    from {{ source('raw', 'raw_contributions') }} as raw_contribution
    cross join lateral jsonb_to_record(raw_contribution.json_data) as record (
        parent_node_id text,
        parent_entity jsonb,
        child_node_id text,
        child_entity jsonb,
        metric_id text,
        method text,
        child_value double precision,
        parent_value double precision,
        weight_field text,
        weight_value double precision,
        weight_share double precision,
        weighted_child_value double precision,
        contribution_value double precision,
        raw_component double precision,
        excess_over_parent double precision,
        assumptions jsonb,
        fallbacks jsonb,
        missing_inputs jsonb,
        dataset_row_locator jsonb,
        "timestamp" text
    )
    where {{ run_filter('raw_contribution.run_id') }}

),

unpacked as (

    select
        raw_contributions.*,
        parent.entity_dict as parent_entity_dict,
        parent.entity_key as parent_entity_key,
        parent.facility_id,
        parent.entity_dimensions as parent_entity_dimensions,
        child.entity_dict as child_entity_dict,
        child.entity_key as child_entity_key,
        child.entity_dimensions as child_entity_dimensions
    from raw_contributions
    cross join lateral {{ entity_identity('raw_contributions.parent_entity', 'object') }} as parent
    cross join lateral {{ entity_identity(
        "coalesce(nullif(raw_contributions.child_entity, '{}'::jsonb),"
        ~ " raw_contributions.dataset_row_locator -> 'key')",
        'object'
    ) }} as child

),

final as (

    select
        -- ids
        {{ surrogate_key([
            'run_id', 'parent_node_id', 'parent_entity_key',
            'child_node_id', 'child_entity_key', 'metric_id',
        ]) }} as contribution_id,
        {{ surrogate_key(['run_id', 'parent_node_id', 'parent_entity_key']) }}
            as parent_entity_result_id,
        {{ surrogate_key(['run_id', 'child_node_id', 'child_entity_key']) }}
            as child_entity_result_id,
        {{ surrogate_key(['run_id', 'parent_node_id']) }} as parent_node_key,
        {{ surrogate_key(['run_id', 'child_node_id']) }} as child_node_key,
        run_id,
        parent_node_id,
        child_node_id,
        metric_id,

        -- dimensions
        parent_entity_key,
        child_entity_key,
        facility_id,
        parent_entity_dimensions,
        child_entity_dimensions,
        child_entity_dict - array(select jsonb_object_keys(parent_entity_dict)) as child_segment,
        method as contribution_method,
        weight_field,

        -- measures
        child_value,
        parent_value,
        weight_value,
        weight_share,
        weighted_child_value,
        contribution_value,
        raw_component,
        excess_over_parent,
        abs(excess_over_parent) * weight_share as contribution_weight,
        case
            when excess_over_parent > 0 then 'positive'
            when excess_over_parent < 0 then 'negative'
            when excess_over_parent = 0 then 'neutral'
        end as contribution_direction,
        jsonb_array_length({{ jsonb_array_or_empty('fallbacks') }}) as fallback_count,
        jsonb_array_length({{ jsonb_array_or_empty('missing_inputs') }}) as missing_input_count,
        {{ jsonb_text_array('assumptions') }} as assumptions,

        -- provenance
        file_path,
        line_number as source_line_number,

        -- timestamps
        {{ parse_timestamptz('"timestamp"') }} as computed_at,
        loaded_at

    from unpacked

)

select * from final
