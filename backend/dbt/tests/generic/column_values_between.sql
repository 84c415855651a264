{#- Fails on rows whose column lies outside [min_value, max_value] (either bound optional;
    inclusive unless strictly=true). Nulls pass; row_condition restricts the rows checked.
    Replaces dbt_expectations.expect_column_values_to_be_between. -#}
{% test column_values_between(
    model, column_name, min_value=none, max_value=none, strictly=false, row_condition=none
) %}
    {%- if min_value is none and max_value is none -%}
        {{ exceptions.raise_compiler_error("column_values_between needs min_value or max_value") }}
    {%- endif -%}
    {%- set lower_op = '<=' if strictly else '<' -%}
    {%- set upper_op = '>=' if strictly else '>' -%}
    select
        {{ column_name }} as failing_value
    from {{ model }}
    where {{ column_name }} is not null
        {%- if row_condition %}
        and ({{ row_condition }})
        {%- endif %}
        and (
            false
            {%- if min_value is not none %}
            or {{ column_name }} {{ lower_op }} {{ min_value }}
            {%- endif %}
            {%- if max_value is not none %}
            or {{ column_name }} {{ upper_op }} {{ max_value }}
            {%- endif %}
        )
{% endtest %}
