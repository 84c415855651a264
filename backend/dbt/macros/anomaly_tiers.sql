{#- The 9-tier anomaly label of a statistic (format spec 3.2): the first tier whose bound b
    satisfies value <= b (upper-inclusive), the last tier beyond the last bound, null for a
    null value. kind = 'zscore' (var zscore_tier_bounds) or 'percentile'
    (var percentile_tier_bounds); tiers from var anomaly_tiers. -#}
{% macro anomaly_tier(value, kind='zscore') -%}
    {%- set value = '(' ~ value ~ ')' if value is not none else none -%}
    {%- set tiers = var('anomaly_tiers') -%}
    {%- set bounds = var(kind ~ '_tier_bounds') -%}
    {%- if tiers | length != bounds | length + 1 -%}
        {{ exceptions.raise_compiler_error(
            "anomaly_tier: var anomaly_tiers needs one more entry than var "
            ~ kind ~ "_tier_bounds"
        ) }}
    {%- endif -%}
    (
        case
            when {{ value }} is null then null
            {%- for bound in bounds %}
            when {{ value }} <= {{ bound }} then '{{ tiers[loop.index0] }}'
            {%- endfor %}
            else '{{ tiers[-1] }}'
        end
    )
{%- endmacro %}

{#- The label an anomaly should carry given what it applies to: percentile bounds for
    percentile statistics (slope_percentile), z-score bounds otherwise. -#}
{% macro expected_anomaly_label(value, applies_to) -%}
    {%- set value = '(' ~ value ~ ')' if value is not none else none -%}
    {%- set applies_to = '(' ~ applies_to ~ ')' if applies_to is not none else none -%}
    (
        case
            when {{ applies_to }} like '%percentile%' then {{ anomaly_tier(value, 'percentile') }}
            else {{ anomaly_tier(value, 'zscore') }}
        end
    )
{%- endmacro %}

{#- Short name of a statistical method id, matched by substring so the trending variants
    fold in: statistical_method__trending_simple_zscore__trending_time_period -> simple_zscore.
    Null for an unknown method. -#}
{% macro statistical_method_short_name(statistical_method) -%}
    {%- set statistical_method = '(' ~ statistical_method ~ ')'
        if statistical_method is not none else none -%}
    (
        case
            when {{ statistical_method }} like '%slope_percentile%' then 'slope_percentile'
            when {{ statistical_method }} like '%robust_zscore%' then 'robust_zscore'
            when {{ statistical_method }} like '%simple_zscore%' then 'simple_zscore'
        end
    )
{%- endmacro %}
