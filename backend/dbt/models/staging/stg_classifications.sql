-- stg_classifications
-- Grain:  one row per entity-metric classification (run_id, canonical_node_id, entity_key,
--         metric_id).
-- Source: raw.raw_classifications: classifications.jsonl lines, or the CSV summary mapped by
--         the loader to the same shape (source_format = 'csv': reasoning, severity
--         calculation and tiers are null).
-- Rule:   one classification per entity of every aggregate node that has a trends_to twin;
--         its inputs come from the twin (aggregate_zscore = the twin's mean_simple_zscore).
--         severity lies within severity_range (constant per signal type within a run).
--         severity_calculation keys are accepted in both spellings (base_severity /
--         final_severity and base / final); tiers are compared case-insensitively and
--         stored lowercase. Suppressed classifications are kept and flagged (is_suppressed):
--         which ones become signals is the marts' decision.

with

raw_classifications as (

    select
        raw_classification.run_id as raw_run_id,
        raw_classification.file_path,
        raw_classification.line_number,
        raw_classification.source_format,
        raw_classification.loaded_at,
        record.*
    from {{ source('raw', 'raw_classifications') }} as raw_classification
    cross join lateral jsonb_to_record(raw_classification.json_data) as record (
        run_id text,
        node_id text,
        metric_id text,
        entity_key jsonb,
        signal_type text,
        severity numeric,
        severity_range jsonb,
        inputs jsonb,
        derived_indicators jsonb,
        classification_reasoning text,
        severity_calculation jsonb,
        suppressed boolean,
        period_count numeric,
        magnitude_tier text,
        trajectory_tier text,
        consistency_tier text,
        coefficient_of_variation double precision,
        "timestamp" text
    )
    where {{ run_filter('raw_classification.run_id') }}

),

unpacked as (

    select
        raw_classifications.*,
        raw_classifications.run_id as declared_run_id,  -- the record's own run_id (spec 9.1 #1)
        {{ jsonb_object_or_null('inputs') }} as inputs_object,
        {{ jsonb_object_or_null('derived_indicators') }} as indicators_object,
        {{ jsonb_object_or_null('severity_calculation') }} as severity_calculation_object
    from raw_classifications

),

typed as (

    select
        unpacked.*,
        entity.entity_dict,
        entity.entity_key as entity_key_hash,
        entity.facility_id,
        entity.entity_dimensions,
        entity.entity_dimensions_hash,
        input.aggregate_zscore,
        input.slope_percentile as input_slope_percentile,
        input.acceleration as input_acceleration,
        input.zscore_std,
        input.max_abs_deviation,
        indicator.position as position_indicator,
        indicator.trend as trend_indicator,
        indicator.momentum as momentum_indicator,
        indicator.consistency as consistency_indicator,
        indicator.has_spike
    from unpacked
    cross join lateral {{ entity_identity('unpacked.entity_key', 'object') }} as entity
    cross join lateral jsonb_to_record(unpacked.inputs_object) as input (
        aggregate_zscore double precision,
        slope_percentile double precision,
        acceleration double precision,
        zscore_std double precision,
        max_abs_deviation double precision
    )
    cross join lateral jsonb_to_record(unpacked.indicators_object) as indicator (
        position text,
        trend text,
        momentum text,
        consistency text,
        has_spike boolean
    )

),

final as (

    select
        -- ids
        {{ surrogate_key(['raw_run_id', 'node_id', 'entity_key_hash', 'metric_id']) }}
            as classification_id,
        {{ surrogate_key(['raw_run_id', 'node_id', 'entity_key_hash']) }} as entity_result_id,
        {{ surrogate_key(['raw_run_id', 'node_id']) }} as node_key,
        raw_run_id as run_id,
        node_id as canonical_node_id,
        metric_id,
        entity_key_hash as entity_key,

        -- dimensions
        facility_id,
        entity_dict ->> 'systemName' as system_name,
        entity_dict ->> '{{ var("service_line_dimension") }}' as service_line,
        entity_dict ->> '{{ var("sub_service_line_dimension") }}' as sub_service_line,
        entity_dimensions,
        entity_dimensions_hash,

        -- classification
        signal_type,
        severity::integer as severity,
        (severity_range ->> 0)::numeric::integer as severity_range_min,
        (severity_range ->> 1)::numeric::integer as severity_range_max,
        inputs_object as inputs,
        aggregate_zscore,
        input_slope_percentile,
        input_acceleration,
        zscore_std,
        max_abs_deviation,
        indicators_object as derived_indicators,
        position_indicator,
        trend_indicator,
        momentum_indicator,
        consistency_indicator,
        classification_reasoning,
        severity_calculation_object as severity_calculation,
        coalesce(
            severity_calculation_object ->> 'base_severity',
            severity_calculation_object ->> 'base'
        )::numeric as base_severity,
        coalesce(
            severity_calculation_object ->> 'final_severity',
            severity_calculation_object ->> 'final'
        )::numeric as final_severity,
        jsonb_array_length(
            {{ jsonb_array_or_empty("severity_calculation_object -> 'refinements'") }}
        ) as severity_refinement_count,
        lower(trim(magnitude_tier)) as magnitude_tier,
        lower(trim(trajectory_tier)) as trajectory_tier,
        lower(trim(consistency_tier)) as consistency_tier,
        coefficient_of_variation,
        period_count::integer as period_count,

        -- flags
        coalesce(suppressed, false) as is_suppressed,
        has_spike,

        -- provenance
        source_format,
        declared_run_id,
        file_path,
        line_number as source_line_number,

        -- timestamps
        {{ parse_timestamptz('"timestamp"') }} as classified_at,
        loaded_at

    from typed

)

select * from final
