{#- A stable text key from several columns: md5 of their text forms joined by '-', nulls
    spelled '_qc_null_' (so (null, 'a') and ('a', null) differ). Stands in for
    dbt_utils.generate_surrogate_key, which we cannot install. -#}
{% macro surrogate_key(field_list) -%}
    md5(
        {%- for field in field_list %}
        coalesce(cast({{ field }} as text), '_qc_null_'){% if not loop.last %} || '-' ||{% endif %}
        {%- endfor %}
    )
{%- endmacro %}
