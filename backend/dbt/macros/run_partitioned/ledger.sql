{#- The build ledger of run-partitioned models (docs/architecture/incremental.md).

    <target schema>_meta.qc_build_ledger: one row per (model, run) currently built, with
    the version the run's rows were built from, the raw load they derive from, the
    partition that holds them, the row count and the dbt invocation that built them. The
    materialization `run_partitioned` rewrites a model's rows in the same transaction that
    swaps its partitions, so the ledger always describes what readers see.
    <target schema>_meta.qc_build_log: what each invocation did (built, dropped, full
    refresh), one row per model and run, for audits and tests.
    Partition tables are named <model>__<md5(run_id, invocation_id)>: names never carry
    run ids, which may hold any character. -#}

{% macro qc_meta_schema() -%}
    {{- return(target.schema ~ '_meta') -}}
{%- endmacro %}


{% macro qc_ledger_relation() -%}
    {{- return(api.Relation.create(database=target.database, schema=qc_meta_schema(),
        identifier='qc_build_ledger', type='table')) -}}
{%- endmacro %}


{% macro qc_build_log_relation() -%}
    {{- return(api.Relation.create(database=target.database, schema=qc_meta_schema(),
        identifier='qc_build_log', type='table')) -}}
{%- endmacro %}


{% macro qc_partition_schema(model_schema) -%}
    {#- partitions live beside, not in, the model's schema: dbt's relation cache, its
        catalog (docs generate) and `\dt public_marts` list the models only -#}
    {{- return(model_schema ~ '_partitions') -}}
{%- endmacro %}


{#- Create the ledger, the log and a model's partition schema when missing.
    The materialization runs this in a short transaction of its own, committed before the
    model's: DDL "if not exists" is not safe against a concurrent creator, so an advisory
    lock serialises the dbt threads (and invocations) that get there first; afterwards it
    finds everything in place and creates nothing. -#}
{% macro qc_ensure_ledger_sql(partition_schema) %}
    {%- set meta = qc_meta_schema() -%}
    do $qc_ledger$
    begin
        if to_regclass({{ qc_sql_literal(qc_build_log_relation() | string) }}) is not null
            and exists (select 1 from pg_namespace where nspname = {{ qc_sql_literal(partition_schema) }})
        then
            return;
        end if;
        perform pg_advisory_xact_lock(hashtextextended('quality_compass.build_ledger', 0));
        create schema if not exists {{ adapter.quote(partition_schema) }};
        create schema if not exists {{ adapter.quote(meta) }};
        create table if not exists {{ qc_ledger_relation() }} (
            model_schema text not null,
            model_name text not null,
            run_id text not null,
            version text not null,
            code_version text not null,
            load_id bigint,
            parent_versions jsonb,
            partition_schema text not null,
            partition_name text not null,
            row_count bigint not null,
            built_at timestamptz not null default now(),
            invocation_id text not null,
            primary key (model_schema, model_name, run_id)
        );
        create table if not exists {{ qc_build_log_relation() }} (
            logged_at timestamptz not null default now(),
            invocation_id text not null,
            model_schema text not null,
            model_name text not null,
            run_id text,
            action text not null,
            version text,
            load_id bigint,
            row_count bigint,
            partition_name text
        );
        create index if not exists qc_build_log_invocation
            on {{ qc_build_log_relation() }} (invocation_id);
    end
    $qc_ledger$
{% endmacro %}


{#- SQL text literals for any string (quotes doubled; backslashes safe whatever
    standard_conforming_strings says). -#}
{% macro qc_sql_literal(value) -%}
    {%- set text = value | string -%}
    {%- if '\\' in text -%}
        {{- return("E'" ~ text.replace('\\', '\\\\').replace("'", "''") ~ "'") -}}
    {%- endif -%}
    {{- return("'" ~ text.replace("'", "''") ~ "'") -}}
{%- endmacro %}


{% macro qc_sql_literals(values) -%}
    {#- inline (no macro call per value): it renders every run filter of every test -#}
    {%- set literals = [] -%}
    {%- for value in values -%}
        {%- set text = value | string -%}
        {%- if '\\' in text -%}
            {%- do literals.append("E'" ~ text.replace('\\', '\\\\').replace("'", "''") ~ "'") -%}
        {%- else -%}
            {%- do literals.append("'" ~ text.replace("'", "''") ~ "'") -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(literals | join(', ')) -}}
{%- endmacro %}


{#- `(<column> = any (array['a', 'b']))`, or `(false)` for no runs. Not `in ('a')`: PostgreSQL
    turns a one-element IN into `=`, and an equality with a constant spreads through the
    joins on run_id to every relation of the query, including materialized CTEs, which have
    no statistics: their row estimates collapse (0.5 % of the rows) and the planner picks
    nested loops (int_temporal_twins: 0.07 s became 10 s on a 100 MB run). `= any` prunes
    partitions just the same. -#}
{% macro qc_in_runs(column, run_ids) -%}
    {%- if run_ids | length == 0 -%}
        {{- return('(false)') -}}
    {%- endif -%}
    {{- return('(' ~ column ~ ' = any (array[' ~ qc_sql_literals(run_ids) ~ ']::text[]))') -}}
{%- endmacro %}


{#- The runs of a model this invocation built (list of run ids). -#}
{% macro built_runs(relation) -%}
    {%- if not execute -%}
        {{- return([]) -}}
    {%- endif -%}
    {%- set found = run_query(
        "select run_id from " ~ qc_ledger_relation() ~ " where model_schema = " ~ qc_sql_literal(relation.schema)
        ~ " and model_name = " ~ qc_sql_literal(relation.identifier)
        ~ " and invocation_id = " ~ qc_sql_literal(invocation_id) ~ " order by run_id collate \"C\""
    ).columns[0].values() -%}
    {{- return(found | list) -}}
{%- endmacro %}
