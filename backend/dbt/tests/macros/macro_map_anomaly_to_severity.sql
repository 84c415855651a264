-- Unit test of macro map_anomaly_to_severity: 9 tiers -> Critical / High / Moderate /
-- Watch / null, legacy high/low -> Moderate, case-insensitive. Returns the failing cases.

{{ config(tags=['unit']) }}

with

cases (anomaly_label, expected_severity) as (

    values
        ('extremely_low', 'Critical'),
        ('extremely_high', 'Critical'),
        ('very_low', 'High'),
        ('very_high', 'High'),
        ('moderately_low', 'Moderate'),
        ('moderately_high', 'Moderate'),
        ('low', 'Moderate'),
        ('high', 'Moderate'),
        ('slightly_low', 'Watch'),
        ('slightly_high', 'Watch'),
        ('normal', null),
        ('no_score', null),
        (' VERY_HIGH ', 'High'),
        ('unknown_label', null),
        (null, null)

)

select *
from cases
where {{ map_anomaly_to_severity('anomaly_label') }} is distinct from expected_severity
