-- Run-over-run changes: how the signals of a run differ from the previous run of the same
-- graph (by detected_at). One row per entity-metric whose signal appeared, disappeared,
-- changed signal type or changed 4-level severity.
-- Vars (optional):
--   run_id           the newer run (default: the latest run that has a predecessor)
--   previous_run_id  the older run (default: the run of the same graph detected just before)
--   dbt compile --select run_over_run_changes --vars '{run_id: "20260115153108"}'
-- A signal is the same across runs when (canonical_node_id, entity_key, metric_id) match.

{%- set run_id = var('run_id', none) %}
{%- set previous_run_id = var('previous_run_id', none) %}

with

runs as (

    select
        run_id,
        graph_name,
        detected_at,
        lag(run_id) over (partition by graph_name order by detected_at, run_id) as previous_run_id
    from {{ ref('stg_runs') }}

),

signals as (

    select
        run_id,
        canonical_node_id,
        entity_key,
        metric_id,
        facility_id,
        groupby_label,
        group_value,
        signal_type,
        signal_severity,
        severity,
        simple_zscore
    from {{ ref('fct_signals') }}

),

run_pair as (

    select
        run_id,
        {%- if previous_run_id %}
        '{{ previous_run_id }}' as previous_run_id
        {%- else %}
        previous_run_id
        {%- endif %}
    from runs
    where
        {%- if run_id %}
        run_id = '{{ run_id }}'
        {%- else %}
        previous_run_id is not null
        {%- endif %}
    order by detected_at desc, run_id desc
    limit 1

),

current_signals as (

    select signals.*
    from signals
    inner join run_pair
        on signals.run_id = run_pair.run_id

),

previous_signals as (

    select signals.*
    from signals
    inner join run_pair
        on signals.run_id = run_pair.previous_run_id

),

compared as (

    select
        coalesce(current_signals.canonical_node_id, previous_signals.canonical_node_id)
            as canonical_node_id,
        coalesce(current_signals.facility_id, previous_signals.facility_id) as facility_id,
        coalesce(current_signals.groupby_label, previous_signals.groupby_label) as groupby_label,
        coalesce(current_signals.group_value, previous_signals.group_value) as group_value,
        coalesce(current_signals.metric_id, previous_signals.metric_id) as metric_id,
        case
            when previous_signals.entity_key is null then 'new'
            when current_signals.entity_key is null then 'resolved'
            when (current_signals.signal_type is distinct from previous_signals.signal_type)
                then 'type_changed'
            when (current_signals.severity is distinct from previous_signals.severity)
                then 'severity_changed'
            else 'unchanged'
        end as change,
        previous_signals.signal_type as previous_signal_type,
        current_signals.signal_type,
        previous_signals.signal_severity as previous_signal_severity,
        current_signals.signal_severity,
        previous_signals.severity as previous_severity,
        current_signals.severity,
        current_signals.simple_zscore - previous_signals.simple_zscore as simple_zscore_change
    from current_signals
    full outer join previous_signals
        on current_signals.canonical_node_id = previous_signals.canonical_node_id
        and current_signals.entity_key = previous_signals.entity_key
        and current_signals.metric_id = previous_signals.metric_id

),

final as (

    select
        run_pair.run_id,
        run_pair.previous_run_id,
        compared.*
    from compared
    cross join run_pair
    where compared.change <> 'unchanged'
    order by
        compared.change asc,
        coalesce(compared.signal_severity, compared.previous_signal_severity) desc,
        compared.facility_id asc,
        compared.group_value asc

)

select * from final
