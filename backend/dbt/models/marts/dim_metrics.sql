-- dim_metrics
-- Grain:  one row per metric (metric_id), current state across every loaded run: every
--         metric of the runs' taxonomies plus any metric a graph node or classification
--         uses that no taxonomy lists.
-- Source: stg_taxonomy_metrics (metadata_bundle metrics per run), int_nodes,
--         stg_classifications, stg_runs (detected_at).
-- Rule:   metric_sk = surrogate_key(metric_id), the same in every run. The taxonomy drifts
--         between runs, so a metric's attributes come from the latest run whose taxonomy has
--         it (latest detected_at, then run_id). direction_preference is the taxonomy polarity
--         (lower_is_better, higher_is_better, neutral; unknown without one). For metrics the
--         taxonomy lacks: domain by the name heuristic of classify_metric_domain, the display
--         name spelled out from the camelCase id, and var default_metric_display_format.

with

taxonomy_metrics as (

    select
        run_id,
        metric_id,
        metric_display_name,
        metric_description,
        domain,
        polarity,
        unit_type,
        display_format,
        null_fill_value,
        taxonomy_hash
    from {{ ref('stg_taxonomy_metrics') }}

),

runs as (

    select
        run_id,
        detected_at
    from {{ ref('stg_runs') }}

),

used_metrics as (

    select distinct metric_id
    from {{ ref('int_nodes') }}
    where metric_id is not null

    union

    select distinct metric_id
    from {{ ref('stg_classifications') }}
    where metric_id is not null

),

latest_taxonomy as (

    select
        taxonomy_metrics.*,
        row_number() over (
            partition by taxonomy_metrics.metric_id
            order by runs.detected_at desc nulls last, taxonomy_metrics.run_id desc
        ) as recency,
        count(*) over (partition by taxonomy_metrics.metric_id) as taxonomy_run_count
    from taxonomy_metrics
    left join runs
        on taxonomy_metrics.run_id = runs.run_id

),

all_metrics as (

    select metric_id from latest_taxonomy
    union
    select metric_id from used_metrics

),

final as (

    select
        -- ids
        {{ surrogate_key(['all_metrics.metric_id']) }} as metric_sk,
        all_metrics.metric_id,

        -- attributes
        coalesce(
            nullif(trim(latest_taxonomy.metric_display_name), ''),
            initcap(regexp_replace(all_metrics.metric_id, '([a-z0-9])([A-Z])', '\1 \2', 'g'))
        ) as metric_name,
        latest_taxonomy.metric_description as description,
        {{ classify_metric_domain('all_metrics.metric_id', 'latest_taxonomy.domain') }} as domain,
        latest_taxonomy.polarity,
        case
            when latest_taxonomy.polarity in ('lower_is_better', 'higher_is_better', 'neutral')
                then latest_taxonomy.polarity
            else 'unknown'
        end as direction_preference,
        latest_taxonomy.unit_type,
        coalesce(
            nullif(trim(latest_taxonomy.display_format), ''),
            '{{ var("default_metric_display_format") }}'
        ) as display_format,
        latest_taxonomy.null_fill_value,

        -- provenance
        latest_taxonomy.run_id as taxonomy_run_id,
        latest_taxonomy.taxonomy_hash,
        coalesce(latest_taxonomy.taxonomy_run_count, 0)::integer as taxonomy_run_count,

        -- flags
        latest_taxonomy.metric_id is not null as is_in_taxonomy,
        used_metrics.metric_id is not null as is_used

    from all_metrics
    left join latest_taxonomy
        on all_metrics.metric_id = latest_taxonomy.metric_id
        and latest_taxonomy.recency = 1
    left join used_metrics
        on all_metrics.metric_id = used_metrics.metric_id

)

select * from final
