{#- Fails when the model and compare_model have different row counts (each optionally
    filtered). Returns one row with both counts. Replaces dbt_utils.equal_rowcount.
    When both are run-scoped the counts are compared run by run, over the runs under test
    whose states agree (macros/run_partitioned/test_scope.sql): a model not yet rebuilt
    for a run is left out instead of failing. -#}
{% test equal_rowcount(model, compare_model, row_condition=none, compare_row_condition=none) %}
    {%- set per_run = qc_compares_runs(compare_model) -%}
    with

    model_rows as (
        select {% if per_run %}run_id, {% endif %}count(*) as row_count
        from {{ model }}
        {%- if row_condition %}
        where {{ row_condition }}
        {%- endif %}
        {%- if per_run %}
        group by run_id
        {%- endif %}
    ),

    compare_rows as (
        select {% if per_run %}run_id, {% endif %}count(*) as row_count
        from {{ scoped_to_tested_runs(compare_model) }} as compared
        {%- if compare_row_condition %}
        where {{ compare_row_condition }}
        {%- endif %}
        {%- if per_run %}
        group by run_id
        {%- endif %}
    )

    {%- if per_run %}

    select
        coalesce(model_rows.run_id, compare_rows.run_id) as run_id,
        coalesce(model_rows.row_count, 0) as model_row_count,
        coalesce(compare_rows.row_count, 0) as compare_row_count
    from model_rows
    full outer join compare_rows
        on model_rows.run_id = compare_rows.run_id
    where coalesce(model_rows.row_count, 0) <> coalesce(compare_rows.row_count, 0)
    {%- else %}

    select
        model_rows.row_count as model_row_count,
        compare_rows.row_count as compare_row_count
    from model_rows
    cross join compare_rows
    where model_rows.row_count <> compare_rows.row_count
    {%- endif %}
{% endtest %}
