"""``qc db start / stop / status / env / destroy``: the embedded PostgreSQL server."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from quality_compass.cli._app import err_console, handle_errors, out_console
from quality_compass.warehouse.settings import DbSettings

db_app = typer.Typer(
    help="The embedded PostgreSQL server (used when DBT_POSTGRES_HOST is unset).",
    no_args_is_help=True,
)


def _prepare_raw_schema(settings: DbSettings) -> None:
    """Create the (empty) raw tables, so dbt can build and test before the first load."""
    from quality_compass import __version__
    from quality_compass.warehouse.connection import connect
    from quality_compass.warehouse.raw_schema import ensure_schema

    with connect(settings) as conn:
        ensure_schema(conn, __version__)


@db_app.command("start")
@handle_errors
def db_start() -> None:
    """Start the embedded server (or reuse the running one) and create the database."""
    from quality_compass.warehouse.embedded import EmbeddedPostgres
    from quality_compass.warehouse.settings import database_name

    server = EmbeddedPostgres()
    settings = server.start(database_name())
    _prepare_raw_schema(settings)
    status = server.status()
    out_console.print(status.describe(), markup=False)
    out_console.print(f"  database: {settings.database}", markup=False)


@db_app.command("stop")
@handle_errors
def db_stop() -> None:
    """Stop the embedded server cleanly."""
    from quality_compass.warehouse.embedded import EmbeddedPostgres

    stopped = EmbeddedPostgres().stop()
    out_console.print(
        "embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running"
    )


@db_app.command("destroy")
@handle_errors
def db_destroy(
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Do not ask for confirmation (scripts, CI)."),
    ] = False,
) -> None:
    """Stop the embedded server and delete its data, to start from nothing.

    Deletes the data folder, the socket folder and the log, and the server area outside the
    checkout when there is one (as root, see `qc db status`). Reports and other files under
    .qc stay. The next command starts an empty server.
    """
    from quality_compass.errors import ConfigError
    from quality_compass.warehouse.embedded import EmbeddedPostgres

    server = EmbeddedPostgres()
    if not yes:
        if not sys.stdin.isatty():
            raise ConfigError("qc db destroy deletes the embedded database; pass --yes to confirm")
        typer.confirm(f"Delete the embedded database of {server.home}?", abort=True)
    removed = server.destroy()
    if not removed:
        out_console.print("embedded PostgreSQL: nothing to delete", markup=False)
    for path in removed:
        out_console.print(f"deleted {path}", markup=False)


@db_app.command("status")
@handle_errors
def db_status() -> None:
    """Show whether the embedded server runs, where its data, socket and log are.

    Exits 0 when it runs, 3 when it is stopped.
    """
    from quality_compass.warehouse.embedded import EmbeddedPostgres
    from quality_compass.warehouse.settings import external_settings

    status = EmbeddedPostgres().status()
    out_console.print(status.describe(), markup=False)
    external = external_settings()
    if external is not None and external.host != str(status.socket_dir):
        out_console.print(
            f"note: DBT_POSTGRES_HOST is set; qc uses the external server {external.where}"
        )
    if not status.running:
        raise typer.Exit(3)


@db_app.command("env")
@handle_errors
def db_env(
    no_password: Annotated[
        bool,
        typer.Option(
            "--no-password",
            help="Do not print DBT_POSTGRES_PASSWORD; the caller provides it (e.g. a CI secret).",
        ),
    ] = False,
    pgpass: Annotated[
        Path | None,
        typer.Option(
            "--pgpass",
            help="Write the password to this libpq password file (0600, replaced) and export "
            "PGPASSFILE with an empty DBT_POSTGRES_PASSWORD, so no output holds the password.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Print shell exports for the database; use as: eval "$(uv run qc db env)".

    Starts the embedded server when DBT_POSTGRES_HOST is unset, so that every plain dbt
    command (dbt debug, dbt build, ...) then runs against it. For an external server the
    password is printed in clear text unless --no-password or --pgpass is given.
    """
    from quality_compass.errors import ConfigError
    from quality_compass.warehouse.connection import resolve_settings
    from quality_compass.warehouse.secrets import write_pgpass

    if no_password and pgpass is not None:
        raise ConfigError("--no-password and --pgpass exclude each other")
    settings = resolve_settings(start_embedded=True)
    if settings.embedded:
        _prepare_raw_schema(settings)
    exports = settings.dbt_env()
    if no_password:
        del exports["DBT_POSTGRES_PASSWORD"]
    elif pgpass is not None:
        try:
            exports["PGPASSFILE"] = str(write_pgpass(pgpass, settings))
        except OSError as exc:
            raise ConfigError(f"cannot write the password file {pgpass}: {exc.strerror}") from None
        exports["DBT_POSTGRES_PASSWORD"] = ""
    elif settings.password:
        err_console.print(
            "note: this output holds the database password in clear text; where output is "
            "logged (CI), use --pgpass PATH or --no-password",
            markup=False,
        )
    for key, value in exports.items():
        sys.stdout.write(f"export {key}={shlex.quote(value)}\n")
    if not settings.sslmode:
        sys.stdout.write("unset DBT_POSTGRES_SSLMODE\n")
    if not settings.sslrootcert:
        sys.stdout.write("unset DBT_POSTGRES_SSLROOTCERT\n")
