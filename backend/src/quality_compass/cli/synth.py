"""``qc generate`` and ``qc validate``: synthetic runs and the run validator.

The commands only parse arguments and call ``quality_compass.synth.generate`` /
``quality_compass.synth.validate``. The options of ``qc generate`` are declared once
below, as annotated types, so the command's signature reads as a list.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from quality_compass.cli._app import err_console, handle_errors, out_console

OutDir = Annotated[
    Path, typer.Argument(help="Runs root; the run goes to OUT_DIR/<graph>/<run_id>/.")
]
Facilities = Annotated[int, typer.Option("--facilities", help="Number of facilities (medicareId).")]
Metrics = Annotated[
    int, typer.Option("--metrics", help="Number of taxonomy metrics (losIndex first).")
]
Months = Annotated[int, typer.Option("--months", help="Monthly periods per trend.")]
GroupBySets = Annotated[
    str,
    typer.Option(
        "--group-by-sets",
        help="Comma-separated taxonomy group-by sets (facility_base is always added), "
        "e.g. facility_service_line,facility_discharge_status,facility_sub_service_line.",
    ),
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed; same seed, same bytes.")]
RunId = Annotated[
    str | None, typer.Option("--run-id", help="14-digit run id (default: derived from the seed).")
]
Graph = Annotated[str, typer.Option("--graph", help="Graph name (folder).")]
TargetSize = Annotated[
    str | None,
    typer.Option(
        "--target-size", help="Aim for this much JSONL (e.g. 500MB, 1GB); overrides --facilities."
    ),
]
EndPeriod = Annotated[str, typer.Option("--end-period", help="Last month, YYYYMM.")]
SuppressedShare = Annotated[
    float,
    typer.Option("--suppressed-share", help="Share of dimension values with < 15 facilities."),
]
MissingShare = Annotated[
    float, typer.Option("--missing-share", help="Share of segment entities with missing months.")
]
OutlierShare = Annotated[
    float, typer.Option("--outlier-share", help="Share of outlier facilities.")
]
TrendShare = Annotated[
    float, typer.Option("--trend-share", help="Share of facilities with a planted trend.")
]
SpikeShare = Annotated[
    float, typer.Option("--spike-share", help="Share of entities with a one-month spike.")
]
AbsentShare = Annotated[
    float,
    typer.Option(
        "--absent-share",
        help="Series: share of facilities missing from each run after the first (at least one).",
    ),
]
TurnShare = Annotated[
    float,
    typer.Option(
        "--turn-share",
        help="Series: share of facilities that start to improve or deteriorate each month.",
    ),
]
Series = Annotated[
    int,
    typer.Option(
        "--series",
        help="Write N consecutive runs of the graph, one month apart (run ids, started_at "
        "and the months' window move by one month per run); values evolve, so signals "
        "appear, change and vanish. The first run is the single run of these options.",
    ),
]
Graphviz = Annotated[bool, typer.Option("--graphviz/--no-graphviz", help="Write graphviz/*.dot.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing run folder.")]
Workers = Annotated[
    int,
    typer.Option("--workers", help="Worker processes (0: min(2, CPUs)); output is identical."),
]


@handle_errors
def generate(
    out_dir: OutDir,
    facilities: Facilities = 118,
    metrics: Metrics = 1,
    months: Months = 12,
    group_by_sets: GroupBySets = "facility_base,facility_service_line,facility_discharge_status",
    seed: Seed = 0,
    run_id: RunId = None,
    graph: Graph = "synthetic_graph",
    target_size: TargetSize = None,
    end_period: EndPeriod = "202506",
    suppressed_share: SuppressedShare = 0.08,
    missing_share: MissingShare = 0.15,
    outlier_share: OutlierShare = 0.06,
    trend_share: TrendShare = 0.12,
    spike_share: SpikeShare = 0.02,
    absent_share: AbsentShare = 0.05,
    turn_share: TurnShare = 0.04,
    series: Series = 1,
    graphviz: Graphviz = True,
    overwrite: Overwrite = False,
    workers: Workers = 0,
) -> None:
    """Write a synthetic Project Needle run in the exact real format (or a series of runs)."""
    from quality_compass.cli.output import print_generate_result
    from quality_compass.synth.generate.options import GenerateOptions, Knobs, parse_size
    from quality_compass.synth.generate.series import generate_series

    options = GenerateOptions(
        out_dir=out_dir,
        facilities=facilities,
        metrics=metrics,
        months=months,
        group_by_sets=tuple(s for s in group_by_sets.split(",") if s.strip()),
        seed=seed,
        run_id=run_id,
        graph=graph,
        target_size=parse_size(target_size) if target_size else None,
        end_period=end_period,
        knobs=Knobs(
            suppressed_share=suppressed_share,
            missing_share=missing_share,
            outlier_share=outlier_share,
            trend_share=trend_share,
            spike_share=spike_share,
            absent_share=absent_share,
            turn_share=turn_share,
        ),
        graphviz=graphviz,
        overwrite=overwrite,
        workers=workers,
    )
    for result in generate_series(options, series):
        print_generate_result(result, out_console)


@handle_errors
def validate(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (…/<graph>/<run_id>).")],
    max_errors: Annotated[
        int,
        typer.Option("--max-errors", help="Print at most this many issues (0: no limit)."),
    ] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a machine-readable JSON report.")
    ] = False,
) -> None:
    """Check a run folder against the format spec's invariants (section 9).

    Exits 0 when there are no errors (warnings allowed), 1 when there are errors.
    """
    from quality_compass.synth.validate.run import validate_run

    report = validate_run(run_dir)
    if as_json:
        sys.stdout.write(report.to_json(max_errors) + "\n")
    else:
        for line in report.lines(max_errors):
            out_console.print(line, markup=False, highlight=False, soft_wrap=True)
    if report.errors:
        if not as_json:
            err_console.print(
                Text.assemble(
                    ("invalid run", "bold red"), f": {report.errors} error(s) in {run_dir}"
                ),
                soft_wrap=True,
            )
        raise typer.Exit(1)
