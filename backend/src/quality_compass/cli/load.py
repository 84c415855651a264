"""``qc load`` and ``qc runs list / drop``: runs into the raw tables, and managing them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from quality_compass.cli._app import err_console, handle_errors, out_console

runs_app = typer.Typer(help="Runs loaded in the raw tables.", no_args_is_help=True)


RunDir = Annotated[
    Path | None,
    typer.Argument(
        help="The run folder (<runs_root>/<graph>/<run_id>); with --latest, a graph folder."
    ),
]
RunsRoot = Annotated[
    Path | None,
    typer.Option("--runs-root", envvar="RUNS_ROOT", help="Root holding <graph>/<run_id> folders."),
]
InsightGraphRun = Annotated[
    str | None,
    typer.Option(
        "--insight-graph-run", envvar="INSIGHT_GRAPH_RUN", help="GRAPH/RUN_ID under --runs-root."
    ),
]
Latest = Annotated[bool, typer.Option("--latest", help="Pick the newest run folder of the graph.")]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="List and validate what would load; write nothing.")
]
MaxRejects = Annotated[
    int,
    typer.Option(
        "--max-rejects",
        min=0,
        help="Load despite up to N invalid lines (kept in raw_load_rejects). Default 0: strict.",
    ),
]
KeepRuns = Annotated[
    int | None,
    typer.Option(
        "--keep-runs", min=1, help="After a successful load, drop all but the newest N runs."
    ),
]


@handle_errors
def load(
    run_dir: RunDir = None,
    runs_root: RunsRoot = None,
    insight_graph_run: InsightGraphRun = None,
    latest: Latest = False,
    dry_run: DryRun = False,
    max_rejects: MaxRejects = 0,
    keep_runs: KeepRuns = None,
) -> None:
    """Validate a Project Needle run folder and load it into the raw tables (one transaction)."""
    from quality_compass.cli.output import print_load_report, progress_factory
    from quality_compass.load.loader import load_run
    from quality_compass.load.report import LoadOptions
    from quality_compass.needle.run_folder import resolve_run_dir
    from quality_compass.warehouse.connection import resolve_settings

    folder = resolve_run_dir(run_dir, runs_root, insight_graph_run, latest)
    options = LoadOptions(dry_run=dry_run, max_rejects=max_rejects, keep_runs=keep_runs)
    settings = None if dry_run else resolve_settings()
    with progress_factory(err_console) as factory:
        report = load_run(
            folder,
            settings,
            options,
            progress_factory=factory,
            notify=lambda message: err_console.print(Text(message, style="yellow"), soft_wrap=True),
        )
    print_load_report(report, out_console, err_console)
    if dry_run and report.status != "valid":
        raise typer.Exit(1)


@runs_app.command("list")
@handle_errors
def runs_list() -> None:
    """Show the runs currently loaded (one row each)."""
    from quality_compass.cli.output import print_runs
    from quality_compass.load.runs import list_runs
    from quality_compass.warehouse.connection import resolve_settings

    print_runs(list_runs(resolve_settings()), out_console)


@runs_app.command("drop")
@handle_errors
def runs_drop(
    run_id: Annotated[str, typer.Argument(help="The run_id to remove from the raw tables.")],
) -> None:
    """Remove one run's raw rows (the audit trail in raw_loads is kept)."""
    from quality_compass.load.runs import drop_runs
    from quality_compass.warehouse.connection import resolve_settings

    drop_runs(
        resolve_settings(),
        run_id,
        notify=lambda message: err_console.print(Text(message, style="yellow"), soft_wrap=True),
    )
    out_console.print(
        f"run {run_id} dropped from the raw tables; it disappears from every model on the "
        "next `dbt build`",
        soft_wrap=True,
    )
