-- Unit test of macro compute_group_value: the entity's values beyond the facility joined
-- with ' / ' (node order when dimension ids are given, else by dimension id);
-- 'Facility-wide' for facility-only entities. Returns the failing cases.

{{ config(tags=['unit']) }}

with

cases (entity_dimensions, dimension_ids, expected_ordered, expected_by_key) as (

    values
        ('{}'::jsonb, array['medicareId'], 'Facility-wide', 'Facility-wide'),
        (null::jsonb, array['medicareId'], 'Facility-wide', 'Facility-wide'),
        ('{"medicareId": "AFP658"}'::jsonb, array['medicareId'], 'Facility-wide', 'Facility-wide'),
        ('{"vizientServiceLine": "Cardiology"}'::jsonb, array['medicareId', 'vizientServiceLine'],
            'Cardiology', 'Cardiology'),
        ('{"vizientServiceLine": "Cardiology", "dischargeStatus": "Home"}'::jsonb,
            array['medicareId', 'vizientServiceLine', 'dischargeStatus'],
            'Cardiology / Home', 'Home / Cardiology'),
        ('{"vizientServiceLine": "Unassigned – Inpatient"}'::jsonb,
            array['medicareId', 'vizientServiceLine'],
            'Unassigned – Inpatient', 'Unassigned – Inpatient')

),

results as (

    select
        *,
        {{ compute_group_value('entity_dimensions', 'dimension_ids') }} as group_value_ordered,
        {{ compute_group_value('entity_dimensions') }} as group_value_by_key
    from cases

)

select * from results
where group_value_ordered is distinct from expected_ordered
    or group_value_by_key is distinct from expected_by_key
