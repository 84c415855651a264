-- stg_node_percentile_trends
-- Grain:  one row per loaded temporal node per statistical method per period
--         (run_id, canonical_node_id, statistical_method, period_index).
-- Source: raw.raw_node_results headers:
--         statistical_methods[].summary.global_statistics.percentile_trends (written by the
--         trending robust method).
-- Rule:   periods[], p10..p90[], sample_sizes[] and suppression_applied.pXX[] are parallel
--         arrays; row t takes element t of each. Periods are YYYYMM; period_date is the
--         first day of the month. The peer bands are numpy linear-interpolation percentiles
--         of the entity values of that period.

with

headers as (

    select
        run_id,
        canonical_node_id,
        json_data -> 'statistical_methods' as statistical_methods
    from {{ source('raw', 'raw_node_results') }}
    where {{ run_filter('run_id') }}

),

trends as (

    select
        headers.run_id,
        headers.canonical_node_id,
        method.value ->> 'statistical_method' as statistical_method,
        method.value -> 'summary' -> 'global_statistics' -> 'percentile_trends' as percentile_trends
    from headers
    cross join lateral jsonb_array_elements(
        {{ jsonb_array_or_empty('headers.statistical_methods') }}
    ) with ordinality as method (value, position)
    where
        jsonb_typeof(method.value -> 'summary' -> 'global_statistics' -> 'percentile_trends')
        = 'object'

),

periods as (

    select
        trends.run_id,
        trends.canonical_node_id,
        trends.statistical_method,
        trends.percentile_trends,
        period.position as period_index,
        period.value as period
    from trends
    cross join lateral jsonb_array_elements_text(
        {{ jsonb_array_or_empty("trends.percentile_trends -> 'periods'") }}
    ) with ordinality as period (value, position)

),

final as (

    select
        -- ids
        {{ surrogate_key(['run_id', 'canonical_node_id', 'statistical_method', 'period_index']) }}
            as node_percentile_trend_key,
        {{ surrogate_key(['run_id', 'canonical_node_id']) }} as node_key,
        run_id,
        canonical_node_id,
        statistical_method,
        period_index::integer as period_index,

        -- dimensions
        period,
        {{ period_to_date('period') }} as period_date,

        -- measures
        {%- for band in ['p10', 'p25', 'p50', 'p75', 'p90'] %}
        (percentile_trends -> '{{ band }}' ->> (period_index::integer - 1))::double precision
            as {{ band }},
        {%- endfor %}
        (percentile_trends -> 'sample_sizes' ->> (period_index::integer - 1))::numeric::integer
            as sample_size,

        -- flags
        {%- for band in ['p10', 'p25', 'p50', 'p75', 'p90'] %}
        (
            percentile_trends -> 'suppression_applied' -> '{{ band }}'
            ->> (period_index::integer - 1)
        )::boolean
            as is_{{ band }}_suppressed{% if not loop.last %},{% endif %}
        {%- endfor %}

    from periods

)

select * from final
