-- int_metric_runs
-- Grain:  one row per metric per run (run_id, metric_id): every metric of the run's taxonomy
--         (metadata_bundle) and every metric its graph nodes or classifications use.
-- Source: stg_taxonomy_metrics, int_nodes, stg_classifications.
-- Rule:   the taxonomy is a per-run snapshot, so its attributes stay with the run; a metric
--         the run uses without a taxonomy entry has null attributes and is_in_taxonomy
--         false. A small per-run aggregate: dim_metrics reads it instead of rescanning the
--         classifications of every run.

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
    where {{ run_filter('run_id') }}

),

node_metrics as (

    select
        run_id,
        metric_id,
        count(*) as node_count
    from {{ ref('int_nodes') }}
    where metric_id is not null
        and {{ run_filter('run_id') }}
    group by run_id, metric_id

),

classification_metrics as (

    select
        run_id,
        metric_id,
        count(*) as classification_count
    from {{ ref('stg_classifications') }}
    where metric_id is not null
        and {{ run_filter('run_id') }}
    group by run_id, metric_id

),

metrics as (

    select
        run_id,
        metric_id
    from taxonomy_metrics
    union
    select
        run_id,
        metric_id
    from node_metrics
    union
    select
        run_id,
        metric_id
    from classification_metrics

),

final as (

    select
        -- ids
        {{ surrogate_key(['metrics.run_id', 'metrics.metric_id']) }} as metric_run_key,
        metrics.run_id,
        metrics.metric_id,

        -- taxonomy attributes (null without a taxonomy entry)
        taxonomy_metrics.metric_display_name,
        taxonomy_metrics.metric_description,
        taxonomy_metrics.domain,
        taxonomy_metrics.polarity,
        taxonomy_metrics.unit_type,
        taxonomy_metrics.display_format,
        taxonomy_metrics.null_fill_value,
        taxonomy_metrics.taxonomy_hash,

        -- measures
        coalesce(node_metrics.node_count, 0)::integer as node_count,
        coalesce(classification_metrics.classification_count, 0)::integer as classification_count,

        -- flags
        taxonomy_metrics.metric_id is not null as is_in_taxonomy,
        (
            node_metrics.metric_id is not null or classification_metrics.metric_id is not null
        ) as is_used

    from metrics
    left join taxonomy_metrics
        on metrics.run_id = taxonomy_metrics.run_id
        and metrics.metric_id = taxonomy_metrics.metric_id
    left join node_metrics
        on metrics.run_id = node_metrics.run_id
        and metrics.metric_id = node_metrics.metric_id
    left join classification_metrics
        on metrics.run_id = classification_metrics.run_id
        and metrics.metric_id = classification_metrics.metric_id

)

select * from final
