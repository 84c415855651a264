"""Database connections: the configured server, or the embedded default."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg

from quality_compass.errors import DatabaseUnreachable
from quality_compass.warehouse.embedded import EmbeddedPostgres
from quality_compass.warehouse.settings import DbSettings, database_name, external_settings


def resolve_settings(start_embedded: bool = True) -> DbSettings:
    """Connection settings for this process.

    ``DBT_POSTGRES_HOST`` set → that server. Unset → the embedded server, started (or
    reused) on demand. Settings exported by ``qc db env`` point at the embedded socket;
    they are recognised so that a stopped embedded server is started again.
    """
    external = external_settings()
    embedded = EmbeddedPostgres()
    if external is not None:
        if Path(external.host) == embedded.socket_dir and start_embedded:
            return embedded.start(external.database)
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
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    return env


def ping(settings: DbSettings) -> str:
    """Connect once and return the server version; raises DatabaseUnreachable."""
    with connect(settings, autocommit=True) as conn:
        row = conn.execute("show server_version").fetchone()
    return str(row[0]) if row else "unknown"
