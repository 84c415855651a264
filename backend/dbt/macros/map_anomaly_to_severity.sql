{#- 9-tier anomaly label -> 4-level severity, from var anomaly_severity_levels:
    extremely_* -> Critical, very_* -> High, moderately_* (and legacy high/low) -> Moderate,
    slightly_* -> Watch; normal, no_score, null and unknown labels -> null.
    Case-insensitive; surrounding blanks ignored. -#}
{% macro map_anomaly_to_severity(anomaly_label) -%}
    {%- set anomaly_label = '(' ~ anomaly_label ~ ')' if anomaly_label is not none else none -%}
    (
        case
            {%- for level, labels in var('anomaly_severity_levels').items() %}
            when lower(trim({{ anomaly_label }})) in (
                {%- for label in labels -%}
                '{{ label }}'{% if not loop.last %}, {% endif %}
                {%- endfor -%}
            ) then '{{ level }}'
            {%- endfor %}
        end
    )
{%- endmacro %}
