"""``qc generate`` and ``qc validate``: synthetic runs and the run validator.

Registered on the main app by ``cli.py`` (``cli_synth.register(app)``); the commands only
parse arguments and call ``quality_compass.generate`` / ``quality_compass.validate``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``generate`` and ``validate`` to the ``qc`` app."""
    from quality_compass.cli import err_console, handle_errors, out_console

    @app.command("generate")
    @handle_errors
    def generate(
        out_dir: Annotated[
            Path, typer.Argument(help="Runs root; the run goes to OUT_DIR/<graph>/<run_id>/.")
        ],
        facilities: Annotated[
            int, typer.Option("--facilities", help="Number of facilities (medicareId).")
        ] = 118,
        metrics: Annotated[
            int,
            typer.Option("--metrics", help="Number of taxonomy metrics (losIndex first)."),
        ] = 1,
        months: Annotated[int, typer.Option("--months", help="Monthly periods per trend.")] = 12,
        group_by_sets: Annotated[
            str,
            typer.Option(
                "--group-by-sets",
                help="Comma-separated taxonomy group-by sets (facility_base is always added), "
                "e.g. facility_service_line,facility_discharge_status,facility_sub_service_line.",
            ),
        ] = "facility_base,facility_service_line,facility_discharge_status",
        seed: Annotated[
            int, typer.Option("--seed", help="Random seed; same seed, same bytes.")
        ] = 0,
        run_id: Annotated[
            str | None,
            typer.Option("--run-id", help="14-digit run id (default: derived from the seed)."),
        ] = None,
        graph: Annotated[str, typer.Option("--graph", help="Graph name (folder).")] = (
            "synthetic_graph"
        ),
        target_size: Annotated[
            str | None,
            typer.Option(
                "--target-size",
                help="Aim for this much JSONL (e.g. 500MB, 1GB); overrides --facilities.",
            ),
        ] = None,
        end_period: Annotated[
            str, typer.Option("--end-period", help="Last month, YYYYMM.")
        ] = "202506",
        suppressed_share: Annotated[
            float,
            typer.Option(
                "--suppressed-share", help="Share of dimension values with < 15 facilities."
            ),
        ] = 0.08,
        missing_share: Annotated[
            float,
            typer.Option("--missing-share", help="Share of segment entities with missing months."),
        ] = 0.15,
        outlier_share: Annotated[
            float, typer.Option("--outlier-share", help="Share of outlier facilities.")
        ] = 0.06,
        trend_share: Annotated[
            float,
            typer.Option("--trend-share", help="Share of facilities with a planted trend."),
        ] = 0.12,
        spike_share: Annotated[
            float,
            typer.Option("--spike-share", help="Share of entities with a one-month spike."),
        ] = 0.02,
        graphviz: Annotated[
            bool, typer.Option("--graphviz/--no-graphviz", help="Write graphviz/*.dot.")
        ] = True,
        overwrite: Annotated[
            bool, typer.Option("--overwrite", help="Replace an existing run folder.")
        ] = False,
        workers: Annotated[
            int,
            typer.Option(
                "--workers", help="Worker processes (0: min(2, CPUs)); output is identical."
            ),
        ] = 0,
    ) -> None:
        """Write a synthetic Project Needle run in the exact real format."""
        from quality_compass.generate import GenerateOptions, Knobs, generate_run, parse_size

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
            ),
            graphviz=graphviz,
            overwrite=overwrite,
            workers=workers,
        )
        result = generate_run(options)
        out_console.print(f"[bold]run[/]: {result.run_dir}")
        out_console.print(
            f"  {result.facilities} facilities, {result.nodes} nodes, {result.edges} edges, "
            f"{result.files} files"
        )
        out_console.print(
            f"  lines: {result.entity_lines} entity, {result.contribution_lines} contribution, "
            f"{result.classification_lines} classification"
        )
        out_console.print(
            f"  {result.total_bytes / 1e6:.1f} MB ({result.jsonl_bytes / 1e6:.1f} MB JSONL) in "
            f"{result.seconds:.2f} s = {result.mb_per_second:.1f} MB/s"
            + (f" (+{result.pilot_seconds:.2f} s sizing pilot)" if result.pilot_seconds else "")
        )
        signals = ", ".join(f"{k} {v}" for k, v in sorted(result.signal_types.items()))
        out_console.print(f"  signal types: {signals}")

    @app.command("validate")
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
        from quality_compass.validate import validate_run

        report = validate_run(run_dir)
        if as_json:
            sys.stdout.write(report.to_json(max_errors) + "\n")
        else:
            for line in report.lines(max_errors):
                out_console.print(line, markup=False, highlight=False, soft_wrap=True)
        if report.errors:
            if not as_json:
                err_console.print(
                    f"[bold red]invalid run[/]: {report.errors} error(s) in {run_dir}",
                    soft_wrap=True,
                )
            raise typer.Exit(1)
