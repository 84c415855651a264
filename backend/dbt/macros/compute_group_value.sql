{#- The entity's values beyond the facility, joined with ' / ': "Cardiology",
    "Cardiology / Home"; 'Facility-wide' for facility-only entities.

    entity_dimensions: jsonb {dimension id: value} expression (facility and display-only
                       keys are skipped if present).
    dimension_ids:     optional text[] expression giving the order (the node's group-by
                       order); without it values are ordered by dimension id. -#}
{% macro compute_group_value(entity_dimensions, dimension_ids=none) -%}
    {%- set skipped = [var('facility_dimension')] + var('non_key_dimensions') -%}
    coalesce(
        (
            {%- if dimension_ids is not none %}
            select string_agg(
                ({{ entity_dimensions }}) ->> dimension.id, ' / ' order by dimension.position
            )
            from unnest({{ dimension_ids }}) with ordinality as dimension (id, position)
            where dimension.id <> all ({{ text_array_literal(skipped) }})
                and ({{ entity_dimensions }}) ? dimension.id
            {%- else %}
            select string_agg(dimension.value, ' / ' order by dimension.key)
            from jsonb_each_text(
                case
                    when jsonb_typeof({{ entity_dimensions }}) = 'object'
                        then {{ entity_dimensions }}
                end
            ) as dimension
            where dimension.key <> all ({{ text_array_literal(skipped) }})
            {%- endif %}
        ),
        'Facility-wide'
    )
{%- endmacro %}
