{#- Quality domain of a metric: the run's taxonomy domain (metadata_bundle metrics[].domain)
    when given and not blank, else a name heuristic on the metric id:
      length of stay / cost / charge / wait / throughput -> Efficiency
      readmission                                          -> Effectiveness
      mortality / death / infection / sepsis / fall / return / complication -> Safety
      icu / utilization / encounters / cases / admission   -> Utilization
      anything else                                        -> Other -#}
{% macro classify_metric_domain(metric_id, taxonomy_domain=none) -%}
    {%- set metric_id = '(' ~ metric_id ~ ')' if metric_id is not none else none -%}
    {%- set taxonomy_domain = '(' ~ taxonomy_domain ~ ')'
        if taxonomy_domain is not none else none -%}
    coalesce(
        {%- if taxonomy_domain is not none %}
        nullif(trim({{ taxonomy_domain }}), ''),
        {%- endif %}
        case
            when {{ metric_id }} is null then null
            when {{ metric_id }}
                ~* '(^los|los[A-Z_]|lengthofstay|length_of_stay|cost|charge|wait|throughput)'
                then 'Efficiency'
            when {{ metric_id }} ~* 'readmi' then 'Effectiveness'
            when {{ metric_id }} ~* '(mortality|death|infection|sepsis|fall|return|complication)'
                then 'Safety'
            when {{ metric_id }} ~* '(icu|utiliz|encounter|cases|admission)' then 'Utilization'
            else 'Other'
        end
    )
{%- endmacro %}
