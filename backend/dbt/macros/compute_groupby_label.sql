{#- Human label of an entity grain, from its dimension ids in node order:
    "Service Line / Discharge Status"; 'Facility-wide' when no dimension beyond the facility.

    dimension_ids:    text[] expression, the node's group-by ids (facility and display-only
                      ids are skipped).
    dimension_labels: optional jsonb expression {group_by_type_id: display_name}, the run's
                      taxonomy names. Ids without a name are spelled out from camelCase
                      (vizientServiceLine -> Vizient Service Line).
    Leading words listed in var groupby_label_strip_prefixes are dropped
    ("Vizient Service Line" -> "Service Line"). -#}
{% macro compute_groupby_label(dimension_ids, dimension_labels=none) -%}
    {%- set skipped = [var('facility_dimension')] + var('non_key_dimensions') -%}
    {%- set label -%}
        {%- if dimension_labels is not none -%}
        coalesce(
            nullif(trim(({{ dimension_labels }}) ->> dimension.id), ''),
            initcap(regexp_replace(dimension.id, '([a-z0-9])([A-Z])', '\1 \2', 'g'))
        )
        {%- else -%}
        initcap(regexp_replace(dimension.id, '([a-z0-9])([A-Z])', '\1 \2', 'g'))
        {%- endif -%}
    {%- endset -%}
    {%- set stripped = namespace(expr=label) -%}
    {%- for prefix in var('groupby_label_strip_prefixes') -%}
        {%- set stripped.expr -%}
        (
            case
                when left({{ stripped.expr }}, {{ prefix | length }})
                    = '{{ prefix | replace("'", "''") }}'
                    and length({{ stripped.expr }}) > {{ prefix | length }}
                    then substr({{ stripped.expr }}, {{ (prefix | length) + 1 }})
                else {{ stripped.expr }}
            end
        )
        {%- endset -%}
    {%- endfor -%}
    coalesce(
        (
            select string_agg({{ stripped.expr }}, ' / ' order by dimension.position)
            from unnest({{ dimension_ids }}) with ordinality as dimension (id, position)
            where dimension.id <> all ({{ text_array_literal(skipped) }})
        ),
        'Facility-wide'
    )
{%- endmacro %}
