-- Unit test of macros anomaly_tier / expected_anomaly_label: upper-inclusive tiers, z-score
-- bounds for z statistics and percentile bounds for slope_percentile. Returns the failing
-- cases.

{{ config(tags=['unit']) }}

with

cases (statistic_value, applies_to, expected_label) as (

    values
        (-3.0000001::double precision, 'simple_zscore', 'extremely_low'),
        (-3.0, 'simple_zscore', 'extremely_low'),
        (-2.9999999, 'simple_zscore', 'very_low'),
        (-0.5, 'mean_robust_zscore', 'slightly_low'),
        (0.0, 'latest_simple_zscore', 'normal'),
        (0.5, 'robust_zscore', 'normal'),
        (0.5000001, 'robust_zscore', 'slightly_high'),
        (3.0, 'simple_zscore', 'very_high'),
        (42.0, 'simple_zscore', 'extremely_high'),
        (5.0, 'slope_percentile', 'extremely_low'),
        (40.0, 'slope_percentile', 'slightly_low'),
        (40.0001, 'slope_percentile', 'normal'),
        (95.0, 'slope_percentile', 'very_high'),
        (100.0, 'slope_percentile', 'extremely_high'),
        (null, 'slope_percentile', null)

)

select *
from cases
where {{ expected_anomaly_label('statistic_value', 'applies_to') }} is distinct from expected_label
