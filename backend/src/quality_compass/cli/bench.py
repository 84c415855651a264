"""``qc bench``: the reference benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quality_compass.cli._app import err_console, handle_errors, out_console

History = Annotated[
    bool,
    typer.Option(
        "--history",
        help="The history scenario: a series of --history-runs runs (qc generate --series), "
        "the `dbt build` after loading the last with the others built, against the build of "
        "that run alone in an empty database (target ≤ 1.25×); also a build with nothing "
        "new (the fixed cost) and --full-refresh of all runs.",
    ),
]
HistoryRuns = Annotated[
    int, typer.Option("--history-runs", help="Runs in the history scenario (K + 1).")
]
HistorySize = Annotated[
    str, typer.Option("--history-size", help="JSONL per run in the history scenario.")
]
HistoryRounds = Annotated[
    int,
    typer.Option(
        "--history-rounds",
        help="Repeat the alone and daily builds, alternating; medians are compared.",
    ),
]


@handle_errors
def bench(
    size: Annotated[
        list[str] | None,
        typer.Option(
            "--size",
            help="Preset(s): S = a bundled real run, M ≈ 100 MB, L ≈ 1 GB of JSONL. Repeatable. "
            "Default: S and M (none with --history).",
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
    history: History = False,
    history_runs: HistoryRuns = 10,
    history_size: HistorySize = "100MB",
    history_rounds: HistoryRounds = 1,
    results_dir: Annotated[
        Path | None,
        typer.Option(
            "--results-dir", help="Where to write <timestamp>.json (default: bench/results)."
        ),
    ] = None,
) -> None:
    """The reference benchmark: qc load vs a bare COPY, dbt build, generation speed, and
    (--history) the daily build with history against the build of one run alone.

    Every figure is measured side by side in this one process against fresh databases
    (`qc_bench`, `qc_bench_history`, `qc_bench_alone`) on the configured (or embedded)
    server. Results are printed, written to bench/results/<timestamp>.json and summarised
    in docs/performance.md.
    """
    from rich.markdown import Markdown

    from quality_compass.bench import HistoryOptions, render_markdown, run_bench
    from quality_compass.synth.generate.options import parse_size
    from quality_compass.warehouse.connection import resolve_settings

    presets = size if size is not None else ([] if history else ["S", "M"])
    sizes = [s.strip().upper() for item in presets for s in item.split(",") if s.strip()]
    scenario = (
        HistoryOptions(runs=history_runs, size=parse_size(history_size), rounds=history_rounds)
        if history
        else None
    )
    payload = run_bench(
        sizes,
        resolve_settings(),
        with_dbt=dbt,
        regenerate=regenerate,
        update_docs=update_docs,
        results_dir=results_dir,
        history=scenario,
        log=lambda message: err_console.print(message, markup=False, highlight=False),
    )
    out_console.print(Markdown(render_markdown(payload)))
    out_console.print(f"results: {payload['results_file']}")
