{#- How the SQL of a run-partitioned model learns which runs to build
    (docs/architecture/incremental.md).

    run_filter(column): use it in every import CTE that reads a run-scoped relation:
        where {{ run_filter('raw_entity.run_id') }}
    Compiled on its own (dbt compile / show, unit tests) it renders `(true ...)`: every
    run. At build time the materialization replaces it with `(<column> in ('r1', ...))`,
    the literal runs it is building, so PostgreSQL prunes the partitions of every parent
    at plan time (an IN over a subquery or a temp table would not prune).

    run_filter(column, 'previous'): the runs whose rows a chained model (one whose run
    depends on the previous run of its graph, e.g. fct_signal_history) reads from its own
    earlier build: the previous runs of the runs being built that are not rebuilt
    themselves. Renders `(false ...)` unless the materialization fills it in.

    incremental_self(columns): the model's own table when it is partitioned and not being
    fully refreshed, else an empty relation with the given columns ({name: data type}, the
    contract's types), so the SQL compiles on a fresh database and in unit tests. -#}

{% macro run_filter(column='run_id', runs='building') -%}
    {%- if runs == 'building' -%}
        (true /*qc_run_filter {{ column }}*/)
    {%- elif runs == 'previous' -%}
        (false /*qc_previous_filter {{ column }}*/)
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "run_filter: runs must be 'building' or 'previous', not " ~ runs) }}
    {%- endif -%}
{%- endmacro %}


{#- The materialization's side: fill in the filters of compiled SQL. -#}
{% macro qc_apply_run_filters(sql, building, previous) -%}
    {%- set pattern = '\\((?:true|false) /\\*qc_(run|previous)_filter ([^*]+)\\*/\\)' -%}
    {%- set parts = modules.re.split(pattern, sql) -%}
    {%- set rendered = [parts[0]] -%}
    {%- for index in range(1, parts | length, 3) -%}
        {%- set runs = building if parts[index] == 'run' else previous -%}
        {%- do rendered.append(qc_in_runs(parts[index + 1], runs)) -%}
        {%- do rendered.append(parts[index + 2]) -%}
    {%- endfor -%}
    {{- return(rendered | join('')) -}}
{%- endmacro %}


{% macro incremental_self(columns) -%}
    {%- if not execute -%}
        {{- return(this) -}}
    {%- endif -%}
    {%- set use_self = false -%}
    {%- if model.resource_type == 'model' and not should_full_refresh() -%}
        {%- set found = run_query(
            "select relkind from pg_class where oid = to_regclass(" ~ qc_sql_literal(this | string) ~ ")"
        ).columns[0].values() -%}
        {%- set use_self = found | length == 1 and found[0] == 'p' -%}
    {%- endif -%}
    {%- if use_self -%}
        {{ this }}
    {%- else -%}
        {%- set typed = [] -%}
        {%- for name, data_type in columns.items() -%}
            {%- do typed.append('cast(null as ' ~ data_type ~ ') as ' ~ name) -%}
        {%- endfor -%}
        (select {{ typed | join(', ') }} where false)
    {%- endif -%}
{%- endmacro %}


{#- The previous run of each run (docs/architecture/incremental.md, fct_signal_history).
    From a relation with run_id, graph_name and detected_at: a run's level is the rank of
    its detected_at within its graph (equal detected_at, equal level); the previous run of
    a run at level k is the newest run at level k - 1 (the greatest run_id, compared byte
    by byte, when several runs share that detected_at). So runs detected at the same
    moment are not each other's previous run, and they share theirs. Columns: run_id,
    graph_name, detected_at, run_level, is_level_representative, previous_run_id. -#}
{% macro run_chain(runs_relation) -%}
    with

    levelled as (

        select
            runs.run_id,
            coalesce(runs.graph_name, '') as graph_name,
            runs.detected_at,
            dense_rank() over (
                partition by coalesce(runs.graph_name, '') order by runs.detected_at
            )::integer as run_level
        from {{ runs_relation }} as runs

    ),

    representatives as (

        select
            graph_name,
            run_level,
            max(run_id collate "C") collate "default" as representative_run_id
        from levelled
        group by graph_name, run_level

    )

    select
        levelled.run_id,
        levelled.graph_name,
        levelled.detected_at,
        levelled.run_level,
        levelled.run_id = representatives.representative_run_id as is_level_representative,
        previous_level.representative_run_id as previous_run_id
    from levelled
    inner join representatives
        on levelled.graph_name = representatives.graph_name
        and levelled.run_level = representatives.run_level
    left join representatives as previous_level
        on levelled.graph_name = previous_level.graph_name
        and levelled.run_level - 1 = previous_level.run_level
{%- endmacro %}
