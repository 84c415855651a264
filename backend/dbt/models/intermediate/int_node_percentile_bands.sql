-- int_node_percentile_bands
-- Grain:  one row per loaded temporal node that carries percentile trends (run_id,
--         canonical_node_id).
-- Source: stg_node_percentile_trends.
-- Rule:   the peer distribution per period (p10, p25, p50, p75, p90 and the sample size),
--         as parallel arrays in period order, ready to draw reference bands behind an
--         entity's timeline. When several methods carry trends, the robust method's win.

with

trends as (

    select * from {{ ref('stg_node_percentile_trends') }}
    where {{ run_filter('run_id') }}

),

ranked_methods as (

    select
        run_id,
        canonical_node_id,
        statistical_method,
        row_number() over (
            partition by run_id, canonical_node_id
            order by
                ({{ statistical_method_short_name('statistical_method') }} = 'robust_zscore') desc,
                statistical_method
        ) as preference
    from trends
    group by run_id, canonical_node_id, statistical_method

),

final as (

    select
        -- ids
        {{ surrogate_key(['trends.run_id', 'trends.canonical_node_id']) }} as node_key,
        trends.run_id,
        trends.canonical_node_id,
        trends.statistical_method,

        -- measures
        count(*)::integer as period_count,
        jsonb_build_object(
            'periods', jsonb_agg(trends.period order by trends.period_index),
            'period_dates', jsonb_agg(trends.period_date order by trends.period_index),
            'p10', jsonb_agg(trends.p10 order by trends.period_index),
            'p25', jsonb_agg(trends.p25 order by trends.period_index),
            'p50', jsonb_agg(trends.p50 order by trends.period_index),
            'p75', jsonb_agg(trends.p75 order by trends.period_index),
            'p90', jsonb_agg(trends.p90 order by trends.period_index),
            'sample_sizes', jsonb_agg(trends.sample_size order by trends.period_index)
        ) as peer_percentile_trends,
        (array_agg(trends.p50 order by trends.period_index desc))[1] as latest_p50

    from trends
    inner join ranked_methods
        on trends.run_id = ranked_methods.run_id
        and trends.canonical_node_id = ranked_methods.canonical_node_id
        and trends.statistical_method = ranked_methods.statistical_method
        and ranked_methods.preference = 1
    group by trends.run_id, trends.canonical_node_id, trends.statistical_method

)

select * from final
