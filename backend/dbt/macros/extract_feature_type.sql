{#- Feature type or time grain of a canonical node id
    (`<metricId>__<groupByPart>__<timePart>`, format spec 2.4).

    part='time_grain'   -> the time part: 'aggregate_time_period', 'dischargeMonth', ...
    part='feature_type' -> 'aggregate' when the time part is aggregate_time_period (one
                           scalar per entity), else 'temporal' (a timeline per entity).
    Null when the id does not have at least three '__'-separated parts. -#}
{% macro extract_feature_type(canonical_node_id, part='feature_type') -%}
    {%- set canonical_node_id = '(' ~ canonical_node_id ~ ')'
        if canonical_node_id is not none else none -%}
    {%- set time_part -%}
        case
            when cardinality(string_to_array({{ canonical_node_id }}, '__')) >= 3
                then reverse(split_part(reverse({{ canonical_node_id }}), '__', 1))
        end
    {%- endset -%}
    {%- if part == 'time_grain' -%}
        ({{ time_part }})
    {%- elif part == 'feature_type' -%}
        (
            case
                when ({{ time_part }}) is null then null
                when ({{ time_part }}) = 'aggregate_time_period' then 'aggregate'
                else 'temporal'
            end
        )
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "extract_feature_type: part must be 'feature_type' or 'time_grain', got " ~ part
        ) }}
    {%- endif -%}
{%- endmacro %}
