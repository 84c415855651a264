{#- Lenient text -> timestamptz (format spec 2.2): ISO-8601 with 'T' or ' ', optional
    fraction, offset or 'Z'; the malformed '+00:00Z' (offset and Z) loses its 'Z'. Anything
    else is null rather than an error. A missing offset means the session time zone. -#}
{% macro parse_timestamptz(text_value) -%}
    {%- set text_value = '(' ~ text_value ~ ')' -%}
    {%- set iso_timestamp_pattern -%}
    ^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?Z?$
    {%- endset -%}
    (
        case
            when {{ text_value }} ~ '{{ iso_timestamp_pattern }}'
                then regexp_replace({{ text_value }}, '([+-]\d{2}(:?\d{2})?)Z$', '\1')::timestamptz
        end
    )
{%- endmacro %}

{#- Period text -> date (first day of the period): 'YYYYMM' and 'YYYY-MM' (months, format spec
    2.3), 'YYYY-Q' (quarter), 'YYYY' (year). Null for anything else. -#}
{% macro period_to_date(text_value) -%}
    {%- set text_value = '(' ~ text_value ~ ')' -%}
    (
        case
            when {{ text_value }} ~ '^\d{4}-?(0[1-9]|1[0-2])$'
                then make_date(left({{ text_value }}, 4)::int, right({{ text_value }}, 2)::int, 1)
            when {{ text_value }} ~ '^\d{4}-Q?[1-4]$'
                then make_date(
                    left({{ text_value }}, 4)::int, (right({{ text_value }}, 1)::int - 1) * 3 + 1, 1
                )
            when {{ text_value }} ~ '^\d{4}$'
                then make_date({{ text_value }}::int, 1, 1)
        end
    )
{%- endmacro %}

{#- jsonb array of strings -> text[] in array order (null when not an array). -#}
{% macro jsonb_text_array(jsonb_value) -%}
    {%- set jsonb_value = '(' ~ jsonb_value ~ ')' -%}
    (
        case
            when jsonb_typeof({{ jsonb_value }}) = 'array'
                then array(
                    select element.value
                    from jsonb_array_elements_text({{ jsonb_value }})
                        with ordinality as element (value, position)
                    order by element.position
                )
        end
    )
{%- endmacro %}

{#- The jsonb value only when it is an object (guards jsonb_to_record against arrays and
    scalars). -#}
{% macro jsonb_object_or_null(jsonb_value) -%}
    {%- set jsonb_value = '(' ~ jsonb_value ~ ')' -%}
    (case when jsonb_typeof({{ jsonb_value }}) = 'object' then {{ jsonb_value }} end)
{%- endmacro %}

{#- The jsonb value only when it is an array, else '[]' (for jsonb_array_elements). -#}
{% macro jsonb_array_or_empty(jsonb_value) -%}
    {%- set jsonb_value = '(' ~ jsonb_value ~ ')' -%}
    (
        case
            when jsonb_typeof({{ jsonb_value }}) = 'array' then {{ jsonb_value }}
            else '[]'::jsonb
        end
    )
{%- endmacro %}
