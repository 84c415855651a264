"""``qc report``: one self-contained HTML page with the signals of a run."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from quality_compass.cli._app import err_console, handle_errors, out_console


@handle_errors
def report(
    run_id: Annotated[
        str | None,
        typer.Option("--run", help="The run to report (default: the newest by detected time)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="The HTML file to write (default: .qc/reports/<graph>_<run>.html)."
        ),
    ] = None,
    open_page: Annotated[
        bool, typer.Option("--open", help="Open the report in the default browser.")
    ] = False,
    top: Annotated[
        int | None,
        typer.Option("--top", min=1, help="Signals with a detail section (default 25)."),
    ] = None,
    rows: Annotated[
        int | None,
        typer.Option("--rows", min=1, help="Rows of the top-signals table (default 300)."),
    ] = None,
    artefacts: Annotated[
        Path | None,
        typer.Option(
            "--artefacts",
            help="dbt's target folder with run_results.json and sources.json "
            "(default: $DBT_TARGET_PATH, else backend/dbt/target).",
        ),
    ] = None,
) -> None:
    """Write one self-contained HTML report of a run's signals (works offline).

    Reads the marts and the semantic layer only, plus dbt's artefacts for build health.
    """
    from quality_compass.cli.output import print_report_written
    from quality_compass.report.build import ReportOptions
    from quality_compass.report.writer import open_in_browser, write_report
    from quality_compass.warehouse.connection import resolve_settings

    options = ReportOptions(run_id=run_id, target_path=artefacts)
    if top is not None:
        options = dataclasses.replace(options, top=top)
    if rows is not None:
        options = dataclasses.replace(options, table_rows=rows)
    written = write_report(resolve_settings(), options, out)
    print_report_written(out_console, written)
    if open_page and not open_in_browser(written.path):
        err_console.print("warning: no browser to open the report with", markup=False)
