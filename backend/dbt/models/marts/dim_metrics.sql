-- dim_metrics
-- Grain:  one row per metric (metric_id), current state across every loaded run: every
--         metric of the runs' taxonomies plus any metric a graph node or classification
--         uses that no taxonomy lists.
-- Source: int_metric_runs (one row per metric per run: the run's taxonomy entry and
--         whether its nodes or classifications use the metric), stg_runs (detected_at).
-- Rule:   metric_sk = surrogate_key(metric_id), the same in every run. The taxonomy drifts
--         between runs, so a metric's attributes come from the newest run whose taxonomy has
--         it (latest detected_at, then run_id). direction_preference is the taxonomy polarity
--         (lower_is_better, higher_is_better, neutral; unknown without one). For metrics the
--         taxonomy lacks: domain by the name heuristic of classify_metric_domain, the display
--         name spelled out from the camelCase id, and var default_metric_display_format.
--         first/last_seen_run_id: the first and the newest run that has the metric (in its
--         taxonomy, nodes or classifications). Rebuilt whole on every build from the small
--         per-run aggregate, never from the runs' facts.

with

metric_runs as (

    select
        metric_runs.*,
        runs.detected_at
    from {{ ref('int_metric_runs') }} as metric_runs
    left join {{ ref('stg_runs') }} as runs
        on metric_runs.run_id = runs.run_id

),

latest_taxonomy as (

    select
        metric_id,
        metric_display_name,
        metric_description,
        domain,
        polarity,
        unit_type,
        display_format,
        null_fill_value,
        taxonomy_hash,
        run_id,
        row_number() over (
            partition by metric_id
            order by detected_at desc nulls last, run_id desc
        ) as recency,
        count(*) over (partition by metric_id) as taxonomy_run_count
    from metric_runs
    where is_in_taxonomy

),

all_metrics as (

    select
        metric_id,
        bool_or(is_used) as is_used,
        (array_agg(run_id order by detected_at nulls first, run_id))[1] as first_seen_run_id,
        (array_agg(run_id order by detected_at desc nulls last, run_id desc))[1] as last_seen_run_id
    from metric_runs
    group by metric_id

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
        all_metrics.first_seen_run_id,
        all_metrics.last_seen_run_id,

        -- flags
        latest_taxonomy.metric_id is not null as is_in_taxonomy,
        all_metrics.is_used

    from all_metrics
    left join latest_taxonomy
        on all_metrics.metric_id = latest_taxonomy.metric_id
        and latest_taxonomy.recency = 1

)

select * from final
