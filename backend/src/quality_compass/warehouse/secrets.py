"""Keeping the database password out of logs: libpq password files (``PGPASSFILE``).

``qc db env --pgpass PATH`` writes the password of the configured server into a password
file (mode 0600, written whole and renamed into place) and exports ``PGPASSFILE`` with an
empty ``DBT_POSTGRES_PASSWORD``: libpq (qc's psycopg and dbt's psycopg2) reads the password
from the file when the connection string has none.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from quality_compass.warehouse.settings import DbSettings


def _field(value: str) -> str:
    """A password-file field: ``\\`` and ``:`` escaped with a backslash."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


def pgpass_line(settings: DbSettings) -> str:
    """``host:port:*:user:password`` (any database of that server, for that user)."""
    fields = [_field(settings.host), str(settings.port), "*", _field(settings.user)]
    return ":".join([*fields, _field(settings.password)])


def write_pgpass(path: Path, settings: DbSettings) -> Path:
    """Write (replace) the password file ``path`` for ``settings``; returns its absolute path."""
    path = path.expanduser().resolve()
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(pgpass_line(settings) + "\n")
        staging.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        raise
    return path
