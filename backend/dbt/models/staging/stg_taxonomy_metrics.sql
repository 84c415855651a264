-- stg_taxonomy_metrics
-- Grain:  one row per run per taxonomy metric (run_id, metric_id).
-- Source: raw.raw_run_documents, document metadata_bundle (metrics[]).
-- Rule:   the taxonomy is a per-run snapshot (it drifts between runs), so every row keeps
--         its run_id and taxonomy_hash; the bundle lists all taxonomy metrics, not only those
--         the graph uses.

with

bundles as (

    select
        run_id,
        json_data
    from {{ source('raw', 'raw_run_documents') }}
    where document_type = 'metadata_bundle'
        and {{ run_filter('run_id') }}

),

metrics as (

    select
        bundles.run_id,
        bundles.json_data ->> 'taxonomy_hash' as taxonomy_hash,
        metric.*
    from bundles
    cross join lateral jsonb_to_recordset(
        {{ jsonb_array_or_empty("bundles.json_data -> 'metrics'") }}
    ) as metric (
        metric_id text,
        display_name text,
        description text,
        domain text,
        polarity text,
        unit_type text,
        display_format text,
        null_fill_value double precision,
        null_fill_rationale text
    )

),

final as (

    select
        -- ids
        {{ surrogate_key(['run_id', 'metric_id']) }} as taxonomy_metric_key,
        run_id,
        metric_id,

        -- attributes
        display_name as metric_display_name,
        description as metric_description,
        domain,
        polarity,
        unit_type,
        display_format,
        null_fill_value,
        nullif(null_fill_rationale, '') as null_fill_rationale,
        taxonomy_hash

    from metrics
    where metric_id is not null

)

select * from final
