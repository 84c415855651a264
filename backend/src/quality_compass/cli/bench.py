"""``qc bench``: the reference benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quality_compass.cli._app import err_console, handle_errors, out_console


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
    from quality_compass.warehouse.connection import resolve_settings

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
