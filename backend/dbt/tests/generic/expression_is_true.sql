{#- Fails on rows where the boolean SQL expression is false or null (a null counts as a
    failure unless the expression handles it). With column_name the expression may use it as
    the left operand: expression: '>= 0' means "<column> >= 0".
    Replaces dbt_utils.expression_is_true. -#}
{% test expression_is_true(model, expression, column_name=none, row_condition=none) %}
    {%- set predicate = (column_name ~ ' ' ~ expression) if column_name is not none
        else expression -%}
    select *
    from {{ model }}
    where not coalesce(({{ predicate }}), false)
        {%- if row_condition %}
        and ({{ row_condition }})
        {%- endif %}
{% endtest %}
