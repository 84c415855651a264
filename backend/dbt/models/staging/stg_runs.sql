-- stg_runs
-- Grain:  one row per loaded run (run_id).
-- Source: raw.raw_runs, the loader's registry of runs (one row per run, rewritten by each
--         reload).
-- Rule:   started_at is run_manifest.json's started_at, which the loader parses leniently
--         (offsets, 'Z', the malformed '+00:00Z'); null when absent. detected_at, the time
--         signals of the run count as detected, is started_at, else the load time.
--         A view: one row per run, always the registry's current state (the run-partitioned
--         models take their runs from the same registry).

{{ config(materialized='view') }}

with

runs as (

    select * from {{ source('raw', 'raw_runs') }}

),

final as (

    select
        -- ids
        run_id,
        load_id,

        -- attributes
        graph_name,
        taxonomy_hash,
        run_path,

        -- measures
        files as file_count,
        bytes as byte_count,
        rejects as reject_count,
        (rows_by_table ->> 'raw_node_results')::bigint as node_row_count,
        (rows_by_table ->> 'raw_entity_results')::bigint as entity_row_count,
        (rows_by_table ->> 'raw_contributions')::bigint as contribution_row_count,
        (rows_by_table ->> 'raw_classifications')::bigint as classification_row_count,
        (rows_by_table ->> 'raw_run_documents')::bigint as document_row_count,

        -- timestamps
        run_started_at as started_at,
        loaded_at,
        coalesce(run_started_at, loaded_at) as detected_at

    from runs

)

select * from final
