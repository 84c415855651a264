"""The ``qc`` Typer app, its two consoles and the error handler every command uses.

Command modules (``cli/db.py``, ``cli/load.py``, ...) import from here and register their
commands on ``app``; this module imports none of them, so there is no import cycle.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from quality_compass import __version__
from quality_compass.errors import QcError

P = ParamSpec("P")
R = TypeVar("R")

# Outside a terminal (CI logs, pipes) rich would wrap tables at 80 columns; use 160.
# Markup and emoji codes are off: strings (paths, run ids, graph names, any text from a run)
# print as plain text, also inside tables. Styles are applied with rich.text.Text.
err_console = Console(
    stderr=True,
    highlight=False,
    markup=False,
    emoji=False,
    width=None if sys.stderr.isatty() else 160,
)
out_console = Console(
    highlight=False, markup=False, emoji=False, width=None if sys.stdout.isatty() else 160
)

app = typer.Typer(
    name="qc",
    help="Quality Compass: load Project Needle runs into PostgreSQL and build the dbt marts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn user-facing errors into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except QcError as exc:
            err_console.print(
                Text.assemble(("error:", "bold red"), " ", exc.message), soft_wrap=True
            )
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err_console.print(
                Text.assemble(
                    ("interrupted", "bold red"), ": nothing was changed by the interrupted step"
                )
            )
            raise typer.Exit(130) from None

    return wrapper


def _version_callback(value: bool) -> None:
    if value:
        out_console.print(f"qc (quality-compass) {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Quality Compass command line."""
