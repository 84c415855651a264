-- int_facility_runs
-- Grain:  one row per facility per run (run_id, facility_id): every facility seen in the
--         run's node results, classifications or contribution records (as the parent).
-- Source: stg_entity_results, stg_classifications, stg_contributions.
-- Rule:   facility attributes are not taken from a single node: nodes of one run disagree on
--         metadata.systemName for the same medicareId (format spec 8). system_name is the
--         value most entity rows of the run report (ties: alphabetical first) and
--         facility_name likewise from metadata.facility (consistent in practice).

with

entities as (

    select
        run_id,
        facility_id,
        canonical_node_id,
        system_name,
        facility_name
    from {{ ref('stg_entity_results') }}
    where facility_id is not null
        and {{ run_filter('run_id') }}

),

classifications as (

    select
        run_id,
        facility_id
    from {{ ref('stg_classifications') }}
    where facility_id is not null
        and {{ run_filter('run_id') }}

),

contributions as (

    select
        run_id,
        facility_id
    from {{ ref('stg_contributions') }}
    where facility_id is not null
        and {{ run_filter('run_id') }}

),

system_names as (

    select
        run_id,
        facility_id,
        system_name,
        row_number() over (
            partition by run_id, facility_id
            order by count(*) desc, system_name
        ) as preference
    from entities
    where system_name is not null
    group by run_id, facility_id, system_name

),

facility_names as (

    select
        run_id,
        facility_id,
        facility_name,
        row_number() over (
            partition by run_id, facility_id
            order by count(*) desc, facility_name
        ) as preference
    from entities
    where facility_name is not null
    group by run_id, facility_id, facility_name

),

entity_counts as (

    select
        run_id,
        facility_id,
        count(*) as entity_row_count,
        count(distinct canonical_node_id) as node_count,
        count(distinct system_name) as system_name_variant_count
    from entities
    group by run_id, facility_id

),

classification_counts as (

    select
        run_id,
        facility_id,
        count(*) as classification_count
    from classifications
    group by run_id, facility_id

),

contribution_counts as (

    select
        run_id,
        facility_id,
        count(*) as contribution_count
    from contributions
    group by run_id, facility_id

),

facilities as (

    select
        run_id,
        facility_id
    from entity_counts
    union
    select
        run_id,
        facility_id
    from classification_counts
    union
    select
        run_id,
        facility_id
    from contribution_counts

),

final as (

    select
        -- ids
        {{ surrogate_key(['facilities.run_id', 'facilities.facility_id']) }} as facility_run_key,
        facilities.run_id,
        facilities.facility_id,

        -- attributes
        facility_names.facility_name,
        system_names.system_name,

        -- measures
        coalesce(entity_counts.entity_row_count, 0)::integer as entity_row_count,
        coalesce(entity_counts.node_count, 0)::integer as node_count,
        coalesce(entity_counts.system_name_variant_count, 0)::integer as system_name_variant_count,
        coalesce(classification_counts.classification_count, 0)::integer as classification_count,
        coalesce(contribution_counts.contribution_count, 0)::integer as contribution_count

    from facilities
    left join entity_counts
        on facilities.run_id = entity_counts.run_id
        and facilities.facility_id = entity_counts.facility_id
    left join classification_counts
        on facilities.run_id = classification_counts.run_id
        and facilities.facility_id = classification_counts.facility_id
    left join contribution_counts
        on facilities.run_id = contribution_counts.run_id
        and facilities.facility_id = contribution_counts.facility_id
    left join system_names
        on facilities.run_id = system_names.run_id
        and facilities.facility_id = system_names.facility_id
        and system_names.preference = 1
    left join facility_names
        on facilities.run_id = facility_names.run_id
        and facilities.facility_id = facility_names.facility_id
        and facility_names.preference = 1

)

select * from final
