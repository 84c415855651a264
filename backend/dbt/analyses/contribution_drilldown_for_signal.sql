-- Contribution drill-down of one signal: which children (service lines, ...) move the
-- signal's entity, ranked by contribution weight, with each child's own signal.
-- Vars (optional):
--   signal_id  the parent signal (default: the most severe signal that has contributions)
--   metric_id  the contribution file (default: the signal's own metric; or simple_zscore /
--              robust_zscore for the z-score files)
--   top_n      children to return (default 10)
--   dbt compile --select contribution_drilldown_for_signal --vars '{signal_id: <id>}'

{%- set signal_id = var('signal_id', none) %}
{%- set metric_id = var('metric_id', none) %}

with

signals as (

    select * from {{ ref('fct_signals') }}

),

contributions as (

    select * from {{ ref('fct_contributions') }}

),

chosen_signal as (

    select signals.*
    from signals
    where
        {%- if signal_id %}
        signals.signal_id = '{{ signal_id }}'
        {%- else %}
        exists (
            select 1
            from contributions
            where contributions.parent_signal_id = signals.signal_id
        )
        {%- endif %}
    order by
        signals.signal_severity desc,
        abs(signals.simple_zscore) desc nulls last,
        signals.signal_id
    limit 1

),

final as (

    select
        chosen_signal.signal_id as parent_signal_id,
        chosen_signal.facility_id,
        chosen_signal.group_value as parent_group_value,
        chosen_signal.signal_type as parent_signal_type,
        chosen_signal.metric_value as parent_metric_value,
        contributions.metric_id,
        contributions.contribution_rank,
        contributions.child_groupby_label,
        contributions.child_group_value,
        contributions.child_value,
        contributions.parent_value,
        round(contributions.weight_share::numeric, 4) as weight_share,
        contributions.excess_over_parent,
        contributions.contribution_weight,
        contributions.contribution_direction,
        round(contributions.contribution_pct::numeric, 1) as contribution_pct,
        child_signals.signal_type as child_signal_type,
        child_signals.signal_severity as child_signal_severity,
        child_signals.severity as child_severity
    from chosen_signal
    inner join contributions
        on chosen_signal.signal_id = contributions.parent_signal_id
        {%- if metric_id %}
        and contributions.metric_id = '{{ metric_id }}'
        {%- else %}
        and chosen_signal.metric_id = contributions.metric_id
        {%- endif %}
    left join signals as child_signals
        on contributions.child_signal_id = child_signals.signal_id
    where contributions.contribution_rank <= {{ var('top_n', 10) }}
    order by contributions.child_node_id, contributions.contribution_rank

)

select * from final
