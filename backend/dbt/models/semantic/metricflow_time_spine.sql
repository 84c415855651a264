-- metricflow_time_spine
-- Grain:  one row per calendar day (date_day) from var time_spine_start_date to var
--         time_spine_end_date, inclusive.
-- Source: none (generate_series); no dbt_utils date_spine.
-- Rule:   MetricFlow joins time-based metrics (cumulative signals) to this spine at day
--         granularity, so every day a signal can be detected on must lie in the range.

with

days as (

    select day::date as date_day
    from generate_series(
        date '{{ var("time_spine_start_date") }}',
        date '{{ var("time_spine_end_date") }}',
        interval '1 day'
    ) as day

),

final as (

    select date_day
    from days

)

select * from final
