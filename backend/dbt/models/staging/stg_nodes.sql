-- stg_nodes
-- Grain:  one row per loaded node per run (run_id, canonical_node_id).
-- Source: raw.raw_node_results, line 1 (the node_metadata header) of each
--         results/nodes/<canonical_node_id>.jsonl.
-- Rule:   a node is a metric at one entity grain and one time grain. feature_type is
--         'aggregate' for time part aggregate_time_period (one scalar per entity) and
--         'temporal' otherwise (a timeline per entity). The dimension list is the header's
--         group_by_columns (first method), else the id's middle part split on '_' (works
--         because ids are camelCase; graph.json's group_bys stays authoritative, see
--         stg_graph_nodes). Only the header's scalars are kept; edges, facets and
--         percentile trends have their own models.

with

headers as (

    select
        raw_nodes.run_id,
        raw_nodes.canonical_node_id,
        raw_nodes.file_path,
        raw_nodes.loaded_at,
        header.*
    from {{ source('raw', 'raw_node_results') }} as raw_nodes
    cross join lateral jsonb_to_record(raw_nodes.json_data) as header (
        metric_id text,
        dataset_path text,
        summary jsonb,
        statistical_methods jsonb,
        canonical_child_node_ids jsonb,
        canonical_parent_node_ids jsonb,
        entity_results_count numeric,
        entity_results_path text
    )
    where {{ run_filter('raw_nodes.run_id') }}

),

unpacked as (

    select
        headers.*,
        summary -> 'entity_scope' as entity_scope,
        summary -> 'temporal_context' as temporal_context,
        {{ jsonb_text_array(
            "statistical_methods -> 0 -> 'summary' -> 'global_statistics' -> 'group_by_columns'"
        ) }} as group_by_columns
    from headers

),

final as (

    select
        -- ids
        {{ surrogate_key(['run_id', 'canonical_node_id']) }} as node_key,
        run_id,
        canonical_node_id,
        metric_id,

        -- dimensions
        coalesce(
            nullif(group_by_columns, '{}'::text[]),
            string_to_array(split_part(canonical_node_id, '__', 2), '_')
        ) as dimension_ids,
        coalesce(
            temporal_context ->> 'time_grain',
            {{ extract_feature_type('canonical_node_id', 'time_grain') }}
        ) as time_grain,
        {{ extract_feature_type('canonical_node_id', 'feature_type') }} as feature_type,
        entity_scope ->> 'comparison_group' as comparison_group,
        entity_scope ->> 'display_name' as entity_scope_display_name,
        {{ period_to_date("temporal_context ->> 'start_period'") }} as period_start_date,
        {{ period_to_date("temporal_context ->> 'end_period'") }} as period_end_date,
        array(
            select method.value ->> 'statistical_method'
            from jsonb_array_elements({{ jsonb_array_or_empty('statistical_methods') }})
                with ordinality as method (value, position)
            order by method.position
        ) as statistical_method_ids,

        -- measures
        (temporal_context ->> 'period_count')::numeric::integer as period_count,
        entity_results_count::integer as entity_results_count,
        jsonb_array_length({{ jsonb_array_or_empty('canonical_child_node_ids') }})
            as child_node_count,
        jsonb_array_length({{ jsonb_array_or_empty('canonical_parent_node_ids') }})
            as parent_node_count,

        -- provenance
        dataset_path,
        entity_results_path,
        file_path,

        -- flags
        {{ extract_feature_type('canonical_node_id', 'feature_type') }} = 'aggregate'
            as is_aggregate,

        -- timestamps
        loaded_at

    from unpacked

)

select * from final
