-- Upstream math check (format spec 9.6 #34), severity warn.
-- Rule: a classification's severity lies within its severity_range
-- (severity_range_min <= severity <= severity_range_max), and the range is the same for all
-- classifications of one signal type within a run.
-- Stored values only: severity and its range are both the run's own stored values, compared
-- with each other; the classifier's severity rule is not public, so nothing is recomputed.

{{ config(severity='warn', tags=['upstream_math']) }}

with

classifications as (

    select
        classification_id,
        run_id,
        canonical_node_id,
        signal_type,
        severity,
        severity_range_min,
        severity_range_max
    from {{ scoped_to_tested_runs(ref('stg_classifications')) }} as stg_classifications

),

ranges_per_type as (

    select
        run_id,
        signal_type,
        count(distinct row(severity_range_min, severity_range_max)) as ranges_of_type
    from classifications
    group by run_id, signal_type

),

ranges as (

    select
        classifications.*,
        ranges_per_type.ranges_of_type
    from classifications
    inner join ranges_per_type
        on classifications.run_id = ranges_per_type.run_id
        and classifications.signal_type = ranges_per_type.signal_type

)

select
    *,
    case
        when severity < severity_range_min or severity > severity_range_max
            then 'severity ' || severity || ' outside its range ['
                || severity_range_min || ', ' || severity_range_max || ']'
        else 'signal type ' || signal_type || ' has ' || ranges_of_type
            || ' different severity ranges in the run'
    end as failure_reason
from ranges
where severity < severity_range_min
    or severity > severity_range_max
    or ranges_of_type > 1
