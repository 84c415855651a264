-- stg_entity_results
-- Grain:  one row per entity per node per run (run_id, canonical_node_id, entity_key).
-- Source: raw.raw_entity_results, lines 2..N of results/nodes/<canonical_node_id>.jsonl.
-- Rule:   the entity is the [{id, value}] array turned into one object {dim: value};
--         facility_id is its medicareId, entity_dimensions the rest (minus the display-only
--         systemName) and entity_key = md5 of the canonical object, so the same entity has
--         the same key in every node, classification and contribution of the run.
--         metric_value is metric[0].values for aggregate nodes and the latest non-null
--         timeline value for temporal nodes. encounters is metadata.encounters (the legacy
--         top-level encounters first), cast through numeric because writers switch between
--         48032.0 and 29325. The statistical methods are unpacked by stg_statistical_methods.
--         Of metadata.per_period only encounters is kept (encounters_per_period): the other
--         per-period columns are most of a temporal record's size and no consumer reads them.

with

raw_entities as (

    select
        raw_entity.run_id,
        raw_entity.canonical_node_id,
        raw_entity.line_number,
        raw_entity.loaded_at,
        record.entity,
        record.metric -> 0 as metric,
        {{ jsonb_object_or_null('record.metadata') }} as metadata,
        record.encounters as legacy_encounters
    from {{ source('raw', 'raw_entity_results') }} as raw_entity
    cross join lateral jsonb_to_record(raw_entity.json_data) as record (
        entity jsonb,
        metric jsonb,
        metadata jsonb,
        encounters numeric
    )
    where {{ run_filter('raw_entity.run_id') }}

),

unpacked as (

    select
        raw_entities.run_id,
        raw_entities.canonical_node_id,
        raw_entities.line_number,
        raw_entities.loaded_at,
        raw_entities.metadata,
        raw_entities.legacy_encounters,
        raw_entities.metric -> 'metadata' ->> 'metric_id' as metric_id,
        raw_entities.metric -> 'values' as metric_values,
        raw_entities.metric -> 'temporal_runtime' as temporal_runtime,
        entity.entity_dict,
        entity.entity_key,
        entity.entity_result_id,
        entity.facility_id,
        entity.entity_dimensions,
        entity.entity_dimensions_hash,
        latest.period as latest_period,
        latest.value as latest_value
    from raw_entities
    cross join lateral {{ entity_identity(
        'raw_entities.entity',
        'array',
        key_scope=['raw_entities.run_id', 'raw_entities.canonical_node_id']
    ) }} as entity
    -- temporal nodes: the latest period with a value (LIMIT keeps it a per-row subquery)
    left join lateral (
        select
            timeline.period,
            timeline.value
        from jsonb_to_recordset(
            case
                when jsonb_typeof(raw_entities.metric -> 'values' -> 'timeline') = 'array'
                    then raw_entities.metric -> 'values' -> 'timeline'
            end
        ) as timeline (period text, value double precision)
        where timeline.value is not null
        order by timeline.period desc
        limit 1
    ) as latest on true

),

final as (

    select
        -- ids
        entity_result_id,
        {{ surrogate_key(['run_id', 'canonical_node_id']) }} as node_key,
        run_id,
        canonical_node_id,
        metric_id,
        entity_key,

        -- dimensions
        facility_id,
        coalesce(metadata ->> 'systemName', entity_dict ->> 'systemName') as system_name,
        metadata ->> 'facility' as facility_name,
        entity_dict ->> '{{ var("service_line_dimension") }}' as service_line,
        entity_dict ->> '{{ var("sub_service_line_dimension") }}' as sub_service_line,
        entity_dimensions,
        entity_dimensions_hash,

        -- measures
        case
            when jsonb_typeof(metric_values) = 'number'
                then (metric_values #>> '{}')::double precision
            else latest_value
        end as metric_value,
        {{ period_to_date('latest_period') }} as metric_value_period_date,
        coalesce(legacy_encounters, (metadata ->> 'encounters')::numeric)::bigint as encounters,
        (temporal_runtime ->> 'observed_count')::numeric::integer as observed_period_count,
        (temporal_runtime ->> 'missing_count')::numeric::integer as missing_period_count,
        (temporal_runtime ->> 'coverage_ratio')::double precision as coverage_ratio,

        -- sub-documents consumers need (never the whole record; the other per-period
        -- metadata columns are the largest part of a temporal record and stay in raw)
        metric_values -> 'timeline' as metric_timeline,
        metadata - 'per_period' as metadata,
        metadata -> 'per_period' -> 'encounters' as encounters_per_period,

        -- flags
        (jsonb_typeof(metric_values) is distinct from 'object') as is_aggregate,

        -- provenance
        line_number as source_line_number,
        loaded_at

    from unpacked

)

select * from final
