-- Unit test of macro extract_feature_type: feature type and time grain of canonical node
-- ids. Returns the cases whose result differs from the expectation (none = pass).

{{ config(tags=['unit']) }}

with

cases (canonical_node_id, expected_feature_type, expected_time_grain) as (

    values
        ('losIndex__medicareId__aggregate_time_period', 'aggregate', 'aggregate_time_period'),
        ('losIndex__medicareId_vizientServiceLine__dischargeMonth', 'temporal', 'dischargeMonth'),
        ('losIndex__medicareId_dischargeStatus__dischargeQuarter', 'temporal', 'dischargeQuarter'),
        ('losIndex__medicareId', null, null),
        ('losIndex', null, null),
        (null, null, null)

),

results as (

    select
        *,
        {{ extract_feature_type('canonical_node_id', 'feature_type') }} as feature_type,
        {{ extract_feature_type('canonical_node_id', 'time_grain') }} as time_grain
    from cases

)

select * from results
where feature_type is distinct from expected_feature_type
    or time_grain is distinct from expected_time_grain
