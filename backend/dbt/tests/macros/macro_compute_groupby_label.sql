-- Unit test of macro compute_groupby_label: taxonomy display names in node order, the
-- facility skipped, configured prefixes ("Vizient ") stripped, camelCase spelled out when
-- the taxonomy has no name, 'Facility-wide' when nothing is left. Returns the failing cases.

{{ config(tags=['unit']) }}

with

labels as (

    select
        '{"medicareId": "Medicare ID", "vizientServiceLine": "Vizient Service Line",
          "dischargeStatus": "Discharge Status",
          "vizientSubServiceLine": "Vizient Sub-Service Line"}'::jsonb
            as dimension_labels

),

cases (dimension_ids, expected_label) as (

    values
        (array['medicareId'], 'Facility-wide'),
        (array['medicareId', 'systemName'], 'Facility-wide'),
        (array[]::text[], 'Facility-wide'),
        (array['medicareId', 'vizientServiceLine'], 'Service Line'),
        (array['medicareId', 'vizientServiceLine', 'dischargeStatus'],
            'Service Line / Discharge Status'),
        (array['medicareId', 'dischargeStatus', 'vizientServiceLine'],
            'Discharge Status / Service Line'),
        (array['medicareId', 'vizientSubServiceLine'], 'Sub-Service Line'),
        (array['medicareId', 'payerSegment'], 'Payer Segment')

),

results as (

    select
        cases.*,
        {{ compute_groupby_label('cases.dimension_ids', 'labels.dimension_labels') }}
            as groupby_label
    from cases
    cross join labels

)

select * from results
where groupby_label is distinct from expected_label
