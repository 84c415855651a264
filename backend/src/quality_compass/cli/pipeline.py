"""``qc demo`` and ``qc pipeline``: load, dbt seed, dbt build, source freshness, summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quality_compass.cli._app import handle_errors, out_console


@handle_errors
def demo() -> None:
    """The main job on the embedded default: load the sample runs, dbt seed + build, freshness.

    Loads the real runs bundled in backend/sample_runs plus a small synthetic run with every
    file kind (generated once under backend/.qc/demo_runs), builds the marts and prints a
    summary of the signals and contributions, then writes the HTML report of the newest run
    (``qc report``) and prints its path.
    """
    from quality_compass.cli.output import ConsolePipelineObserver
    from quality_compass.pipeline import run_demo

    run_demo(ConsolePipelineObserver(out_console))


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
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Then write the HTML report of the newest run to PATH."),
    ] = None,
) -> None:
    """Load run folders, then dbt seed, dbt build and dbt source freshness; print a summary.

    Exits non-zero when any step fails (a rejected load, a failing model or test, a source
    past its error freshness threshold) or a mart ends up empty.
    """
    from quality_compass.cli.output import ConsolePipelineObserver
    from quality_compass.load.report import LoadOptions
    from quality_compass.needle.run_folder import resolve_run_dir
    from quality_compass.pipeline import run_pipeline

    folders = [resolve_run_dir(path) for path in run_dirs]
    run_pipeline(
        folders,
        ConsolePipelineObserver(out_console),
        load_options=LoadOptions(max_rejects=max_rejects, keep_runs=keep_runs),
        target=target,
        report_path=report,
    )
