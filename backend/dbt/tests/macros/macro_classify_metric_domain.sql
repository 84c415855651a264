-- Unit test of macro classify_metric_domain: the taxonomy domain wins when present; the
-- name heuristic is the fallback. Returns the failing cases.

{{ config(tags=['unit']) }}

with

cases (metric_id, taxonomy_domain, expected_domain) as (

    values
        ('losIndex', 'Efficiency', 'Efficiency'),
        ('losIndex', null, 'Efficiency'),
        ('losIndex', '  ', 'Efficiency'),
        ('pctAllReturnsToIcu', 'Safety', 'Safety'),
        ('pctAllReturnsToIcu', null, 'Safety'),
        ('readmissionRate30d', null, 'Effectiveness'),
        ('mortalityIndex', null, 'Safety'),
        ('directCostPerCase', null, 'Efficiency'),
        ('icuCasesFromIcuFile', null, 'Utilization'),
        ('losIndex', 'Utilization', 'Utilization'),
        ('patientSatisfaction', null, 'Other'),
        (null, null, null)

),

results as (

    select
        *,
        {{ classify_metric_domain('metric_id', 'taxonomy_domain') }} as domain,
        {{ classify_metric_domain('metric_id') }} as heuristic_domain
    from cases

)

select * from results
where domain is distinct from expected_domain
    or (taxonomy_domain is null and heuristic_domain is distinct from expected_domain)
