{#- PostgreSQL maintenance.

    analyze_table(exclude_data_types=[]): post-hook; refreshes planner statistics of the
    model just built (`analyze <this>`), so the next models in the same build plan joins on
    real row counts. A run_partitioned model analyzes only the partitions this invocation
    built (the ledger lists them), never its whole history. exclude_data_types leaves
    columns of those types out (the marts skip jsonb documents, whose statistics cost as
    much as the build and that no query filters on).

    vacuum_analyze_table(table_name, schema_name=none): run-operation;
        dbt run-operation vacuum_analyze_table --args '{"table_name": "fct_signals"}'
    finds the table's real schema (a model, seed or snapshot of this project named
    table_name, as built for the current target, e.g. public_marts.fct_signals; else the
    only table of that name in the database), then runs VACUUM (ANALYZE) on it.
    VACUUM cannot run inside a transaction block, and dbt's connection is not in
    autocommit mode: the macro first ends dbt's transaction with COMMIT and then sends
    VACUUM without auto-begin, so the server runs it outside any transaction.
    Arguments come from the command line: each must name a table or schema that exists.
    They are looked up in pg_catalog as escaped literals and the statement is built from
    the names the catalog returned, quoted by dbt's relation (never pasted into SQL:
    dbt-postgres's own relation lookup pastes the schema into an `ilike '...'`, which is
    how a schema_name once ran injected SQL). -#}

{% macro analyze_table(exclude_data_types=[]) -%}
    {%- set columns = [] -%}
    {%- if exclude_data_types -%}
        {%- set columns = model.columns.values() | rejectattr('data_type', 'in', exclude_data_types)
            | map(attribute='name') | list -%}
    {%- endif -%}
    {%- set column_list = (' (' ~ columns | join(', ') ~ ')') if columns else '' -%}
    {#- views and ephemeral models have no statistics of their own: render nothing (skipped) -#}
    {%- if config.get('materialized') == 'run_partitioned' -%}
        {#- one statement: the server finds the partitions this invocation built -#}
        do $qc_analyze$
        declare
            built record;
        begin
            for built in
                select partition_schema, partition_name
                from {{ qc_ledger_relation() }}
                where model_schema = {{ qc_sql_literal(this.schema) }}
                    and model_name = {{ qc_sql_literal(this.identifier) }}
                    and invocation_id = {{ qc_sql_literal(invocation_id) }}
            loop
                execute format('analyze %I.%I{{ column_list }}', built.partition_schema, built.partition_name);
            end loop;
        end
        $qc_analyze$
    {%- elif config.get('materialized') in ['table', 'incremental', 'snapshot', 'seed'] -%}
        analyze {{ this }}{{ column_list }}
    {%- endif -%}
{%- endmacro %}


{% macro vacuum_analyze_table(table_name, schema_name=none) %}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- do _qc_require_name(table_name, 'table_name') -%}
    {%- if schema_name is not none -%}
        {%- do _qc_require_name(schema_name, 'schema_name') -%}
    {%- endif -%}
    {%- set relation = _qc_find_relation(table_name, schema_name) -%}
    {%- if relation is none -%}
        {{ exceptions.raise_compiler_error(
            "vacuum_analyze_table: no table named '" ~ table_name ~ "'"
            ~ (" in schema '" ~ schema_name ~ "'" if schema_name is not none else "")
            ~ " in database " ~ target.database ~ " (has it been built?)") }}
    {%- endif -%}
    {%- do adapter.execute("commit", auto_begin=False, fetch=False) -%}
    {%- do adapter.execute("vacuum (analyze) " ~ relation, auto_begin=False, fetch=False) -%}
    {{ log("vacuum_analyze_table: VACUUM (ANALYZE) " ~ relation ~ " done", info=true) }}
    {{ return(relation) }}
{% endmacro %}


{#- An argument that names a table or schema: a non-empty string without NUL. Whether it
    exists is the catalog lookup's business; it is never pasted into SQL as such. -#}
{% macro _qc_require_name(value, argument) %}
    {%- if value is not string or value | length == 0 or '\x00' in value -%}
        {{ exceptions.raise_compiler_error(
            "vacuum_analyze_table: " ~ argument ~ " must be the name of a "
            ~ argument.split('_')[0] ~ ", got '" ~ value ~ "'") }}
    {%- endif -%}
{% endmacro %}


{#- A text value as a PostgreSQL escape-string literal (E'...'): backslashes and quotes are
    escaped, so the value stays one literal whatever standard_conforming_strings says. -#}
{% macro _qc_text_literal(value) -%}
    E'{{ value | replace("\\", "\\\\") | replace("'", "''") }}'
{%- endmacro %}


{#- The tables (plain, partitioned, materialized views) named table_name, as
    [schema, name] rows from the catalog, optionally in one schema. -#}
{% macro _qc_tables_named(table_name, schema_name=none) %}
    {%- set lookup -%}
        select namespace.nspname, class.relname
        from pg_catalog.pg_class as class
        inner join pg_catalog.pg_namespace as namespace on class.relnamespace = namespace.oid
        where class.relname = {{ _qc_text_literal(table_name) }}
            and class.relkind in ('r', 'p', 'm')
            {%- if schema_name is not none %}
            and namespace.nspname = {{ _qc_text_literal(schema_name) }}
            {%- endif %}
        order by namespace.nspname
    {%- endset -%}
    {{ return(run_query(lookup).rows) }}
{% endmacro %}


{#- The relation of a table that exists, built from the names the catalog returned (dbt
    quotes them); none when there is no such table. -#}
{% macro _qc_find_relation(table_name, schema_name=none) %}
    {%- if schema_name is none -%}
        {#- 1. a node of this project: the schema it is built in for this target -#}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type in ['model', 'seed', 'snapshot']
                  and (node.alias or node.name) == table_name
                  and node.package_name == project_name -%}
                {%- set built = _qc_tables_named(table_name, node.schema) -%}
                {%- if built | length == 1 -%}
                    {{ return(_qc_relation(built[0])) }}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {#- 2. the table in the given schema, or in the only schema that has one of that name -#}
    {%- set found = _qc_tables_named(table_name, schema_name) -%}
    {%- if found | length > 1 -%}
        {{ exceptions.raise_compiler_error(
            "vacuum_analyze_table: '" ~ table_name ~ "' exists in several schemas ("
            ~ found | map(attribute=0) | join(', ') ~ "); pass schema_name") }}
    {%- endif -%}
    {{ return(_qc_relation(found[0]) if found else none) }}
{% endmacro %}


{% macro _qc_relation(row) %}
    {{ return(api.Relation.create(
        database=target.database, schema=row[0], identifier=row[1], type='table'
    )) }}
{% endmacro %}
