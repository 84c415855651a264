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
    VACUUM without auto-begin, so the server runs it outside any transaction. -#}

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
    {%- set relation = _qc_find_relation(table_name, schema_name) -%}
    {%- if relation is none -%}
        {{ exceptions.raise_compiler_error(
            "vacuum_analyze_table: no table named '" ~ table_name ~ "'"
            ~ (" in schema '" ~ schema_name ~ "'" if schema_name else "")
            ~ " in database " ~ target.database ~ " (has it been built?)") }}
    {%- endif -%}
    {%- do adapter.execute("commit", auto_begin=False, fetch=False) -%}
    {%- do adapter.execute("vacuum (analyze) " ~ relation, auto_begin=False, fetch=False) -%}
    {{ log("vacuum_analyze_table: VACUUM (ANALYZE) " ~ relation ~ " done", info=true) }}
    {{ return(relation) }}
{% endmacro %}


{% macro _qc_find_relation(table_name, schema_name=none) %}
    {%- if schema_name -%}
        {{ return(adapter.get_relation(database=target.database, schema=schema_name, identifier=table_name)) }}
    {%- endif -%}
    {#- 1. a node of this project: the schema it is built in for this target -#}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type in ['model', 'seed', 'snapshot']
              and (node.alias or node.name) == table_name
              and node.package_name == project_name -%}
            {%- set found = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias or node.name) -%}
            {%- if found is not none -%}
                {{ return(found) }}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {#- 2. any table of that name, when exactly one schema has it -#}
    {%- set lookup -%}
        select table_schema
        from information_schema.tables
        where table_catalog = current_database()
            and table_name = '{{ table_name | replace("'", "''") }}'
            and table_type = 'BASE TABLE'
        order by table_schema
    {%- endset -%}
    {%- set schemas = run_query(lookup).columns[0].values() -%}
    {%- if schemas | length == 1 -%}
        {{ return(adapter.get_relation(database=target.database, schema=schemas[0], identifier=table_name)) }}
    {%- elif schemas | length > 1 -%}
        {{ exceptions.raise_compiler_error(
            "vacuum_analyze_table: '" ~ table_name ~ "' exists in several schemas ("
            ~ schemas | join(', ') ~ "); pass schema_name") }}
    {%- endif -%}
    {{ return(none) }}
{% endmacro %}
