{#- Entity identity, one definition for every staging model (format spec 2.5 and 8).

    An entity is a set of (dimension id, value) pairs. Every encoding (the node results'
    [{id, value, dataset_field}] array, the {dim: value} objects of classifications and
    contributions, header facet_values) is first turned into one jsonb object with text
    values; jsonb stores object keys sorted and unique, so its text form is canonical. -#}

{#- jsonb object {id: value} from an entity array [{id, value, ...}] ('{}' when null). -#}
{% macro entity_dict_from_array(entity_array) -%}
    {%- set entity_array = '(' ~ entity_array ~ ')' if entity_array is not none else none -%}
    (
        select coalesce(jsonb_object_agg(element.id, element.value), '{}'::jsonb)
        from jsonb_to_recordset({{ entity_array }}) as element (id text, value text)
        where element.id is not null
    )
{%- endmacro %}

{#- The same object with every value as text ('{}' when null or not an object). -#}
{% macro normalize_entity_dict(entity_object) -%}
    {%- set entity_object = '(' ~ entity_object ~ ')' if entity_object is not none else none -%}
    (
        select coalesce(jsonb_object_agg(pair.key, pair.value), '{}'::jsonb)
        from jsonb_each_text(
            case when jsonb_typeof({{ entity_object }}) = 'object' then {{ entity_object }} end
        ) as pair
    )
{%- endmacro %}

{#- Stable entity key: md5 of the canonical entity object without the display-only keys
    (var non_key_dimensions, i.e. legacy systemName). Same entity, same key, in every file. -#}
{% macro entity_key(entity_dict) -%}
    {%- set entity_dict = '(' ~ entity_dict ~ ')' if entity_dict is not none else none -%}
    md5(({{ entity_dict }} - {{ text_array_literal(var('non_key_dimensions')) }})::text)
{%- endmacro %}

{#- The peer-group dimensions: the entity minus the facility and display-only keys. Equals a
    header facet's facet_values for the entity's peer group. -#}
{% macro entity_dimensions(entity_dict) -%}
    {%- set entity_dict = '(' ~ entity_dict ~ ')' if entity_dict is not none else none -%}
    {%- set excluded = [var('facility_dimension')] + var('non_key_dimensions') -%}
    ({{ entity_dict }} - {{ text_array_literal(excluded) }})
{%- endmacro %}

{#- array['a', 'b']::text[] from a Jinja list. -#}
{% macro text_array_literal(values) -%}
    array[
        {%- for value in values -%}
        '{{ value | replace("'", "''") }}'{% if not loop.last %}, {% endif %}
        {%- endfor -%}
    ]::text[]
{%- endmacro %}

{#- A one-row subquery for a LATERAL join that turns an entity encoding into its identity
    columns, each computed once per row:
      entity_dict            {dim: value} with text values ('{}' when absent)
      entity_key             md5 of entity_dict minus the display-only keys
      facility_id            the facility dimension's value (medicareId)
      entity_dimensions      entity_dict minus the facility and display-only keys
      entity_dimensions_hash md5 of entity_dimensions (= the peer group's facet_key)
    source_kind: 'array' for [{id, value, ...}] (node results), 'object' for {dim: value}
    (classifications, contributions, facet_values).
    key_scope: optional list of SQL expressions (run_id, canonical_node_id) that adds
      entity_result_id = surrogate_key(key_scope + [entity_key]), also computed once per row.
    Usage: cross join lateral {{ entity_identity('record.entity') }} as entity
    (An aggregate subquery is never flattened into the outer query, so the object is built
    once per row however often its columns are used.) -#}
{% macro entity_identity(source, source_kind='array', key_scope=none) -%}
    {%- set non_key = text_array_literal(var('non_key_dimensions')) -%}
    {%- set peer_excluded = text_array_literal(
        [var('facility_dimension')] + var('non_key_dimensions')
    ) -%}
    {%- set dict = "coalesce(jsonb_object_agg(element.id, element.value)"
        ~ " filter (where element.id is not null), '{}'::jsonb)" -%}
    (
        select
            {{ dict }} as entity_dict,
            md5(({{ dict }} - {{ non_key }})::text) as entity_key,
            ({{ dict }}) ->> '{{ var("facility_dimension") }}' as facility_id,
            ({{ dict }} - {{ peer_excluded }}) as entity_dimensions,
            md5(({{ dict }} - {{ peer_excluded }})::text) as entity_dimensions_hash
            {%- if key_scope is not none %},
            {{ surrogate_key(key_scope + ["md5((" ~ dict ~ " - " ~ non_key ~ ")::text)"]) }}
                as entity_result_id
            {%- endif %}
        {%- if source_kind == 'array' %}
        from jsonb_to_recordset(
            case when jsonb_typeof({{ source }}) = 'array' then {{ source }} end
        ) as element (id text, value text)
        {%- elif source_kind == 'object' %}
        from jsonb_each_text(
            case when jsonb_typeof({{ source }}) = 'object' then {{ source }} end
        ) as element (id, value)
        {%- else %}
        {{ exceptions.raise_compiler_error(
            "entity_identity: source_kind must be 'array' or 'object'"
        ) }}
        {%- endif %}
    )
{%- endmacro %}
