"""Database connections: the configured server, or the embedded default."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import psycopg

from quality_compass.errors import ConfigError, DatabaseUnreachable
from quality_compass.warehouse.embedded import EmbeddedPostgres
from quality_compass.warehouse.settings import (
    PRODUCTION_TARGET,
    STRICT_SSL_MODES,
    DbSettings,
    database_name,
    external_settings,
)


def resolve_settings(start_embedded: bool = True, target: str | None = None) -> DbSettings:
    """Connection settings for this process.

    ``DBT_POSTGRES_HOST`` set → that server. Unset → the embedded server, started (or
    reused) on demand. Settings exported by ``qc db env`` point at the embedded socket;
    they are recognised so that a stopped embedded server is started again. ``target`` is
    the dbt target qc works for: ``prod`` needs ``DBT_POSTGRES_HOST`` and defaults to
    ``sslmode=verify-full`` (see ``require_encrypted_session``).
    """
    external = external_settings(target=target)
    if external is None and target == PRODUCTION_TARGET:
        raise ConfigError(
            "the prod target needs DBT_POSTGRES_HOST (and the other DBT_POSTGRES_* "
            "variables) pointing at the production server; the embedded server is for "
            "development"
        )
    embedded = EmbeddedPostgres()
    if external is not None:
        if Path(external.host) == embedded.socket_dir and start_embedded:
            # libpq ignores sslmode on a socket; kept so that checks see what was asked for
            started = embedded.start(external.database)
            return replace(started, sslmode=external.sslmode, sslrootcert=external.sslrootcert)
        return external
    if start_embedded:
        return embedded.start(database_name())
    return embedded.settings(database_name())


def connect(
    settings: DbSettings, *, autocommit: bool = False, database: str | None = None
) -> psycopg.Connection:
    """Open a connection, turning connection failures into one clear message."""
    try:
        return psycopg.connect(settings.conninfo(database=database), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnreachable(
            f"cannot connect to PostgreSQL at {settings.where} "
            f"(database {database or settings.database!r}, user {settings.user!r}): {reason}"
        ) from None


def dbt_subprocess_env(settings: DbSettings) -> dict[str, str]:
    """Environment for a dbt subprocess pointed at ``settings``."""
    env = dict(os.environ)
    env.update(settings.dbt_env())
    if not settings.sslmode:
        env.pop("DBT_POSTGRES_SSLMODE", None)
    if not settings.sslrootcert:
        env.pop("DBT_POSTGRES_SSLROOTCERT", None)
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    return env


def ping(settings: DbSettings) -> str:
    """Connect once and return the server version; raises DatabaseUnreachable."""
    with connect(settings, autocommit=True) as conn:
        row = conn.execute("show server_version").fetchone()
    return str(row[0]) if row else "unknown"


def require_encrypted_session(settings: DbSettings) -> str:
    """Prove that sessions with ``settings`` are encrypted, else refuse (the prod target).

    Two checks, as dbt's on-run-start hook ``require_encrypted_connection`` does: the
    sslmode cannot fall back to plain text (``prefer``/``allow`` let a man in the middle
    strip TLS from any session), and the server sees this session as encrypted
    (``pg_stat_ssl``): libpq silently ignores sslmode over a unix socket. Returns the TLS
    version and cipher; raises ConfigError otherwise.
    """
    if settings.sslmode not in STRICT_SSL_MODES:
        raise ConfigError(
            f"the prod target needs TLS that cannot fall back to plain text, but sslmode is "
            f"{settings.sslmode or 'prefer (libpq default)'}. Set DBT_POSTGRES_SSLMODE=verify-full "
            "and DBT_POSTGRES_SSLROOTCERT=<the CA certificate file>"
        )
    with connect(settings, autocommit=True) as conn:
        row = conn.execute(
            "select ssl, version, cipher from pg_catalog.pg_stat_ssl where pid = pg_backend_pid()"
        ).fetchone()
    if row is not None and row[0]:
        return f"{row[1]} {row[2]}"
    socket_note = " (a unix socket is never encrypted)" if settings.host.startswith("/") else ""
    raise ConfigError(
        f"the prod target needs an encrypted connection, but the session to {settings.where} "
        f"is not encrypted{socket_note}. Point DBT_POSTGRES_HOST at the server's TLS address "
        "and set DBT_POSTGRES_SSLMODE=verify-full and DBT_POSTGRES_SSLROOTCERT=<the CA "
        "certificate file>"
    )
