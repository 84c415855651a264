{#- Referential integrity for partial runs: every non-null child key (one column or several,
    matched pairwise to `fields` of the parent model `to`) must exist in the parent, but only
    for child rows whose parent node was loaded.

    A real run can lack node result files (the bundled runs have no multi-dimension node
    files) while its classifications and contributions still name entities of those nodes.
    Such rows cannot have a parent row and are not errors; a missing entity in a node that
    WAS loaded is. "Loaded" = the child's node key (loaded_column) is in
    loaded_model.loaded_field (stg_nodes.node_key).

    columns / fields: lists of equal length (a single column_name/field also works).
    The parent and loaded models are read for the runs under test only
    (macros/run_partitioned/test_scope.sql). -#}
{% test relationships_where_loaded(
    model, to, loaded_column, loaded_model, loaded_field,
    column_name=none, field=none, columns=none, fields=none
) %}
    {%- set child_columns = columns if columns else [column_name] -%}
    {%- set parent_columns = fields if fields else [field] -%}
    {%- if child_columns | length != parent_columns | length -%}
        {{ exceptions.raise_compiler_error(
            "relationships_where_loaded: columns and fields differ in length"
        ) }}
    {%- endif -%}
    select
        {%- for column in child_columns %}
        child.{{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from (select * from {{ model }}) as child
    where
        {%- for column in child_columns %}
        child.{{ column }} is not null and
        {%- endfor %}
        child.{{ loaded_column }} in (
            select {{ loaded_field }} from {{ scoped_to_tested_runs(loaded_model) }} as loaded
        )
        and not exists (
            select 1
            from {{ scoped_to_tested_runs(to) }} as parent
            where
                {%- for column in child_columns %}
                parent.{{ parent_columns[loop.index0] }} = child.{{ column }}
                {%- if not loop.last %} and{% endif %}
                {%- endfor %}
        )
{% endtest %}
