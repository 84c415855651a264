"""Errors a user can cause. The CLI turns each into one clear line and a non-zero exit."""

from __future__ import annotations


class QcError(Exception):
    """A failure with a message meant for the user (no traceback).

    ``exit_code`` follows a small convention: 1 for a failed operation (bad input,
    rejected load, failed dbt step), 2 for a usage or configuration problem
    (missing folder, unreachable database).
    """

    exit_code: int = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class ConfigError(QcError):
    """Wrong or missing configuration (environment variables, paths)."""

    exit_code = 2


class DatabaseUnreachable(QcError):
    """The configured PostgreSQL server cannot be reached."""

    exit_code = 2


class EmbeddedServerError(QcError):
    """The embedded PostgreSQL server could not be started or stopped."""

    exit_code = 2
