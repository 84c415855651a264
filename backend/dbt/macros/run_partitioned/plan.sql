{#- What a run-partitioned model must do in this invocation (docs/architecture/incremental.md).

    Every run of the model has a version: the md5 of the model's code version and of the
    versions of that run in its parents.
      - A model whose parents include run-partitioned models takes its runs and their
        versions from its parents' ledger rows (a parent that lacks the run counts as
        '-'); the run's load_id is the parents' common load_id (null when they differ).
      - A model without such parents (staging) takes them from the loader's registry
        raw_runs: version = load_id (a reload gets a new one; a drop deletes the row).
      - A chained model (meta qc_run_dependency: previous_run) also depends on the
        previous run of its graph (macro run_chain over raw_runs): its version includes
        the previous run's id and version, so a change anywhere in a graph's chain
        rebuilds that run and every later one, and appending a run builds that run only.
    The code version is the md5 of the model's SQL (raw code) and of its contract columns,
    so editing a model rebuilds all its runs and, through the versions, its children.
    A run is built when every parent has it and its version differs from the ledger's
    (or the ledger lacks it), dropped when no parent has it any more; a run only some
    parents have (a selection that built part of the layers) is left as it is, never
    built from incomplete inputs. -#}

{% macro qc_partitioned_parents() -%}
    {%- set parents = [] -%}
    {%- for node_id in model.depends_on.nodes -%}
        {%- set node = graph.nodes.get(node_id) -%}
        {%- if node is not none and node.config.materialized == 'run_partitioned' -%}
            {%- do parents.append({
                'schema': node.schema,
                'name': node.alias or node.name,
                'key': node.schema ~ '.' ~ (node.alias or node.name),
            }) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(parents | sort(attribute='key')) -}}
{%- endmacro %}


{% macro qc_run_registry() -%}
    {%- for source_node in graph.sources.values() -%}
        {%- if source_node.source_name == 'raw' and source_node.name == 'raw_runs' -%}
            {{- return(api.Relation.create(database=source_node.database, schema=source_node.schema,
                identifier=source_node.identifier, type='table')) -}}
        {%- endif -%}
    {%- endfor -%}
    {{- exceptions.raise_compiler_error("run_partitioned: source raw.raw_runs is not declared") -}}
{%- endmacro %}


{% macro qc_code_version() -%}
    {%- set signature = [] -%}
    {%- for column in model.columns.values() -%}
        {%- do signature.append(column.name ~ ':' ~ (column.data_type or '')) -%}
    {%- endfor -%}
    {{- return(local_md5('run_partitioned v1|' ~ model.raw_code ~ '|' ~ signature | join(','))) -}}
{%- endmacro %}


{% macro qc_is_chained() -%}
    {{- return((config.get('meta') or {}).get('qc_run_dependency') == 'previous_run') -}}
{%- endmacro %}


{#- Candidate runs with their versions: select run_id, version, load_id, parent_versions. -#}
{% macro qc_candidate_runs_sql(parents, code_version) -%}
    {%- if parents | length == 0 -%}
        select
            registry.run_id,
            md5({{ qc_sql_literal(code_version) }} || '|raw=' || registry.load_id::text) as version,
            registry.load_id,
            jsonb_build_object('raw_runs', registry.load_id::text) as parent_versions,
            true as is_complete
        from {{ qc_run_registry() }} as registry
    {%- else -%}
        select
            runs.run_id,
            md5({{ qc_sql_literal(code_version) }} || '|' || string_agg(
                parents.parent || '=' || coalesce(parent_state.version, '-'), '|' order by parents.parent
            )) as version,
            case
                when count(parent_state.load_id) = {{ parents | length }}
                    and min(parent_state.load_id) = max(parent_state.load_id)
                    then min(parent_state.load_id)
            end as load_id,
            jsonb_object_agg(parents.parent, parent_state.version) as parent_versions,
            count(parent_state.run_id) = {{ parents | length }} as is_complete
        from (
            select distinct run_id
            from {{ qc_ledger_relation() }}
            where {{ qc_ledger_models_predicate(parents) }}
        ) as runs
        cross join (values
            {%- for parent in parents %}
            ({{ qc_sql_literal(parent.key) }}){{ ',' if not loop.last }}
            {%- endfor %}
        ) as parents (parent)
        left join (
            select run_id, model_schema || '.' || model_name as parent, version, load_id
            from {{ qc_ledger_relation() }}
            where {{ qc_ledger_models_predicate(parents) }}
        ) as parent_state
            on parent_state.run_id = runs.run_id
            and parent_state.parent = parents.parent
        group by runs.run_id
    {%- endif -%}
{%- endmacro %}


{% macro qc_ledger_models_predicate(parents) -%}
    (model_schema, model_name) in (
        {%- for parent in parents -%}
        ({{ qc_sql_literal(parent.schema) }}, {{ qc_sql_literal(parent.name) }})
        {{- ', ' if not loop.last }}
        {%- endfor -%}
    )
{%- endmacro %}


{#- The plan of a model: {'build': [...], 'drop': [...], 'previous': [...], 'full_refresh': bool}.
    One query (after the model's lock) returns the state of the model's table (partitioned?
    its partitions exactly the ledger's?) and every run it has or should have. The model
    is rebuilt whole (full refresh) when asked, when it is not a partitioned table whose
    partitions match the ledger, or when its code version changed (then every run is
    rebuilt anyway, and the columns may differ). Otherwise: runs whose version changed are
    built, runs no parent has any more are dropped; for a chained model, the previous runs
    of the runs built that are not rebuilt are read from the model itself. -#}
{% macro qc_run_plan(target_relation, force_full_refresh) %}
    {%- set parents = qc_partitioned_parents() -%}
    {%- set code_version = qc_code_version() -%}
    {%- set chained = qc_is_chained() -%}
    {%- set target_literal = qc_sql_literal(target_relation | string) -%}
    {%- set plan_sql -%}
        with recursive

        candidates as (
            {{ qc_candidate_runs_sql(parents, code_version) }}
        ),

        {% if chained -%}
        chain as (
            {{ run_chain("(select run_id, graph_name, coalesce(run_started_at, loaded_at) as detected_at from "
                ~ qc_run_registry() ~ ")") }}
        ),

        chained_versions (run_id, version, load_id, parent_versions, previous_run_id, run_level, graph_name) as (
            select
                chain.run_id,
                md5(coalesce(candidates.version, '-') || '|previous='),
                candidates.load_id,
                candidates.parent_versions,
                chain.previous_run_id,
                chain.run_level,
                chain.graph_name
            from chain
            left join candidates on candidates.run_id = chain.run_id
            where chain.run_level = 1

            union all

            select
                chain.run_id,
                md5(coalesce(candidates.version, '-') || '|previous=' || chain.previous_run_id
                    || '=' || chained_versions.version),
                candidates.load_id,
                candidates.parent_versions,
                chain.previous_run_id,
                chain.run_level,
                chain.graph_name
            from chained_versions
            inner join chain
                on chain.graph_name = chained_versions.graph_name
                and chain.run_level = chained_versions.run_level + 1
                and chain.previous_run_id = chained_versions.run_id
            left join candidates on candidates.run_id = chain.run_id
        ),

        wanted as (
            select run_id, version, load_id, parent_versions, previous_run_id
            from chained_versions
            -- a chained model keeps only the runs its parents have
            where run_id in (select run_id from candidates where is_complete)
        ),
        {%- else -%}
        wanted as (
            select run_id, version, load_id, parent_versions, null::text as previous_run_id
            from candidates
            where is_complete
        ),
        {%- endif %}

        built as (
            select run_id, version, code_version, partition_schema, partition_name
            from {{ qc_ledger_relation() }}
            where model_schema = {{ qc_sql_literal(target_relation.schema) }}
                and model_name = {{ qc_sql_literal(target_relation.identifier) }}
        ),

        partitions as (
            select child_namespace.nspname as partition_schema, child.relname as partition_name
            from pg_inherits as inheritance
            inner join pg_class as child on child.oid = inheritance.inhrelid
            inner join pg_namespace as child_namespace on child_namespace.oid = child.relnamespace
            where inheritance.inhparent = to_regclass({{ target_literal }})
        ),

        state as (
            select
                coalesce(
                    (select relkind::text from pg_class where oid = to_regclass({{ target_literal }})), ''
                ) as relkind,
                not exists (
                    (select partition_schema, partition_name from built
                        except select partition_schema, partition_name from partitions)
                    union all
                    (select partition_schema, partition_name from partitions
                        except select partition_schema, partition_name from built)
                ) as partitions_match,
                exists (
                    select 1 from built where code_version <> {{ qc_sql_literal(code_version) }}
                ) as code_changed
        ),

        compared as (
            select
                coalesce(wanted.run_id, built.run_id) as run_id,
                wanted.run_id is not null as is_wanted,
                built.run_id is not null as is_built,
                -- a run some parents still have is kept until all have it or none does
                coalesce(wanted.run_id, built.run_id) in (select run_id from candidates) as is_in_a_parent,
                wanted.version is distinct from built.version as is_changed,
                wanted.version,
                wanted.load_id,
                wanted.parent_versions::text as parent_versions,
                wanted.previous_run_id,
                built.partition_schema,
                built.partition_name
            from wanted
            full outer join built on built.run_id = wanted.run_id
        )

        select state.*, compared.*
        from state
        left join compared on true
        order by compared.run_id collate "C"
    {%- endset -%}
    {%- set rows = run_query(plan_sql).rows -%}
    {%- set first = rows[0] -%}
    {%- set full_refresh = force_full_refresh or first['relkind'] != 'p'
        or not first['partitions_match'] or first['code_changed'] -%}
    {%- set plan = {'build': [], 'drop': [], 'previous': [], 'full_refresh': full_refresh} -%}
    {%- set building = [] -%}
    {%- for row in rows if row['run_id'] is not none -%}
        {%- set item = {
            'run_id': row['run_id'],
            'version': row['version'],
            'load_id': row['load_id'],
            'parent_versions': row['parent_versions'],
            'previous_run_id': row['previous_run_id'],
            'partition_schema': row['partition_schema'],
            'partition_name': row['partition_name'],
        } -%}
        {%- if row['is_wanted'] and (full_refresh or row['is_changed']) -%}
            {%- do plan['build'].append(item) -%}
            {%- do building.append(row['run_id']) -%}
        {%- elif not row['is_in_a_parent'] -%}
            {%- do plan['drop'].append(item) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for item in plan['build'] -%}
        {%- if item['previous_run_id'] is not none and item['previous_run_id'] not in building
              and item['previous_run_id'] not in plan['previous'] -%}
            {%- do plan['previous'].append(item['previous_run_id']) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(plan) }}
{% endmacro %}
