-- stg_node_facets
-- Grain:  one row per loaded node per statistical method per facet (peer group)
--         (run_id, canonical_node_id, statistical_method, facet_key).
-- Source: raw.raw_node_results headers:
--         statistical_methods[].summary.global_statistics.facets[].
-- Rule:   a facet is the peer group entities are compared within: facet_values holds the
--         non-facility dimensions ({} for facility-only nodes), so an entity's facet is the
--         one whose facet_values equal the entity's dimensions minus medicareId;
--         facet_key = md5 of that object, the same as stg_entity_results.entity_dimensions_hash.
--         Simple methods: peer mean/std (population std) and std_floor; robust methods:
--         median and global_mad (already x 1.4826) and mad_floor. The slope method has no
--         summary and so no facets.

with

headers as (

    select
        run_id,
        canonical_node_id,
        json_data -> 'statistical_methods' as statistical_methods
    from {{ source('raw', 'raw_node_results') }}
    where {{ run_filter('run_id') }}

),

methods as (

    select
        headers.run_id,
        headers.canonical_node_id,
        method.position as method_position,
        method.value ->> 'statistical_method' as statistical_method,
        method.value -> 'summary' -> 'global_statistics' as global_statistics
    from headers
    cross join lateral jsonb_array_elements(
        {{ jsonb_array_or_empty('headers.statistical_methods') }}
    ) with ordinality as method (value, position)

),

facets as (

    select
        methods.run_id,
        methods.canonical_node_id,
        methods.method_position,
        methods.statistical_method,
        {{ jsonb_text_array("methods.global_statistics -> 'group_by_columns'") }}
            as group_by_columns,
        (methods.global_statistics -> 'aggregate_statistics' ->> 'global_record_count')::numeric
            as global_record_count,
        facet.position as facet_position,
        facet_identity.entity_dimensions as facet_values,
        facet_identity.entity_dimensions_hash as facet_key,
        facet.value -> 'facet_counts' as facet_counts,
        facet.value -> 'method_statistics' as method_statistics,
        facet.value -> 'warnings' as warnings
    from methods
    cross join lateral jsonb_array_elements(
        {{ jsonb_array_or_empty("methods.global_statistics -> 'facets'") }}
    ) with ordinality as facet (value, position)
    cross join lateral {{ entity_identity("facet.value -> 'facet_values'", 'object') }}
        as facet_identity

),

typed as (

    select
        facets.*,
        counts.record_count,
        counts.entity_count,
        counts.entity_with_statistics_count,
        statistics.*
    from facets
    cross join lateral jsonb_to_record(
        {{ jsonb_object_or_null('facets.facet_counts') }}
    ) as counts (
        record_count numeric,
        entity_count numeric,
        entity_with_statistics_count numeric
    )
    cross join lateral jsonb_to_record(
        {{ jsonb_object_or_null('facets.method_statistics') }}
    ) as statistics (
        global_metric_mean double precision,
        global_metric_std double precision,
        std_floor double precision,
        std_floor_applied boolean,
        global_metric_median double precision,
        global_mad double precision,
        mad_floor double precision,
        mad_floor_applied boolean,
        winsor_percentile double precision,
        winsor_applied boolean,
        min_peer_count numeric
    )

),

final as (

    select
        -- ids
        {{ surrogate_key(['run_id', 'canonical_node_id', 'statistical_method', 'facet_key']) }}
            as node_facet_method_key,
        {{ surrogate_key(['run_id', 'canonical_node_id']) }} as node_key,
        run_id,
        canonical_node_id,
        statistical_method,
        {{ statistical_method_short_name('statistical_method') }} as statistical_method_short_name,
        facet_key,

        -- dimensions
        facet_values,
        group_by_columns,
        method_position::integer as method_position,
        facet_position::integer as facet_position,

        -- measures
        record_count::integer as record_count,
        entity_count::integer as entity_count,
        entity_with_statistics_count::integer as entity_with_statistics_count,
        global_record_count::integer as global_record_count,
        global_metric_mean,
        global_metric_std,
        std_floor,
        global_metric_median,
        global_mad,
        mad_floor,
        winsor_percentile,
        min_peer_count::integer as min_peer_count,
        jsonb_array_length({{ jsonb_array_or_empty('warnings') }}) as warning_count,

        -- flags
        std_floor_applied as is_std_floor_applied,
        mad_floor_applied as is_mad_floor_applied,
        winsor_applied as is_winsor_applied

    from typed

)

select * from final
