-- fct_signal_history
-- Grain:  one row per signal per run (run_id, canonical_node_id, entity_key, metric_id), plus
--         one row in run R for each signal of R's previous run that R no longer has.
-- Source: stg_classifications (the runs' signals: every unsuppressed classification, as in
--         fct_signals, whose signal_id is the classification_id), stg_runs (graph and
--         detected_at of every loaded run), and its own rows of earlier runs (the streaks).
-- Rule:   a signal's identity across runs is (graph_name, canonical_node_id, entity_key,
--         metric_id); entity_key is the md5 of the whole entity. The previous run of R is
--         the newest loaded run of the same graph whose detected_at is earlier than R's
--         (runs detected at the same moment share their previous run; among several
--         previous candidates detected at the same moment, the greatest run_id, byte order).
--         change_status: new (not in the previous run, or no previous run), type_changed
--         (signal_type differs), escalated / deescalated (same type, higher / lower
--         signal_severity), persisting (same type and severity), resolved (in the previous
--         run, not in R: the row belongs to R, its signal columns are the previous run's,
--         signal_id is null). consecutive_runs = runs in a row up to R, along the chain of
--         previous runs, with the identity (R included; 0 when resolved);
--         first_detected_run_id = the first run of that streak (of the streak that ended,
--         when resolved). severity_change = signal_severity - previous_signal_severity when
--         both runs have the signal.
--         Built run by run (materialized run_partitioned, chained to the previous run): a
--         streak continues from this model's own rows of the previous run, so appending a run
--         reads one earlier run only. Reloading, dropping or inserting an older run
--         re-derives that run and the later runs of its graph (their streaks go through it).

{{ config(
    materialized='run_partitioned',
    meta={'qc_run_dependency': 'previous_run'},
) }}

with

runs as (

    select
        run_id,
        graph_name,
        detected_at
    from {{ ref('stg_runs') }}

),

chain as (

    {{ run_chain('runs') }}

),

building_runs as (

    select
        run_id,
        graph_name,
        detected_at,
        run_level,
        is_level_representative,
        previous_run_id
    from chain
    where {{ run_filter('run_id') }}

),

-- the signals of the runs being built: as in fct_signals, every unsuppressed classification
-- (read from staging, so that no mart selects from another mart)
signals as (

    select
        classifications.run_id,
        classifications.canonical_node_id,
        classifications.entity_key,
        classifications.metric_id,
        classifications.facility_id,
        classifications.classification_id as signal_id,
        classifications.signal_type,
        classifications.severity as signal_severity
    from {{ ref('stg_classifications') }} as classifications
    where not classifications.is_suppressed
        and {{ run_filter('classifications.run_id') }}

),

-- this model's rows of the previous runs that are not rebuilt (where streaks continue)
earlier_history as (

    select
        history.run_id,
        history.canonical_node_id,
        history.entity_key,
        history.metric_id,
        history.facility_id,
        history.signal_id,
        history.signal_type,
        history.signal_severity,
        history.consecutive_runs,
        history.first_detected_run_id
    from {{ incremental_self({
        'run_id': 'text', 'canonical_node_id': 'text', 'entity_key': 'text', 'metric_id': 'text',
        'facility_id': 'text', 'signal_id': 'text', 'signal_type': 'text',
        'signal_severity': 'integer', 'change_status': 'text', 'consecutive_runs': 'integer',
        'first_detected_run_id': 'text',
    }) }} as history
    where history.change_status <> 'resolved'
        and {{ run_filter('history.run_id', 'previous') }}

),

-- the streaks along the chain: each level's representative (the run later levels follow);
-- the runs being built form, per graph, consecutive levels from the first rebuilt one
building_representatives as (

    select
        run_id,
        graph_name,
        run_level,
        min(run_level) over (partition by graph_name) as first_level,
        first_value(previous_run_id) over (
            partition by graph_name order by run_level
        ) as seed_run_id
    from building_runs
    where is_level_representative

),

representative_presence as (

    select
        signals.run_id,
        signals.canonical_node_id,
        signals.entity_key,
        signals.metric_id,
        representatives.graph_name,
        representatives.run_level,
        representatives.first_level,
        representatives.seed_run_id,
        representatives.run_level - row_number() over (
            partition by
                representatives.graph_name, signals.canonical_node_id, signals.entity_key,
                signals.metric_id
            order by representatives.run_level
        ) as island
    from signals
    inner join building_representatives as representatives
        on signals.run_id = representatives.run_id

),

representative_islands as (

    select
        representative_presence.*,
        min(run_level) over island as island_start,
        first_value(run_id) over (island order by run_level) as island_first_run_id
    from representative_presence
    window island as (partition by graph_name, canonical_node_id, entity_key, metric_id, island)

),

representative_states as (

    select
        islands.run_id,
        islands.canonical_node_id,
        islands.entity_key,
        islands.metric_id,
        case
            when islands.island_start = islands.first_level and seed.run_id is not null
                then seed.consecutive_runs + islands.run_level - islands.island_start + 1
            else islands.run_level - islands.island_start + 1
        end as consecutive_runs,
        case
            when islands.island_start = islands.first_level and seed.run_id is not null
                then seed.first_detected_run_id
            else islands.island_first_run_id
        end as first_detected_run_id
    from representative_islands as islands
    left join earlier_history as seed
        on islands.seed_run_id = seed.run_id
        and islands.canonical_node_id = seed.canonical_node_id
        and islands.entity_key = seed.entity_key
        and islands.metric_id = seed.metric_id

),

-- every run another run may follow: kept earlier runs and rebuilt representatives
previous_states as (

    select * from earlier_history

    union all

    select
        signals.run_id,
        signals.canonical_node_id,
        signals.entity_key,
        signals.metric_id,
        signals.facility_id,
        signals.signal_id,
        signals.signal_type,
        signals.signal_severity,
        states.consecutive_runs,
        states.first_detected_run_id
    from representative_states as states
    inner join signals
        on states.run_id = signals.run_id
        and states.canonical_node_id = signals.canonical_node_id
        and states.entity_key = signals.entity_key
        and states.metric_id = signals.metric_id

),

previous_signals as (

    select
        building_runs.run_id as following_run_id,
        previous_states.*
    from building_runs
    inner join previous_states
        on building_runs.previous_run_id = previous_states.run_id

),

compared as (

    select
        coalesce(current_signals.run_id, previous_signals.following_run_id) as run_id,
        coalesce(
            current_signals.canonical_node_id, previous_signals.canonical_node_id
        ) as canonical_node_id,
        coalesce(current_signals.entity_key, previous_signals.entity_key) as entity_key,
        coalesce(current_signals.metric_id, previous_signals.metric_id) as metric_id,
        coalesce(current_signals.facility_id, previous_signals.facility_id) as facility_id,
        current_signals.signal_id,
        coalesce(current_signals.signal_type, previous_signals.signal_type) as signal_type,
        coalesce(
            current_signals.signal_severity, previous_signals.signal_severity
        ) as signal_severity,
        case
            when current_signals.run_id is null then 'resolved'
            when previous_signals.run_id is null then 'new'
            when (current_signals.signal_type is distinct from previous_signals.signal_type)
                then 'type_changed'
            when current_signals.signal_severity > previous_signals.signal_severity
                then 'escalated'
            when current_signals.signal_severity < previous_signals.signal_severity
                then 'deescalated'
            else 'persisting'
        end as change_status,
        previous_signals.signal_type as previous_signal_type,
        previous_signals.signal_severity as previous_signal_severity,
        current_signals.signal_severity - previous_signals.signal_severity as severity_change,
        case
            when current_signals.run_id is null then 0
            else coalesce(previous_signals.consecutive_runs, 0) + 1
        end as consecutive_runs,
        case
            when previous_signals.run_id is not null then previous_signals.first_detected_run_id
            else current_signals.run_id
        end as first_detected_run_id
    from signals as current_signals
    full outer join previous_signals
        on current_signals.run_id = previous_signals.following_run_id
        and current_signals.canonical_node_id = previous_signals.canonical_node_id
        and current_signals.entity_key = previous_signals.entity_key
        and current_signals.metric_id = previous_signals.metric_id

),

final as (

    select
        -- ids
        compared.run_id,
        nullif(building_runs.graph_name, '') as graph_name,
        compared.canonical_node_id,
        compared.entity_key,
        compared.metric_id,
        compared.facility_id,
        compared.signal_id,

        -- the signal in this run (the previous run's, when resolved)
        compared.signal_type,
        compared.signal_severity,
        compared.change_status,

        -- the previous run
        building_runs.previous_run_id,
        compared.previous_signal_type,
        compared.previous_signal_severity,
        compared.severity_change,

        -- the streak
        compared.consecutive_runs::integer as consecutive_runs,
        compared.first_detected_run_id,

        -- timestamps
        building_runs.detected_at

    from compared
    inner join building_runs
        on compared.run_id = building_runs.run_id

)

select * from final
