-- Run-over-run changes: how the signals of a run differ from its previous run (the newest
-- loaded run of the same graph detected before it), read from fct_signal_history. One row
-- per signal that is new, resolved, changed type, escalated or deescalated (persisting
-- signals are left out), with the display columns of fct_signals (the previous run's
-- signal for resolved rows).
-- Vars (optional):
--   run_id   the run (default: the latest run that has a previous run)
--   dbt compile --select run_over_run_changes --vars '{run_id: "20260115153108"}'
-- A signal is the same across runs when (graph_name, canonical_node_id, entity_key,
-- metric_id) match; fct_signal_history defines the previous run and the statuses.

{%- set run_id = var('run_id', none) %}

with

chosen_run as (

    select
        run_id,
        previous_run_id
    from {{ ref('fct_signal_history') }}
    where
        {%- if run_id %}
        run_id = '{{ run_id }}'
        {%- else %}
        previous_run_id is not null
        {%- endif %}
    order by detected_at desc, run_id desc
    limit 1

),

changes as (

    select history.*
    from {{ ref('fct_signal_history') }} as history
    inner join chosen_run
        on history.run_id = chosen_run.run_id
    where history.change_status <> 'persisting'

),

signals as (

    select
        run_id,
        canonical_node_id,
        entity_key,
        metric_id,
        groupby_label,
        group_value,
        severity,
        simple_zscore
    from {{ ref('fct_signals') }}
    where run_id in (
        select chosen_run.run_id from chosen_run
        union
        select chosen_run.previous_run_id from chosen_run
    )

),

final as (

    select
        changes.run_id,
        changes.previous_run_id,
        changes.canonical_node_id,
        changes.facility_id,
        coalesce(current_signals.groupby_label, previous_signals.groupby_label) as groupby_label,
        coalesce(current_signals.group_value, previous_signals.group_value) as group_value,
        changes.metric_id,
        changes.change_status,
        changes.previous_signal_type,
        changes.signal_type,
        changes.previous_signal_severity,
        changes.signal_severity,
        changes.severity_change,
        previous_signals.severity as previous_severity,
        current_signals.severity,
        current_signals.simple_zscore - previous_signals.simple_zscore as simple_zscore_change,
        changes.consecutive_runs,
        changes.first_detected_run_id
    from changes
    left join signals as current_signals
        on changes.signal_id is not null
        and changes.run_id = current_signals.run_id
        and changes.canonical_node_id = current_signals.canonical_node_id
        and changes.entity_key = current_signals.entity_key
        and changes.metric_id = current_signals.metric_id
    left join signals as previous_signals
        on changes.previous_run_id = previous_signals.run_id
        and changes.canonical_node_id = previous_signals.canonical_node_id
        and changes.entity_key = previous_signals.entity_key
        and changes.metric_id = previous_signals.metric_id
    order by
        changes.change_status asc,
        changes.signal_severity desc,
        changes.facility_id asc,
        group_value asc

)

select * from final
