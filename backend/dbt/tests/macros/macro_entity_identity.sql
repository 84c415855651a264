-- Unit test of macro entity_identity: the node results' array form and the {dim: value}
-- object form give the same entity_dict / entity_key (key order and the display-only
-- systemName do not matter); facility_id and entity_dimensions are split out; an absent
-- entity is '{}'. Returns the failing cases.

{{ config(tags=['unit']) }}

with

cases (case_name, entity_array, entity_object) as (

    values
        (
            'two dimensions',
            '[{"id": "medicareId", "value": "AFP658", "dataset_field": "medicareId"},
              {"id": "vizientServiceLine", "value": "Cardiology",
               "dataset_field": "vizientServiceLine"}]'::jsonb,
            '{"vizientServiceLine": "Cardiology", "systemName": "ALPHA",
              "medicareId": "AFP658"}'::jsonb
        ),
        (
            'facility only',
            '[{"id": "medicareId", "value": "AFP658", "dataset_field": "medicareId"}]'::jsonb,
            '{"medicareId": "AFP658"}'::jsonb
        ),
        (
            'numeric value',
            '[{"id": "medicareId", "value": 10001}]'::jsonb,
            '{"medicareId": 10001}'::jsonb
        ),
        ('absent', null::jsonb, null::jsonb)

),

results as (

    select
        cases.case_name,
        from_array.entity_key as array_key,
        from_object.entity_key as object_key,
        from_array.facility_id as array_facility_id,
        from_object.facility_id as object_facility_id,
        from_array.entity_dimensions as array_dimensions,
        from_object.entity_dimensions as object_dimensions,
        from_array.entity_dict as array_dict
    from cases
    cross join lateral {{ entity_identity('cases.entity_array', 'array') }} as from_array
    cross join lateral {{ entity_identity('cases.entity_object', 'object') }} as from_object

),

expectations (case_name, expected_key, expected_facility_id, expected_dimensions) as (

    values
        ('two dimensions',
            md5('{"medicareId": "AFP658", "vizientServiceLine": "Cardiology"}'),
            'AFP658',
            '{"vizientServiceLine": "Cardiology"}'::jsonb),
        ('facility only', md5('{"medicareId": "AFP658"}'), 'AFP658', '{}'::jsonb),
        ('numeric value', md5('{"medicareId": "10001"}'), '10001', '{}'::jsonb),
        ('absent', md5('{}'), null, '{}'::jsonb)

)

select
    results.*,
    expectations.expected_key
from results
inner join expectations
    on results.case_name = expectations.case_name
where results.array_key is distinct from expectations.expected_key
    or results.object_key is distinct from expectations.expected_key
    or results.array_facility_id is distinct from expectations.expected_facility_id
    or results.object_facility_id is distinct from expectations.expected_facility_id
    or results.array_dimensions is distinct from expectations.expected_dimensions
    or results.object_dimensions is distinct from expectations.expected_dimensions
