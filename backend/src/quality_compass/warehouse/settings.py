"""How to reach the database: the connection settings of one PostgreSQL server.

The connection comes from the seed's variables ``DBT_POSTGRES_HOST``, ``_USER``,
``_PASSWORD``, ``_PORT``, ``_DATABASE`` and ``_SSLMODE``, plus ``_SSLROOTCERT`` (the CA
file that ``verify-ca``/``verify-full`` check the server's certificate against). When
``DBT_POSTGRES_HOST`` is unset, Quality Compass uses its embedded PostgreSQL (see
``warehouse.embedded``).

TLS (docs/architecture/security.md, section "TLS"): qc passes the same ``sslmode`` and
``sslrootcert`` to libpq as ``profiles.yml`` gives dbt. For the ``prod`` target the default
is ``verify-full`` (encrypted, certificate checked against the CA, host name checked), as
in the profile; ``warehouse.connection.require_encrypted_session`` then proves that the
session really is encrypted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from quality_compass.errors import ConfigError

DEFAULT_DATABASE = "quality_compass"
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
#: The modes that never fall back to plain text (over TCP; libpq ignores sslmode on a socket).
STRICT_SSL_MODES = ("require", "verify-ca", "verify-full")
#: The dbt target whose connections must be encrypted and verified (profiles.yml).
PRODUCTION_TARGET = "prod"
PRODUCTION_SSLMODE = "verify-full"


@dataclass(frozen=True)
class DbSettings:
    """One PostgreSQL connection target."""

    host: str
    port: int
    user: str
    password: str
    database: str
    sslmode: str | None = None
    embedded: bool = False
    sslrootcert: str | None = None

    @property
    def where(self) -> str:
        """Human description of the server, used in error messages."""
        if self.host.startswith("/"):
            return f"socket {self.host} port {self.port}"
        return f"{self.host}:{self.port}"

    def conninfo(self, database: str | None = None, connect_timeout: int = 10) -> str:
        parts = {
            "host": self.host,
            "port": str(self.port),
            "user": self.user,
            "dbname": database or self.database,
            "connect_timeout": str(connect_timeout),
            "application_name": "quality_compass",
        }
        if self.password:
            parts["password"] = self.password
        if self.sslmode:
            parts["sslmode"] = self.sslmode
        if self.sslrootcert:
            parts["sslrootcert"] = self.sslrootcert
        return " ".join(f"{k}={_quote(v)}" for k, v in parts.items())

    def with_database(self, database: str) -> DbSettings:
        return replace(self, database=database)

    def dbt_env(self) -> dict[str, str]:
        """The ``DBT_POSTGRES_*`` variables that point dbt (profiles.yml) at this server."""
        env = {
            "DBT_POSTGRES_HOST": self.host,
            "DBT_POSTGRES_PORT": str(self.port),
            "DBT_POSTGRES_USER": self.user,
            "DBT_POSTGRES_PASSWORD": self.password,
            "DBT_POSTGRES_DATABASE": self.database,
        }
        if self.sslmode:
            env["DBT_POSTGRES_SSLMODE"] = self.sslmode
        if self.sslrootcert:
            env["DBT_POSTGRES_SSLROOTCERT"] = self.sslrootcert
        return env


def _quote(value: str) -> str:
    if value and all(c not in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def external_settings(
    env: Mapping[str, str] | None = None, target: str | None = None
) -> DbSettings | None:
    """Settings for an external server, or None when ``DBT_POSTGRES_HOST`` is unset.

    ``target`` is the dbt target the settings serve: for ``prod`` an unset
    ``DBT_POSTGRES_SSLMODE`` means ``verify-full``, as in profiles.yml.
    """
    env = os.environ if env is None else env
    host = env.get("DBT_POSTGRES_HOST", "").strip()
    if not host:
        return None
    port_text = env.get("DBT_POSTGRES_PORT", "5432").strip() or "5432"
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"DBT_POSTGRES_PORT must be an integer, got {port_text!r}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"DBT_POSTGRES_PORT must be between 1 and 65535, got {port}")
    return DbSettings(
        host=host,
        port=port,
        user=env.get("DBT_POSTGRES_USER", "postgres") or "postgres",
        password=env.get("DBT_POSTGRES_PASSWORD", ""),
        database=env.get("DBT_POSTGRES_DATABASE", DEFAULT_DATABASE) or DEFAULT_DATABASE,
        sslmode=ssl_mode(env, target),
        embedded=False,
        sslrootcert=env.get("DBT_POSTGRES_SSLROOTCERT") or None,
    )


def ssl_mode(env: Mapping[str, str], target: str | None = None) -> str | None:
    """``DBT_POSTGRES_SSLMODE`` checked; unset: ``verify-full`` for prod, else libpq's default."""
    mode = env.get("DBT_POSTGRES_SSLMODE", "").strip()
    if not mode:
        return PRODUCTION_SSLMODE if target == PRODUCTION_TARGET else None
    if mode not in SSL_MODES:
        raise ConfigError(
            f"DBT_POSTGRES_SSLMODE must be one of {', '.join(SSL_MODES)}, got {mode!r}"
        )
    return mode


def database_name(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("DBT_POSTGRES_DATABASE", DEFAULT_DATABASE) or DEFAULT_DATABASE
