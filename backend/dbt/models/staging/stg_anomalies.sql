-- stg_anomalies
-- Grain:  one row per anomaly per statistical method per entity
--         (statistical_method_id, anomaly_profile, anomaly_method, applies_to).
-- Source: raw.raw_entity_results, statistical_methods[].anomalies[].methods[] of each
--         entity line.
-- Rule:   a method carries anomaly profiles, each with one anomaly method per statistic it
--         judges (applies_to: simple_zscore, latest_simple_zscore, slope_percentile, ...).
--         anomaly_label is the 9-tier label (or no_score) as written; the tier recomputation
--         lives in int_anomaly_checks.

with

raw_entities as (

    select
        raw_entity.run_id,
        raw_entity.canonical_node_id,
        record.entity,
        record.statistical_methods
    from {{ source('raw', 'raw_entity_results') }} as raw_entity
    -- one pass over the (toasted) document: split off the two parts this model reads
    cross join lateral jsonb_to_record(raw_entity.json_data) as record (
        entity jsonb,
        statistical_methods jsonb
    )
    where {{ run_filter('raw_entity.run_id') }}

),

profiles as (

    select
        raw_entities.run_id,
        raw_entities.canonical_node_id,
        entity.entity_result_id,
        method.value ->> 'statistical_method' as statistical_method,
        profile.value ->> 'anomaly_profile' as anomaly_profile,
        profile.value as profile
    from raw_entities
    cross join lateral {{ entity_identity(
        'raw_entities.entity',
        'array',
        key_scope=['raw_entities.run_id', 'raw_entities.canonical_node_id']
    ) }} as entity
    -- jsonb_path_query walks the arrays without copying each level's elements
    cross join lateral jsonb_path_query(raw_entities.statistical_methods, 'strict $[*]')
        as method (value)
    cross join lateral jsonb_path_query(method.value, 'strict $.anomalies[*]') as profile (value)

),

anomalies as (

    select
        profiles.run_id,
        profiles.canonical_node_id,
        profiles.entity_result_id,
        profiles.statistical_method,
        profiles.anomaly_profile,
        anomaly.position as anomaly_position,
        anomaly_record.*
    from profiles
    cross join lateral jsonb_path_query(profiles.profile, 'strict $.methods[*]')
        with ordinality as anomaly (value, position)
    cross join lateral jsonb_to_record(
        {{ jsonb_object_or_null('anomaly.value') }}
    ) as anomaly_record (
        anomaly_method text,
        anomaly text,
        statistic_value double precision,
        applies_to text,
        interpretation jsonb
    )

),

final as (

    select
        -- ids
        {{ surrogate_key([
            surrogate_key(['entity_result_id', 'statistical_method']),
            'anomaly_profile',
            'anomaly_method',
            'applies_to',
        ]) }} as anomaly_id,
        {{ surrogate_key(['entity_result_id', 'statistical_method']) }} as statistical_method_id,
        entity_result_id,
        run_id,
        canonical_node_id,
        statistical_method,
        {{ statistical_method_short_name('statistical_method') }} as statistical_method_short_name,

        -- attributes
        anomaly_profile,
        anomaly_method,
        applies_to,
        anomaly as anomaly_label,
        interpretation ->> 'template_id' as interpretation_template_id,
        interpretation ->> 'rendered' as interpretation_text,

        -- measures
        statistic_value,
        anomaly_position::integer as anomaly_position

    from anomalies

)

select * from final
