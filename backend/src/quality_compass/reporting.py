"""Terminal output for the CLI: progress bars and summary tables (rich)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from quality_compass.load.report import LoadReport
from quality_compass.load.runs import LoadedRun

# Below this size a load takes about a second: no progress bar.
PROGRESS_MIN_BYTES = 32 << 20


@contextlib.contextmanager
def progress_factory(console: Console) -> Iterator[Callable[[int], Callable[[int], None]]]:
    """Yields ``make(total_bytes) -> advance(n)``; draws a bar only on a terminal for big runs."""
    progress: Progress | None = None

    def make(total: int) -> Callable[[int], None]:
        nonlocal progress
        if total < PROGRESS_MIN_BYTES or not console.is_terminal:
            return lambda n: None
        progress = Progress(
            TextColumn("[bold]loading"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        progress.start()
        task = progress.add_task("load", total=total)
        bar = progress
        return lambda n: bar.advance(task, n)

    try:
        yield make
    finally:
        if progress is not None:
            progress.stop()


def print_load_report(report: LoadReport, out: Console, err: Console) -> None:
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    if report.dry_run:
        files = Table(title=f"dry run: {report.graph_name}/{report.run_id} (nothing written)")
        files.add_column("file")
        files.add_column("table")
        files.add_column("lines", justify="right")
        files.add_column("rows", justify="right")
        files.add_column("rejects", justify="right")
        files.add_column("bytes", justify="right")
        for f in report.files:
            files.add_row(
                f.rel, f.table, f"{f.lines:,}", f"{f.rows:,}", f"{f.rejects:,}", f"{f.bytes:,}"
            )
        out.print(files)
        for reject in report.rejects[:20]:
            err.print(f"[red]reject:[/] {reject}", soft_wrap=True, markup=True, highlight=False)
        verdict = (
            "valid" if report.status == "valid" else f"INVALID ({report.reject_count} reject(s))"
        )
        out.print(
            f"{len(report.files)} files, {report.bytes / 1e6:.1f} MB, {report.seconds:.1f} s: {verdict}"
        )
        return
    table = Table(title=f"loaded run {report.graph_name}/{report.run_id} (load {report.load_id})")
    table.add_column("table")
    table.add_column("files", justify="right")
    table.add_column("rows", justify="right")
    table.add_column("rejects", justify="right")
    for name, rows in report.rows.items():
        source_table = "raw_entity_results" if name == "raw_node_results" else name
        sources = [f for f in report.files if f.table == source_table]
        rejects = 0 if name == "raw_node_results" else sum(f.rejects for f in sources)
        table.add_row(name, str(len(sources)), f"{rows:,}", f"{rejects:,}")
    out.print(table)
    if report.reject_count:
        err.print(
            f"[yellow]{report.reject_count} line(s) rejected and stored in raw_load_rejects[/]"
        )
    replaced = f"; replaced load {report.replaced_load_id}" if report.replaced_load_id else ""
    out.print(
        f"{report.bytes / 1e6:.1f} MB in {report.seconds:.1f} s ({report.mb_per_s:.1f} MB/s){replaced}"
    )
    if report.pruned:
        out.print(f"pruned older runs: {', '.join(report.pruned)}")


def print_runs(runs: list[LoadedRun], out: Console) -> None:
    if not runs:
        out.print("no runs loaded")
        return
    table = Table(title="loaded runs")
    for column in (
        "run_id",
        "graph",
        "load",
        "loaded at (UTC)",
        "entities",
        "contributions",
        "classifications",
        "MB",
    ):
        table.add_column(column, justify="right" if column not in ("run_id", "graph") else "left")
    for run in runs:
        rows = run.rows_by_table
        table.add_row(
            run.run_id,
            run.graph_name or "",
            str(run.load_id),
            run.loaded_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{rows.get('raw_entity_results', 0):,}",
            f"{rows.get('raw_contributions', 0):,}",
            f"{rows.get('raw_classifications', 0):,}",
            f"{run.bytes / 1e6:.1f}",
        )
    out.print(table)
