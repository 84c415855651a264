{#- Data tests that do not grow with history (docs/architecture/incremental.md).

    A data test on run-partitioned models checks the runs under test:
      - in `dbt build` (default): the runs this invocation built, in any of the test's
        run-partitioned models (a build with nothing new checks nothing; a run built
        earlier was checked when it was built);
      - in `dbt test` (default): every run (the weekly review);
      - with --vars '{qc_test_scope: ...}': all, built (by this invocation), last_build
        (the runs each model's most recent build wrote: `dbt run` then `dbt test`), or a
        list of run ids.
    A test that reads several run-partitioned models (equal_rowcount across layers,
    relationships, the upstream-math checks) compares only runs whose states agree: every
    model has the run, from the same raw load, and a model that reads another directly was
    built from that model's current version of the run (ledger parent_versions). So a
    test spanning layers passes, or checks nothing, under any selection: a stale model is
    left out until it is rebuilt.
    Views over run-partitioned models (int_anomaly_checks) count as their parents.
    Tables across runs (dimensions, stg_runs) are not restricted: they are small.

    These macros run for every test of every build, so they call few other macros (a dbt
    macro call costs a fraction of a millisecond) and ask the ledger once per test: the
    result is kept on the test node (`model`) while the test compiles. -#}

{% macro qc_test_scope() -%}
    {%- set scope = var('qc_test_scope', none) -%}
    {%- if scope is none -%}
        {%- set scope = 'built' if flags.WHICH == 'build' else 'all' -%}
    {%- endif -%}
    {%- if scope is string and scope not in ['all', 'built', 'last_build'] -%}
        {{ exceptions.raise_compiler_error(
            "qc_test_scope must be all, built, last_build or a list of run ids, not " ~ scope) }}
    {%- endif -%}
    {{- return(scope) -}}
{%- endmacro %}


{#- The run-partitioned models behind a node: itself, or a view's run-partitioned parents,
    as [schema, name] pairs. -#}
{% macro qc_partitioned_models_of(node) -%}
    {%- set found = [] -%}
    {%- if node.config.materialized == 'run_partitioned' -%}
        {%- do found.append([node.schema, node.alias or node.name]) -%}
    {%- elif node.config.materialized == 'view' -%}
        {%- for parent_id in node.depends_on.nodes -%}
            {%- set parent = graph.nodes.get(parent_id) -%}
            {%- if parent is not none and parent.config.materialized == 'run_partitioned' -%}
                {%- do found.append([parent.schema, parent.alias or parent.name]) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{- return(found) -}}
{%- endmacro %}


{#- The graph node (model) of a relation the current test reads, or none. -#}
{% macro qc_test_node_of(relation) -%}
    {%- set identifier = relation.identifier | lower -%}
    {%- set schema = relation.schema | lower -%}
    {%- set attached = graph.nodes.get(model.attached_node) if model.attached_node else none -%}
    {%- if attached is not none and (attached.alias or attached.name) | lower == identifier
          and attached.schema | lower == schema -%}
        {{- return(attached) -}}
    {%- endif -%}
    {%- for node_id in model.depends_on.nodes -%}
        {%- set node = graph.nodes.get(node_id) -%}
        {%- if node is not none and (node.alias or node.name) | lower == identifier
              and node.schema | lower == schema -%}
            {{- return(node) -}}
        {%- endif -%}
    {%- endfor -%}
    {{- return(none) -}}
{%- endmacro %}


{#- The runs the current test checks: none (no restriction) or a list of run ids.
    Computed once per test (kept on the test node while it compiles). -#}
{% macro qc_tested_runs() -%}
    {%- if '_qc_tested_runs' in model -%}
        {{- return(model['_qc_tested_runs']) -}}
    {%- endif -%}
    {%- set models = {} -%}
    {%- for node_id in model.depends_on.nodes -%}
        {%- set node = graph.nodes.get(node_id) -%}
        {%- if node is not none -%}
            {%- for pair in qc_partitioned_models_of(node) -%}
                {%- do models.update({pair[0] ~ '.' ~ pair[1]: pair}) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set scope = qc_test_scope() -%}
    {%- if models | length == 0 or (scope == 'all' and models | length == 1) -%}
        {%- do model.update({'_qc_tested_runs': none}) -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set predicates = [] -%}
    {%- for key, pair in models | dictsort -%}
        {%- do predicates.append(
            "('" ~ pair[0] | replace("'", "''") ~ "', '" ~ pair[1] | replace("'", "''") ~ "')"
        ) -%}
    {%- endfor -%}
    {%- set query -%}
        with

        states as (
            select
                model_schema || '.' || model_name as model_key,
                run_id,
                load_id,
                version,
                parent_versions,
                invocation_id,
                built_at
            from {{ qc_ledger_relation() }}
            where (model_schema, model_name) in ({{ predicates | join(', ') }})
        ),

        latest_builds as (
            select distinct on (model_key) model_key, invocation_id
            from states
            order by model_key, built_at desc
        ){% if models | length > 1 %},

        {#- a model that reads another must have been built from its current version -#}
        stale as (
            select reader.run_id
            from states as reader
            inner join states as parent
                on parent.run_id = reader.run_id
                and reader.parent_versions ? parent.model_key
            where reader.parent_versions ->> parent.model_key is distinct from parent.version
        ){% endif %}

        select run_id
        from states
        group by run_id
        having
            {%- if models | length > 1 %}
            count(*) = {{ models | length }}
            and count(load_id) = {{ models | length }}
            and min(load_id) = max(load_id)
            and run_id not in (select run_id from stale)
            {%- else %}
            true
            {%- endif %}
            {%- if scope == 'built' %}
            and bool_or(invocation_id = '{{ invocation_id }}')
            {%- elif scope == 'last_build' %}
            and bool_or((model_key, invocation_id) in (select model_key, invocation_id from latest_builds))
            {%- elif scope is not string %}
            and run_id in ({{ qc_sql_literals(scope) if scope else 'null' }})
            {%- endif %}
        order by run_id collate "C"
    {%- endset -%}
    {%- set runs = run_query(query).columns[0].values() | list -%}
    {%- do model.update({'_qc_tested_runs': runs}) -%}
    {{- return(runs) -}}
{%- endmacro %}


{#- `relation` restricted to the runs under test, as a subquery (or the relation itself
    when it is not run-scoped or nothing restricts it). -#}
{% macro scoped_to_tested_runs(relation, where=none) -%}
    {%- if not execute -%}
        {{- return(relation) -}}
    {%- endif -%}
    {%- set node = qc_test_node_of(relation) -%}
    {%- set run_scoped = node is not none and (node.config.materialized == 'run_partitioned'
        or (node.config.materialized == 'view' and qc_partitioned_models_of(node) | length > 0)) -%}
    {%- set runs = qc_tested_runs() if run_scoped else none -%}
    {%- if runs is none and not where -%}
        {{- return(relation) -}}
    {%- endif -%}
    {%- set conditions = [] -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- if runs is not none -%}
        {%- do conditions.append(qc_in_runs('run_id', runs)) -%}
    {%- endif -%}
    {{- return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ')') -}}
{%- endmacro %}


{#- dbt's hook for a generic test's `where` config, extended with the runs under test. -#}
{% macro get_where_subquery(relation) -%}
    {%- set scoped = scoped_to_tested_runs(relation, where=config.get('where', '')) -%}
    {%- if scoped is string -%}
        {%- do return(scoped ~ ' dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}


{#- dbt's relationships test, with the parent restricted to the runs under test when both
    sides are run-scoped (a relationship between run-scoped models holds within a run:
    every key includes run_id). -#}
{% test relationships(model, column_name, to, field) %}

with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),

parent as (
    select {{ field }} as to_field
    from {{ scoped_to_tested_runs(to) }} as parent_rows
)

select
    from_field

from child
left join parent
    on child.from_field = parent.to_field

where parent.to_field is null

{% endtest %}


{#- True when both the tested model and `relation` are run-scoped (compare per run). -#}
{% macro qc_compares_runs(relation) -%}
    {%- if not execute or not model.attached_node -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set tested = graph.nodes.get(model.attached_node) -%}
    {%- set other = qc_test_node_of(relation) -%}
    {{- return(tested is not none and other is not none
        and qc_partitioned_models_of(tested) | length > 0
        and qc_partitioned_models_of(other) | length > 0) -}}
{%- endmacro %}
