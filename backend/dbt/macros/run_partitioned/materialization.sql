{#- materialized='run_partitioned': a table LIST-partitioned by run_id, one partition per
    run, built run by run (docs/architecture/incremental.md).

    Per invocation the model (re)builds only the runs whose version changed (macro
    qc_run_plan) and drops the runs its parents no longer have. In ONE transaction:

      1. create a staging parent <model>__qc_new with the model's columns (its contract
         when enforced: names, types and constraints are checked as dbt's table
         materialization does) and one partition per run to build, in schema
         <model schema>_partitions, named <model>__<md5(run, invocation)>, each with
         CHECK (run_id = ...) so that attaching it later needs no validation scan;
      2. insert the model's SQL with its run filters filled in (literal run ids: the
         parents' partitions are pruned at plan time);
      3. record the runs in the ledger and run the post-hooks (analyze_table() analyzes
         the new partitions only);
      4. swap: drop the runs' old partitions, detach the new ones from the staging parent,
         attach them to the model, drop the staging parent; commit.

    Readers see a run's old rows or its new rows, never a mix. A full refresh (flag, first
    build, a plain table left by another materialization, a code change, or a ledger
    that disagrees with the partitions) builds every run into the staging parent
    and renames it over the model, like dbt's table materialization. A change of the
    model's code version is a full refresh too (every run is rebuilt anyway, and the
    columns may have changed). Nothing to do: the lock and the plan, no DDL, no insert. -#}

{% materialization run_partitioned, adapter='postgres' %}

    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set stage_relation = this.incorporate(
        path={'identifier': this.identifier ~ '__qc_new'}, type='table') -%}
    {%- set old_relation = this.incorporate(path={'identifier': this.identifier ~ '__qc_old'},
        type=existing_relation.type if existing_relation is not none else 'table') -%}
    {%- set partition_schema = qc_partition_schema(this.schema) -%}
    {%- set grant_config = config.get('grants') -%}
    {%- set contract_enforced = config.get('contract').enforced -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}

    {#- one build of this model at a time (two invocations would both plan on the same
        ledger); the lock is released at commit. The first build of a database creates the
        ledger and the partition schema, committed apart (then takes the lock again). -#}
    {%- if not qc_lock_model(target_relation, partition_schema) -%}
        {{ adapter.commit() }}
        {% call statement('qc_ensure_ledger') -%}
            {{ qc_ensure_ledger_sql(partition_schema) }}
        {%- endcall %}
        {{ adapter.commit() }}
        {%- do qc_lock_model(target_relation, partition_schema) -%}
    {%- endif -%}

    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- set plan = qc_run_plan(
        target_relation, should_full_refresh() or existing_relation is none) -%}
    {%- set full_refresh = plan['full_refresh'] -%}
    {%- set building = plan['build'] | map(attribute='run_id') | list -%}

    {%- if not full_refresh and building | length == 0 and plan['drop'] | length == 0 -%}
        {#- nothing changed: no DDL, no insert, no ledger write -#}
        {% call statement('main') -%}
            select 'run_partitioned: no run changed' as status
        {%- endcall %}
        {{ run_hooks(post_hooks, inside_transaction=True) }}
        {{ adapter.commit() }}
        {{ run_hooks(post_hooks, inside_transaction=False) }}
        {{ return({'relations': [target_relation]}) }}
    {%- endif -%}

    {#- 1. the staging parent with the model's columns and one partition per run to build
        (not needed to drop runs only) -#}
    {%- set final_sql = qc_apply_run_filters(sql, building, plan['previous']) -%}
    {%- set partitions = {} -%}
    {%- for run_id in building -%}
        {%- do partitions.update({run_id: this.identifier[:40] ~ '__' ~ local_md5(run_id ~ '|' ~ invocation_id)[:12]}) -%}
    {%- endfor -%}
    {%- if full_refresh or building | length > 0 -%}
        {% call statement('qc_stage') -%}
            {{ qc_create_partitioned_table(stage_relation, final_sql) }}
            {%- for run_id in building %}
            create table {{ adapter.quote(partition_schema) }}.{{ adapter.quote(partitions[run_id]) }}
                partition of {{ stage_relation }} (
                    constraint {{ adapter.quote(partitions[run_id] ~ '_run') }}
                        check (run_id is not null and run_id = {{ qc_sql_literal(run_id) }})
                )
                for values in ({{ qc_sql_literal(run_id) }});
            {%- endfor %}
        {%- endcall %}
        {%- if not full_refresh and not contract_enforced
              and not qc_same_columns(stage_relation, target_relation) -%}
            {{ exceptions.raise_compiler_error(
                "run_partitioned: " ~ target_relation ~ " has other columns than the model's query;"
                ~ " rebuild it with --full-refresh (or enforce a contract)") }}
        {%- endif -%}
    {%- endif -%}

    {#- 2. the rows of the runs to build -#}
    {%- set row_counts = {} -%}
    {%- if building | length > 0 -%}
        {% call statement('main') -%}
            {{ qc_insert_sql(stage_relation, final_sql) }}
        {%- endcall %}
        {%- if building | length == 1 -%}
            {%- do row_counts.update({building[0]: load_result('main').response.rows_affected}) -%}
        {%- else -%}
            {%- for row in run_query("select run_id, count(*) from " ~ stage_relation ~ " group by run_id").rows -%}
                {%- do row_counts.update({row[0]: row[1]}) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- else -%}
        {% call statement('main') -%}
            select 'run_partitioned: {{ plan['drop'] | length }} run(s) dropped' as status
        {%- endcall %}
    {%- endif -%}

    {#- 3. the ledger (same transaction), then the hooks (analyze_table() analyzes the new
        partitions, which the ledger names) -#}
    {% call statement('qc_ledger') -%}
        {{ qc_record_build(
            target_relation, plan, partition_schema, partitions, row_counts, full_refresh
        ) }}
    {%- endcall %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}

    {#- 4. the swap -#}
    {%- if full_refresh -%}
        {%- if existing_relation is not none -%}
            {{ drop_relation_if_exists(load_cached_relation(old_relation)) }}
            {{ adapter.rename_relation(existing_relation, old_relation) }}
        {%- endif -%}
        {{ adapter.rename_relation(stage_relation, target_relation) }}
    {%- else -%}
        {% call statement('qc_swap') -%}
            {%- set replaced = [] -%}
            {%- for item in plan['build'] + plan['drop'] if item['partition_name'] is not none -%}
                {%- do replaced.append(
                    adapter.quote(item['partition_schema']) ~ '.'
                    ~ adapter.quote(item['partition_name'])) -%}
            {%- endfor %}
            {%- if replaced %}
            drop table if exists {{ replaced | join(', ') }};
            {%- endif %}
            {%- for run_id in building %}
            alter table {{ stage_relation }} detach partition {{ adapter.quote(partition_schema) }}.{{ adapter.quote(partitions[run_id]) }};
            alter table {{ target_relation }} attach partition {{ adapter.quote(partition_schema) }}.{{ adapter.quote(partitions[run_id]) }}
                for values in ({{ qc_sql_literal(run_id) }});
            {%- endfor %}
            {%- if building | length > 0 %}
            drop table {{ stage_relation }};
            {%- endif %}
        {%- endcall %}
    {%- endif -%}

    {%- set should_revoke = should_revoke(existing_relation, full_refresh_mode=full_refresh) -%}
    {%- do apply_grants(target_relation, grant_config, should_revoke=should_revoke) -%}
    {%- do persist_docs(target_relation, model) -%}

    {{ adapter.commit() }}

    {%- if full_refresh and existing_relation is not none -%}
        {{ drop_relation_if_exists(old_relation) }}
    {%- endif -%}

    {#- 5. the parent's statistics (after the commit: ANALYZE does not block readers). A
        query reads the model through its parent, and PostgreSQL estimates joins on a
        partitioned table from the parent's own statistics, even when one partition
        survives pruning: without them it assumes 200 distinct keys (a 64x overestimate
        on a 100 MB run). ANALYZE ONLY (PostgreSQL 18) samples the partitions without
        re-analyzing each; before 18, ANALYZE of the parent would re-analyze every
        partition, so the parent keeps the planner's defaults there. -#}
    {% call statement('qc_analyze_parent') -%}
        {{ qc_analyze_parent_sql(target_relation) }}
    {%- endcall %}
    {{ adapter.commit() }}

    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}


{#- ANALYZE ONLY of a partitioned model on PostgreSQL 18+ (no-op before), on its columns
    but the jsonb documents (their statistics cost as much as a build and no join or
    filter uses them), with a small statistics target. -#}
{% macro qc_analyze_parent_sql(relation) -%}
    {%- set columns = model.columns.values() | rejectattr('data_type', 'equalto', 'jsonb')
        | map(attribute='name') | list -%}
    do $qc_analyze_parent$
    begin
        if current_setting('server_version_num')::integer >= 180000 then
            -- a small sample (3,000 rows, not 30,000): the planner needs the keys' distinct
            -- counts (a fraction of the rows for unique keys) far more than fine
            -- histograms, and the sample is drawn across every partition (0.7 s at the
            -- default target, 0.03 s at 10, for stg_classifications with ten 100 MB runs)
            perform set_config('default_statistics_target', '10', true);
            execute 'analyze only {{ relation | replace("'", "''") }}{{ (" (" ~ columns | join(", ") ~ ")") if columns else "" }}';
        end if;
    end
    $qc_analyze_parent$
{%- endmacro %}


{#- Take the model's lock (for the rest of its transaction) and say whether the ledger and
    the model's partition schema exist. -#}
{% macro qc_lock_model(relation, partition_schema) -%}
    {#- a statement of dbt's transaction (run_query would run outside it) -#}
    {% call statement('qc_lock', fetch_result=True) -%}
        select
            pg_advisory_xact_lock(hashtextextended({{ qc_sql_literal('quality_compass.model:' ~ relation) }}, 0)) is null
                as locked,
            to_regclass({{ qc_sql_literal(qc_ledger_relation() | string) }}) is not null
                and to_regclass({{ qc_sql_literal(qc_build_log_relation() | string) }}) is not null
                and exists (select 1 from pg_namespace where nspname = {{ qc_sql_literal(partition_schema) }})
                as ready
    {%- endcall %}
    {{- return(load_result('qc_lock').table.columns[1].values()[0]) -}}
{%- endmacro %}


{#- A partitioned table with the model's columns: the contract's DDL when enforced (after
    dbt's column check), else the shape of the query. -#}
{% macro qc_create_partitioned_table(relation, sql) -%}
    {%- set contract_config = config.get('contract') -%}
    {%- if contract_config.enforced -%}
        {{ get_assert_columns_equivalent(sql) }}
        create table {{ relation }}
        {{ get_table_columns_and_constraints() }}
        partition by list (run_id);
    {%- else -%}
        create temporary table {{ adapter.quote(relation.identifier ~ '__shape') }} on commit drop as
            select * from ({{ sql }}) as model_subquery limit 0;
        create table {{ relation }} (like {{ adapter.quote(relation.identifier ~ '__shape') }})
        partition by list (run_id);
    {%- endif -%}
{%- endmacro %}


{% macro qc_insert_sql(relation, sql) -%}
    {%- if config.get('contract').enforced -%}
        insert into {{ relation }} ({{ adapter.dispatch('get_column_names', 'dbt')() }})
        {{ get_select_subquery(sql) }}
    {%- else -%}
        insert into {{ relation }}
        select * from ({{ sql }}) as model_subquery
    {%- endif -%}
{%- endmacro %}


{% macro qc_same_columns(left_relation, right_relation) -%}
    {%- set check -%}
        select
            array(
                select attname || ' ' || format_type(atttypid, atttypmod)
                from pg_attribute
                where attrelid = to_regclass({{ qc_sql_literal(left_relation | string) }})
                    and attnum > 0 and not attisdropped
                order by attnum
            ) = array(
                select attname || ' ' || format_type(atttypid, atttypmod)
                from pg_attribute
                where attrelid = to_regclass({{ qc_sql_literal(right_relation | string) }})
                    and attnum > 0 and not attisdropped
                order by attnum
            )
    {%- endset -%}
    {{- return(run_query(check).columns[0].values()[0]) -}}
{%- endmacro %}


{% macro qc_record_build(relation, plan, partition_schema, partitions, row_counts, full_refresh) -%}
    {%- set model_schema = qc_sql_literal(relation.schema) -%}
    {%- set model_name = qc_sql_literal(relation.identifier) -%}
    {%- set gone = plan['drop'] | map(attribute='run_id') | list -%}
    {%- set building = plan['build'] | map(attribute='run_id') | list -%}
    delete from {{ qc_ledger_relation() }}
    where model_schema = {{ model_schema }} and model_name = {{ model_name }}
    {%- if not full_refresh %}
        and run_id in ({{ qc_sql_literals(gone + building) }})
    {%- endif %};
    {%- if building %}
    insert into {{ qc_ledger_relation() }} (
        model_schema, model_name, run_id, version, code_version, load_id, parent_versions,
        partition_schema, partition_name, row_count, invocation_id
    )
    values
        {%- for item in plan['build'] %}
        ({{ model_schema }}, {{ model_name }}, {{ qc_sql_literal(item['run_id']) }},
         {{ qc_sql_literal(item['version']) }}, {{ qc_sql_literal(qc_code_version()) }},
         {{ item['load_id'] if item['load_id'] is not none else 'null' }},
         {{ qc_sql_literal(item['parent_versions']) ~ '::jsonb' if item['parent_versions'] is not none else 'null' }},
         {{ qc_sql_literal(partition_schema) }}, {{ qc_sql_literal(partitions[item['run_id']]) }},
         {{ row_counts.get(item['run_id'], 0) }}, {{ qc_sql_literal(invocation_id) }}){{ ',' if not loop.last }}
        {%- endfor %};
    {%- endif %}
    insert into {{ qc_build_log_relation() }} (
        invocation_id, model_schema, model_name, run_id, action, version, load_id, row_count, partition_name
    )
    values
        ({{ qc_sql_literal(invocation_id) }}, {{ model_schema }}, {{ model_name }}, null,
         {{ "'full_refresh'" if full_refresh else "'incremental'" }}, null, null, null, null)
        {%- for item in plan['build'] %},
        ({{ qc_sql_literal(invocation_id) }}, {{ model_schema }}, {{ model_name }}, {{ qc_sql_literal(item['run_id']) }},
         'built', {{ qc_sql_literal(item['version']) }}, {{ item['load_id'] if item['load_id'] is not none else 'null' }},
         {{ row_counts.get(item['run_id'], 0) }}, {{ qc_sql_literal(partitions[item['run_id']]) }})
        {%- endfor %}
        {%- for item in plan['drop'] %},
        ({{ qc_sql_literal(invocation_id) }}, {{ model_schema }}, {{ model_name }}, {{ qc_sql_literal(item['run_id']) }},
         'dropped', null, null, null, {{ qc_sql_literal(item['partition_name']) if item['partition_name'] is not none else 'null' }})
        {%- endfor %};
{%- endmacro %}
