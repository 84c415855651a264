"""The ``qc`` command line. It parses arguments and calls the library; nothing more."""

from __future__ import annotations

import functools
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from quality_compass import __version__
from quality_compass.config import DbSettings
from quality_compass.errors import QcError

F = TypeVar("F", bound=Callable[..., Any])

# Outside a terminal (CI logs, pipes) rich would wrap tables at 80 columns; use 160.
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)
out_console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)

app = typer.Typer(
    name="qc",
    help="Quality Compass: load Project Needle runs into PostgreSQL and build the dbt marts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(
    help="The embedded PostgreSQL server (used when DBT_POSTGRES_HOST is unset).",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


def handle_errors(func: F) -> F:
    """Turn user-facing errors into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except QcError as exc:
            err_console.print(f"[bold red]error:[/] {exc.message}", markup=True, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err_console.print(
                "[bold red]interrupted[/]: nothing was changed by the interrupted step"
            )
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


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


# -- qc db ---------------------------------------------------------------------


def _prepare_raw_schema(settings: DbSettings) -> None:
    """Create the (empty) raw tables, so dbt can build and test before the first load."""
    from quality_compass import __version__
    from quality_compass.db import connect
    from quality_compass.schemas import ensure_schema

    with connect(settings) as conn:
        ensure_schema(conn, __version__)


@db_app.command("start")
@handle_errors
def db_start() -> None:
    """Start the embedded server (or reuse the running one) and create the database."""
    from quality_compass.config import database_name
    from quality_compass.embedded_db import EmbeddedPostgres

    server = EmbeddedPostgres()
    settings = server.start(database_name())
    _prepare_raw_schema(settings)
    status = server.status()
    out_console.print(status.describe())
    out_console.print(f"  database: {settings.database}")


@db_app.command("stop")
@handle_errors
def db_stop() -> None:
    """Stop the embedded server cleanly."""
    from quality_compass.embedded_db import EmbeddedPostgres

    stopped = EmbeddedPostgres().stop()
    out_console.print(
        "embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running"
    )


@db_app.command("status")
@handle_errors
def db_status() -> None:
    """Show whether the embedded server runs, where its data and socket are.

    Exits 0 when it runs, 3 when it is stopped.
    """
    from quality_compass.config import external_settings
    from quality_compass.embedded_db import EmbeddedPostgres

    status = EmbeddedPostgres().status()
    out_console.print(status.describe())
    external = external_settings()
    if external is not None and external.host != str(status.socket_dir):
        out_console.print(
            f"note: DBT_POSTGRES_HOST is set; qc uses the external server {external.where}"
        )
    if not status.running:
        raise typer.Exit(3)


@db_app.command("env")
@handle_errors
def db_env() -> None:
    """Print shell exports for the database; use as: eval "$(uv run qc db env)".

    Starts the embedded server when DBT_POSTGRES_HOST is unset, so that every plain dbt
    command (dbt debug, dbt build, ...) then runs against it.
    """
    from quality_compass.db import resolve_settings

    settings = resolve_settings(start_embedded=True)
    if settings.embedded:
        _prepare_raw_schema(settings)
    for key, value in settings.dbt_env().items():
        sys.stdout.write(f"export {key}={shlex.quote(value)}\n")
    if not settings.sslmode:
        sys.stdout.write("unset DBT_POSTGRES_SSLMODE\n")


# -- qc load / qc runs ----------------------------------------------------------

runs_app = typer.Typer(help="Runs loaded in the raw tables.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@app.command("load")
@handle_errors
def load(
    run_dir: Annotated[
        Path | None,
        typer.Argument(
            help="The run folder (<runs_root>/<graph>/<run_id>); with --latest, a graph folder."
        ),
    ] = None,
    runs_root: Annotated[
        Path | None,
        typer.Option(
            "--runs-root", envvar="RUNS_ROOT", help="Root holding <graph>/<run_id> folders."
        ),
    ] = None,
    insight_graph_run: Annotated[
        str | None,
        typer.Option(
            "--insight-graph-run",
            envvar="INSIGHT_GRAPH_RUN",
            help="GRAPH/RUN_ID under --runs-root.",
        ),
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="Pick the newest run folder of the graph.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List and validate what would load; write nothing.")
    ] = False,
    max_rejects: Annotated[
        int,
        typer.Option(
            "--max-rejects",
            min=0,
            help="Load despite up to N invalid lines (kept in raw_load_rejects). Default 0: strict.",
        ),
    ] = 0,
    keep_runs: Annotated[
        int | None,
        typer.Option(
            "--keep-runs", min=1, help="After a successful load, drop all but the newest N runs."
        ),
    ] = None,
) -> None:
    """Validate a Project Needle run folder and load it into the raw tables (one transaction)."""
    from quality_compass.db import resolve_settings
    from quality_compass.load import LoadOptions, load_run
    from quality_compass.reporting import print_load_report, progress_factory
    from quality_compass.runs import resolve_run_dir

    folder = resolve_run_dir(run_dir, runs_root, insight_graph_run, latest)
    options = LoadOptions(dry_run=dry_run, max_rejects=max_rejects, keep_runs=keep_runs)
    settings = None if dry_run else resolve_settings()
    with progress_factory(err_console) as factory:
        report = load_run(
            folder,
            settings,
            options,
            progress_factory=factory,
            notify=lambda message: err_console.print(f"[yellow]{message}[/]"),
        )
    print_load_report(report, out_console, err_console)
    if dry_run and report.status != "valid":
        raise typer.Exit(1)


@runs_app.command("list")
@handle_errors
def runs_list() -> None:
    """Show the runs currently loaded (one row each)."""
    from quality_compass.db import resolve_settings
    from quality_compass.load import list_runs
    from quality_compass.reporting import print_runs

    print_runs(list_runs(resolve_settings()), out_console)


@runs_app.command("drop")
@handle_errors
def runs_drop(
    run_id: Annotated[str, typer.Argument(help="The run_id to remove from the raw tables.")],
) -> None:
    """Remove one run's raw rows (the audit trail in raw_loads is kept)."""
    from quality_compass.db import resolve_settings
    from quality_compass.load import drop_runs

    drop_runs(resolve_settings(), run_id)
    out_console.print(
        f"run {run_id} dropped from the raw tables; it disappears from every model on the "
        "next `dbt build`",
        markup=False,
    )


# -- qc demo -------------------------------------------------------------------


@app.command("demo")
@handle_errors
def demo() -> None:
    """The main job on the embedded default: load the sample runs, dbt seed + build, freshness.

    Loads the real runs bundled in backend/sample_runs plus a small synthetic run with every
    file kind (generated once under backend/.qc/demo_runs), builds the marts and prints a
    summary of the signals and contributions.
    """
    from quality_compass.pipeline import run_demo

    run_demo(out_console)


@app.command("pipeline")
@handle_errors
def pipeline(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="One or more run folders to load, in order.")
    ],
    max_rejects: Annotated[
        int,
        typer.Option(
            "--max-rejects", min=0, help="Tolerate up to N invalid lines per run (default: strict)."
        ),
    ] = 0,
    keep_runs: Annotated[
        int | None,
        typer.Option("--keep-runs", min=1, help="Keep only the newest N runs after loading."),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="dbt target (dev, docker, prod).")
    ] = None,
) -> None:
    """Load run folders, then dbt seed, dbt build and dbt source freshness; print a summary.

    Exits non-zero when any step fails (a rejected load, a failing model or test, a source
    past its error freshness threshold) or a mart ends up empty.
    """
    from quality_compass.load import LoadOptions
    from quality_compass.pipeline import run_pipeline
    from quality_compass.runs import resolve_run_dir

    folders = [resolve_run_dir(path) for path in run_dirs]
    run_pipeline(
        folders,
        out_console,
        load_options=LoadOptions(max_rejects=max_rejects, keep_runs=keep_runs),
        target=target,
    )


@app.command("bench")
@handle_errors
def bench(
    size: Annotated[
        list[str] | None,
        typer.Option(
            "--size",
            help="Preset(s): S = a bundled real run, M ≈ 100 MB, L ≈ 1 GB of JSONL. Repeatable. Default: S and M.",
        ),
    ] = None,
    dbt: Annotated[
        bool, typer.Option("--dbt/--no-dbt", help="Also time `dbt seed` + `dbt build`.")
    ] = True,
    regenerate: Annotated[
        bool, typer.Option("--regenerate", help="Regenerate the cached synthetic runs.")
    ] = False,
    update_docs: Annotated[
        bool,
        typer.Option(
            "--update-docs/--no-update-docs", help="Write the figures into docs/performance.md."
        ),
    ] = True,
    results_dir: Annotated[
        Path | None,
        typer.Option(
            "--results-dir", help="Where to write <timestamp>.json (default: bench/results)."
        ),
    ] = None,
) -> None:
    """The reference benchmark: qc load vs a bare COPY, dbt build, generation speed.

    Every figure is measured side by side in this one process against a fresh database
    `qc_bench` on the configured (or embedded) server. Results are printed, written to
    bench/results/<timestamp>.json and summarised in docs/performance.md.
    """
    from rich.markdown import Markdown

    from quality_compass.bench import render_markdown, run_bench
    from quality_compass.db import resolve_settings

    sizes = [
        s.strip().upper() for item in (size or ["S", "M"]) for s in item.split(",") if s.strip()
    ]
    payload = run_bench(
        sizes,
        resolve_settings(),
        with_dbt=dbt,
        regenerate=regenerate,
        update_docs=update_docs,
        results_dir=results_dir,
        log=lambda message: err_console.print(message),
    )
    out_console.print(Markdown(render_markdown(payload)))
    out_console.print(f"results: {payload['results_file']}")


def run() -> None:  # pragma: no cover - console entry point helper
    app()


from quality_compass import cli_synth  # noqa: E402

cli_synth.register(app)
