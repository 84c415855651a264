-- Upstream math check (format spec 9.3 #16), severity warn.
-- Rule: for the unsuppressed trending z-score methods, latest_* is the last element of the
-- per-period z array and mean_* the mean of its non-null elements (gaps are nulls). The
-- summaries are recomputed from the entity's own per-period z values, which are stored
-- values too (the per-period z-scores themselves are not recomputed from the peers'
-- timelines). A method whose per-period z-scores are missing or not an array cannot be
-- checked: it is reported (not skipped).

{{ config(severity='warn', tags=['upstream_math']) }}

with

methods as (

    select
        statistical_method_id,
        run_id,
        canonical_node_id,
        statistical_method_short_name,
        case statistical_method_short_name
            when 'simple_zscore' then latest_simple_zscore
            else latest_robust_zscore
        end as latest_zscore,
        case statistical_method_short_name
            when 'simple_zscore' then mean_simple_zscore
            else mean_robust_zscore
        end as mean_zscore,
        case statistical_method_short_name
            when 'simple_zscore' then per_period_simple_zscores
            else per_period_robust_zscores
        end as per_period_zscores
    from {{ scoped_to_tested_runs(ref('stg_statistical_methods')) }} as stg_statistical_methods
    where is_trending
        and not is_suppressed
        and statistical_method_short_name in ('simple_zscore', 'robust_zscore')

),

recomputed as (

    select
        methods.*,
        jsonb_typeof(methods.per_period_zscores) = 'array' as is_array,
        case
            when jsonb_typeof(methods.per_period_zscores -> -1) = 'number'
                then (methods.per_period_zscores ->> -1)::double precision
        end as last_element,
        elements.mean_of_elements,
        elements.non_number_count
    from methods
    cross join lateral (
        select
            avg((element.value #>> '{}')::double precision)
                filter (where jsonb_typeof(element.value) = 'number') as mean_of_elements,
            count(*) filter (
                where jsonb_typeof(element.value) not in ('number', 'null')
            ) as non_number_count
        from jsonb_array_elements(
            case
                when jsonb_typeof(methods.per_period_zscores) = 'array'
                    then methods.per_period_zscores
            end
        ) as element (value)
    ) as elements

),

violations as (

    select
        *,
        case
            when is_array is not true
                then 'per-period z-scores are '
                    || coalesce(jsonb_typeof(per_period_zscores), 'missing')
                    || ', not an array: the summaries cannot be checked'
            when non_number_count > 0
                then 'per-period z-scores hold ' || non_number_count
                    || ' value(s) that are not numbers'
            when (latest_zscore is null) <> (last_element is null)
                or abs(latest_zscore - last_element)
                > {{ var('upstream_math_tolerance') }} * greatest(1, abs(last_element))
                then 'latest z differs from the last per-period z'
            when (mean_zscore is null) <> (mean_of_elements is null)
                or abs(mean_zscore - mean_of_elements)
                > {{ var('upstream_math_tolerance') }} * greatest(1, abs(mean_of_elements))
                then 'mean z differs from the mean of the per-period z'
        end as failure_reason
    from recomputed

)

select * from violations
where failure_reason is not null
