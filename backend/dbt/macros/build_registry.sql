{#- Builds and the loader take turns (docs/architecture/loader.md, "Loads, drops and
    builds"): a build sees one set of runs from its start to its end.

    dbt closes its connection after every node, so no lock of the build can last the
    build. Instead on-run-start registers the build in public.qc_builds while holding the
    build gate shared (pg_advisory_xact_lock_shared(var qc_build_gate_key)), and on-run-end
    removes the row. A load's swap, `qc runs drop` and `--keep-runs` hold the gate
    exclusively and wait while a registered build is alive (load/build_gate.py): a build
    never registers half-way through a change of the runs, and a change never lands during
    a registered build. The table is created here too (under the loader's migration lock)
    so that a build on a database the loader has not migrated yet still works.

    Each hook is one statement list that ends with its own COMMIT: dbt runs on-run-* hooks
    outside its transaction handling, and the registration must be committed before the
    first model starts. -#}
{% macro qc_register_build() -%}
    {%- if execute -%}
        select pg_advisory_xact_lock({{ var('qc_migration_lock_key') }});
        create table if not exists public.qc_builds (
            invocation_id text primary key,
            started_at timestamptz not null default now(),
            command text,
            target text,
            application_name text not null
        );
        select pg_advisory_xact_lock_shared({{ var('qc_build_gate_key') }});
        insert into public.qc_builds (invocation_id, command, target, application_name)
        values (
            '{{ invocation_id }}',
            '{{ flags.WHICH }}',
            '{{ target.name | replace("'", "''") }}',
            current_setting('application_name')
        )
        on conflict (invocation_id) do nothing;
        commit
    {%- endif -%}
{%- endmacro %}

{#- The table may be missing: on-run-start skipped (a failed TLS check before it). -#}
{% macro qc_unregister_build() -%}
    {%- if execute -%}
        do $unregister$
        begin
            if to_regclass('public.qc_builds') is not null then
                delete from public.qc_builds where invocation_id = '{{ invocation_id }}';
            end if;
        end
        $unregister$;
        commit
    {%- endif -%}
{%- endmacro %}
