-- stg_statistical_methods
-- Grain:  one row per statistical method per entity (entity_result_id, statistical_method).
-- Source: raw.raw_entity_results, statistical_methods[] of each entity line.
-- Rule:   every statistic of format spec 3.3 becomes a typed column (null when the method
--         does not carry it); per-period z-score arrays stay jsonb arrays aligned with the
--         entity's timeline. statistical_method_short_name folds the trending variants in by
--         substring (trending_simple_zscore -> simple_zscore). peer_count is
--         runtime.anomaly_statistics.peer_count (aggregate methods only). Aggregate methods:
--         simple z = (value - peer_mean) / max(peer_std, std_floor); robust z =
--         (value - facet median) / max(global_mad, mad_floor) (median and MAD are not in
--         the record; see stg_node_facets). statistics keeps the method's statistics object
--         as written (minus the per-period arrays) for consumers that list all methods.

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

methods as (

    select
        raw_entities.run_id,
        raw_entities.canonical_node_id,
        entity.entity_result_id,
        method.position as method_position,
        method_record.*
    from raw_entities
    cross join lateral {{ entity_identity(
        'raw_entities.entity',
        'array',
        key_scope=['raw_entities.run_id', 'raw_entities.canonical_node_id']
    ) }} as entity
    -- jsonb_path_query walks the array without copying it per element
    cross join lateral jsonb_path_query(raw_entities.statistical_methods, 'strict $[*]')
        with ordinality as method (value, position)
    cross join lateral jsonb_to_record(
        {{ jsonb_object_or_null('method.value') }}
    ) as method_record (
        statistical_method text,
        statistics jsonb,
        runtime jsonb
    )

),

typed as (

    select
        methods.run_id,
        methods.canonical_node_id,
        methods.entity_result_id,
        methods.method_position,
        methods.statistical_method,
        methods.runtime,
        methods.statistics,
        statistic.*
    from methods
    cross join lateral jsonb_to_record(
        {{ jsonb_object_or_null('methods.statistics') }}
    ) as statistic (
        simple_zscore double precision,
        robust_zscore double precision,
        peer_mean double precision,
        peer_std double precision,
        percentile_rank double precision,
        mean_simple_zscore double precision,
        latest_simple_zscore double precision,
        per_period_simple_zscores jsonb,
        mean_robust_zscore double precision,
        latest_robust_zscore double precision,
        per_period_robust_zscores jsonb,
        peer_median double precision,
        peer_mad double precision,
        winsor_applied boolean,
        observations numeric,
        periods numeric,
        latest_period text,
        slope double precision,
        slope_weighted double precision,
        acceleration double precision,
        end_start_delta double precision,
        period_count numeric,
        trend_direction text,
        momentum text,
        slope_percentile double precision,
        suppressed boolean
    )

),

final as (

    select
        -- ids
        {{ surrogate_key(['entity_result_id', 'statistical_method']) }} as statistical_method_id,
        entity_result_id,
        run_id,
        canonical_node_id,
        statistical_method,
        {{ statistical_method_short_name('statistical_method') }} as statistical_method_short_name,
        reverse(split_part(reverse(statistical_method), '__', 1)) as method_scope,
        method_position::integer as method_position,

        -- aggregate statistics
        simple_zscore,
        robust_zscore,
        peer_mean,
        peer_std,
        percentile_rank,
        (runtime -> 'anomaly_statistics' ->> 'peer_count')::numeric::integer as peer_count,

        -- temporal z-score statistics
        mean_simple_zscore,
        latest_simple_zscore,
        per_period_simple_zscores,
        mean_robust_zscore,
        latest_robust_zscore,
        per_period_robust_zscores,
        peer_median,
        peer_mad,
        observations::integer as observation_count,
        periods::integer as period_total,
        {{ period_to_date('latest_period') }} as latest_period_date,

        -- slope statistics
        slope,
        slope_weighted,
        acceleration,
        end_start_delta,
        period_count::integer as period_count,
        trend_direction,
        momentum,
        slope_percentile,

        -- the statistics object as written, without the per-period arrays (typed above):
        -- consumers that show "all methods" read it instead of rebuilding it from columns
        statistics - 'per_period_simple_zscores' - 'per_period_robust_zscores' as statistics,

        -- runtime
        runtime ->> 'status' as runtime_status,
        runtime -> 'summary' ->> 'highest_severity' as runtime_highest_severity,
        jsonb_array_length({{ jsonb_array_or_empty("runtime -> 'issues'") }})
            as runtime_issue_count,

        -- flags
        coalesce(suppressed, false) as is_suppressed,
        winsor_applied as is_winsor_applied,
        (runtime -> 'summary' ->> 'has_issues')::boolean as has_runtime_issues,
        statistical_method like '%trending%' as is_trending

    from typed

)

select * from final
