-- Unit test of macros parse_timestamptz, period_to_date and surrogate_key: the timestamp
-- styles of format spec 2.2 (including the malformed '+00:00Z'), both period formats of
-- 2.3, and null-safe distinct surrogate keys. Returns the failing cases.

{{ config(tags=['unit']) }}

with

timestamps (raw_value, expected) as (

    values
        ('2026-01-16T08:59:39-06:00', '2026-01-16 14:59:39+00'::timestamptz),
        ('2026-01-16T15:06:38.427986+00:00', '2026-01-16 15:06:38.427986+00'::timestamptz),
        ('2026-01-16T15:06:38.559587Z', '2026-01-16 15:06:38.559587+00'::timestamptz),
        ('2026-01-16T15:06:46.823025+00:00Z', '2026-01-16 15:06:46.823025+00'::timestamptz),
        ('not a timestamp', null),
        (null, null)

),

periods (raw_value, expected) as (

    values
        ('202407', '2024-07-01'::date),
        ('2024-07', '2024-07-01'::date),
        ('2024-3', '2024-07-01'::date),
        ('2024-Q4', '2024-10-01'::date),
        ('2024', '2024-01-01'::date),
        ('202413', null),
        ('July', null),
        (null, null)

),

timestamp_failures as (

    select
        'parse_timestamptz' as macro_name,
        raw_value
    from timestamps
    where {{ parse_timestamptz('raw_value') }} is distinct from expected

),

period_failures as (

    select
        'period_to_date' as macro_name,
        raw_value
    from periods
    where {{ period_to_date('raw_value') }} is distinct from expected

),

key_failures as (

    select
        'surrogate_key' as macro_name,
        'null-safe distinctness' as raw_value
    where {{ surrogate_key(["null::text", "'a'"]) }} = {{ surrogate_key(["'a'", "null::text"]) }}
        or {{ surrogate_key(["'a'", "'b'"]) }} <> md5('a-b')

)

select * from timestamp_failures
union all
select * from period_failures
union all
select * from key_failures
