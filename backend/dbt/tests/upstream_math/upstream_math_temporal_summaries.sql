-- Upstream math check (format spec 9.3 #16), severity warn.
-- Rule: for the trending z-score methods, latest_* is the last element of the per-period
-- z array and mean_* the mean of its non-null elements (gaps are nulls).

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
        (methods.per_period_zscores ->> -1)::double precision as last_element,
        (
            select avg(element.value::double precision)
            from jsonb_array_elements_text(methods.per_period_zscores) as element (value)
            where element.value is not null
        ) as mean_of_elements
    from methods
    where jsonb_typeof(methods.per_period_zscores) = 'array'

)

select
    *,
    case
        when (latest_zscore is null) <> (last_element is null)
            or abs(latest_zscore - last_element)
            > {{ var('upstream_math_tolerance') }} * greatest(1, abs(last_element))
            then 'latest z differs from the last per-period z'
        else 'mean z differs from the mean of the per-period z'
    end as failure_reason
from recomputed
where (latest_zscore is null) <> (last_element is null)
    or abs(latest_zscore - last_element)
    > {{ var('upstream_math_tolerance') }} * greatest(1, abs(last_element))
    or (mean_zscore is null) <> (mean_of_elements is null)
    or abs(mean_zscore - mean_of_elements)
    > {{ var('upstream_math_tolerance') }} * greatest(1, abs(mean_of_elements))
