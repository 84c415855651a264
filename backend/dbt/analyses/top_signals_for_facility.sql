-- Top signals of one facility in one run, most severe first.
-- Vars (all optional):
--   facility_id  the facility (default: the facility with the most Critical/High signals
--                in the run)
--   run_id       the run (default: the latest run, by detected_at, that has the facility)
--   top_n        rows to return (default 20)
-- Order: classification severity (0-100), then the 4-level anomaly severity, then |z|.
--   dbt compile --select top_signals_for_facility --vars '{facility_id: AFP658}'
-- and run target/compiled/quality_compass/analyses/top_signals_for_facility.sql.

{%- set facility_id = var('facility_id', none) %}
{%- set run_id = var('run_id', none) %}
{%- set severity_levels = var('anomaly_severity_levels').keys() | list %}

with

signals as (

    select * from {{ ref('fct_signals') }}

),

facilities as (

    select * from {{ ref('dim_facilities') }}

),

chosen_run as (

    select run_id
    from signals
    where true
        {%- if run_id %}
        and run_id = '{{ run_id }}'
        {%- endif %}
        {%- if facility_id %}
        and facility_id = '{{ facility_id }}'
        {%- endif %}
    group by run_id
    order by max(detected_at) desc, run_id desc
    limit 1

),

chosen_facility as (

    select signals.facility_id
    from signals
    inner join chosen_run
        on signals.run_id = chosen_run.run_id
    where true
        {%- if facility_id %}
        and signals.facility_id = '{{ facility_id }}'
        {%- endif %}
    group by signals.facility_id
    order by
        count(*) filter (
            where signals.severity in ('{{ severity_levels[0] }}', '{{ severity_levels[1] }}')
        ) desc,
        max(signals.signal_severity) desc,
        signals.facility_id
    limit 1

),

final as (

    select
        signals.run_id,
        signals.facility_id,
        facilities.facility_name,
        signals.groupby_label,
        signals.group_value,
        signals.metric_id,
        signals.signal_type,
        signals.signal_severity,
        signals.severity,
        signals.anomaly_classification,
        signals.metric_value,
        signals.benchmark_value,
        round(signals.variance_percent::numeric, 1) as variance_percent,
        round(signals.simple_zscore::numeric, 2) as simple_zscore,
        signals.trend_direction,
        signals.classification_reasoning,
        signals.signal_id
    from signals
    inner join chosen_run
        on signals.run_id = chosen_run.run_id
    inner join chosen_facility
        on signals.facility_id = chosen_facility.facility_id
    left join facilities
        on signals.facility_sk = facilities.facility_sk
    order by
        signals.signal_severity desc,
        array_position(
            array[
                {%- for level in severity_levels -%}
                '{{ level }}'{% if not loop.last %}, {% endif %}
                {%- endfor -%}
            ],
            signals.severity
        ) nulls last,
        abs(signals.simple_zscore) desc nulls last,
        signals.signal_id
    limit {{ var('top_n', 20) }}

)

select * from final
