{#- require_encrypted_connection(): on-run-start hook (dbt_project.yml).

    For the prod target, or when var require_tls is true, the hook renders a DO block that
    raises unless (1) the profile's sslmode cannot fall back to plain text (require,
    verify-ca or verify-full: with prefer or allow a man in the middle may let this session
    through encrypted and strip TLS from the next one) and (2) the server sees this session
    as encrypted (pg_stat_ssl): libpq silently ignores sslmode over a unix socket. With the
    flag skip_nodes_if_on_run_start_fails, a failed check skips every node. Otherwise the
    hook renders nothing (dbt skips an empty hook). -#}

{% macro require_encrypted_connection() -%}
    {%- if var('require_tls', target.name == 'prod') -%}
        {%- set sslmode = (target.sslmode or 'prefer') | string -%}
        do $require_tls$
        begin
            if '{{ sslmode | replace("'", "''") }}' not in ('require', 'verify-ca', 'verify-full') then
                raise exception using
                    message = 'Quality Compass: the {{ target.name | replace("'", "''") }} '
                    || 'target requires TLS, and sslmode {{ sslmode | replace("'", "''") }} '
                    || 'may fall back to plain text',
                    hint = 'set DBT_POSTGRES_SSLMODE=verify-full and '
                    || 'DBT_POSTGRES_SSLROOTCERT=<CA file> (docs/architecture/security.md)';
            elsif not coalesce(
                (select ssl from pg_catalog.pg_stat_ssl where pid = pg_backend_pid()), false
            ) then
                raise exception using
                    message = 'Quality Compass: this dbt session is not encrypted, and the '
                    || '{{ target.name | replace("'", "''") }} target requires TLS',
                    hint = 'a unix socket is never encrypted; point DBT_POSTGRES_HOST at the '
                    || 'server''s TLS address and set DBT_POSTGRES_SSLMODE=verify-full and '
                    || 'DBT_POSTGRES_SSLROOTCERT=<CA file> (docs/architecture/security.md)';
            end if;
        end
        $require_tls$
    {%- endif -%}
{%- endmacro %}
