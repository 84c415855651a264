-- dim_facilities
-- Grain:  one row per facility (facility_id), current state across every loaded run.
-- Source: int_facility_runs (the facilities of each run's node results, classifications and
--         contribution parents: a small per-run aggregate), stg_runs (detected_at), seed
--         ref_facilities (facility master data).
-- Rule:   facts are keyed by run, the dimension is not: facility_sk =
--         surrogate_key(facility_id) is the same in every run, so a fact of any run joins to
--         it. Attributes the runs report (system name, facility name) come from the newest
--         run that has the facility (latest detected_at, then run_id); nodes of one run
--         disagree on systemName, so int_facility_runs already picked the run's most reported
--         value. Master data (name, type, health system, region, state, bed count) joins from
--         ref_facilities where the facility is listed (left join: synthetic facilities have
--         none). first/last_seen_run_id (and their detected_at) are the first and the newest
--         run that has the facility. Rebuilt whole on every build: it reads one row per
--         facility per run, never the runs' facts.

with

sightings as (

    select
        run_id,
        facility_id,
        facility_name,
        system_name,
        classification_count
    from {{ ref('int_facility_runs') }}

),

runs as (

    select
        run_id,
        detected_at
    from {{ ref('stg_runs') }}

),

master_data as (

    select
        facility_id,
        facility_name,
        facility_type,
        health_system,
        region,
        state,
        bed_count
    from {{ ref('ref_facilities') }}

),

sightings_ordered as (

    select
        sightings.*,
        runs.detected_at,
        row_number() over (
            partition by sightings.facility_id
            order by runs.detected_at desc nulls last, sightings.run_id desc
        ) as recency
    from sightings
    left join runs
        on sightings.run_id = runs.run_id

),

facilities as (

    select
        facility_id,
        count(*) as run_count,
        min(detected_at) as first_seen_at,
        max(detected_at) as last_seen_at,
        (array_agg(run_id order by detected_at nulls first, run_id))[1] as first_seen_run_id,
        (array_agg(run_id order by detected_at desc nulls last, run_id desc))[1] as last_seen_run_id
    from sightings_ordered
    group by facility_id

),

latest as (

    select
        facility_id,
        facility_name,
        system_name,
        classification_count
    from sightings_ordered
    where recency = 1

),

final as (

    select
        -- ids
        {{ surrogate_key(['facilities.facility_id']) }} as facility_sk,
        facilities.facility_id,

        -- attributes (master data where listed, else what the latest run reports)
        coalesce(master_data.facility_name, latest.facility_name, facilities.facility_id)
            as facility_name,
        latest.facility_name as reported_facility_name,
        latest.system_name,
        master_data.health_system,
        master_data.facility_type,
        master_data.region,
        master_data.state,
        master_data.bed_count,

        -- runs (first_run_id / last_run_id: the names of the first release)
        facilities.first_seen_run_id as first_run_id,
        facilities.last_seen_run_id as last_run_id,
        facilities.first_seen_run_id,
        facilities.last_seen_run_id,
        facilities.run_count::integer as run_count,
        coalesce(latest.classification_count, 0)::integer as latest_classification_count,

        -- flags
        master_data.facility_id is not null as has_master_data,

        -- timestamps
        facilities.first_seen_at,
        facilities.last_seen_at

    from facilities
    inner join latest
        on facilities.facility_id = latest.facility_id
    left join master_data
        on facilities.facility_id = master_data.facility_id

)

select * from final
