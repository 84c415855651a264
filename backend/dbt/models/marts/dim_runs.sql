-- dim_runs
-- Grain:  one row per loaded run (run_id).
-- Source: stg_runs (the loader's registry of runs).
-- Rule:   the runs a consumer can pick from, with the graph each belongs to and when its
--         signals count as detected (the run manifest's started_at, else the load time).
--         The newest run is the one with the latest detected_at (then run_id); `qc report`
--         reports it by default.

with

runs as (

    select
        run_id,
        graph_name,
        taxonomy_hash,
        file_count,
        byte_count,
        reject_count,
        started_at,
        loaded_at,
        detected_at
    from {{ ref('stg_runs') }}

),

final as (

    select
        -- ids
        run_id,

        -- attributes
        graph_name,
        taxonomy_hash,

        -- measures
        file_count,
        byte_count,
        reject_count,

        -- timestamps
        started_at,
        loaded_at,
        detected_at

    from runs

)

select * from final
