"""Terminal output of the commands: progress bars, tables and summaries (rich).

Everything ``qc`` draws lives here; the library returns reports and results.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

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
from rich.text import Text

from quality_compass.load.report import LoadReport
from quality_compass.load.runs import LoadedRun
from quality_compass.pipeline import (
    HISTORY_SHOWN,
    MARTS_SCHEMA,
    HistorySummary,
    PipelineResult,
    contributions_by_child,
    history_summary,
    signals_by_type,
    top_signals,
)
from quality_compass.warehouse.settings import DbSettings

if TYPE_CHECKING:
    from quality_compass.report.writer import ReportResult
    from quality_compass.synth.generate.options import GenerateResult

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


def labelled(label: str, style: str, message: str) -> Text:
    """``label: message`` with the label styled and the message as plain text (never markup)."""
    return Text.assemble((f"{label}:", style), " ", message)


def print_load_report(report: LoadReport, out: Console, err: Console) -> None:
    for warning in report.warnings:
        err.print(labelled("warning", "yellow", warning), soft_wrap=True)
    if report.dry_run:
        files = Table(title=Text(f"dry run: {report.graph_name}/{report.run_id} (nothing written)"))
        files.add_column("file")
        files.add_column("table")
        files.add_column("lines", justify="right")
        files.add_column("rows", justify="right")
        files.add_column("rejects", justify="right")
        files.add_column("bytes", justify="right")
        for f in report.files:
            files.add_row(
                Text(f.rel),
                f.table,
                f"{f.lines:,}",
                f"{f.rows:,}",
                f"{f.rejects:,}",
                f"{f.bytes:,}",
            )
        out.print(files)
        for reject in report.rejects[:20]:
            err.print(labelled("reject", "red", str(reject)), soft_wrap=True)
        verdict = (
            "valid" if report.status == "valid" else f"INVALID ({report.reject_count} reject(s))"
        )
        out.print(
            f"{len(report.files)} files, {report.bytes / 1e6:.1f} MB, {report.seconds:.1f} s: {verdict}"
        )
        return
    table = Table(
        title=Text(f"loaded run {report.graph_name}/{report.run_id} (load {report.load_id})")
    )
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
            Text(
                f"{report.reject_count} line(s) rejected and stored in raw_load_rejects",
                style="yellow",
            )
        )
    replaced = f"; replaced load {report.replaced_load_id}" if report.replaced_load_id else ""
    out.print(
        f"{report.bytes / 1e6:.1f} MB in {report.seconds:.1f} s ({report.mb_per_s:.1f} MB/s){replaced}"
    )
    if report.pruned:
        out.print(Text(f"pruned older runs: {', '.join(report.pruned)}"))


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
            Text(run.run_id),
            Text(run.graph_name or ""),
            str(run.load_id),
            run.loaded_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{rows.get('raw_entity_results', 0):,}",
            f"{rows.get('raw_contributions', 0):,}",
            f"{rows.get('raw_classifications', 0):,}",
            f"{run.bytes / 1e6:.1f}",
        )
    out.print(table)


# -- qc pipeline / qc demo ----------------------------------------------------------------


class ConsolePipelineObserver:
    """Draws a pipeline run (``pipeline.PipelineObserver``) on a console."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def connected(self, settings: DbSettings, server_version: str) -> None:
        self.console.print(
            Text.assemble(
                ("database", "bold"),
                f": {settings.database} at {settings.where} (PostgreSQL {server_version})",
            )
        )

    def step(self, title: str) -> None:
        self.console.rule(title)

    def waiting(self, message: str) -> None:
        self.console.print(Text(message, style="yellow"), soft_wrap=True)

    def loaded(self, report: LoadReport) -> None:
        for warning in report.warnings:
            self.console.print(labelled("warning", "yellow", warning), soft_wrap=True)
        self.console.print(
            Text(
                f"loaded {report.graph_name}/{report.run_id}: "
                + ", ".join(f"{table} {rows:,}" for table, rows in report.rows.items())
                + f" ({report.seconds:.1f} s)"
            )
        )

    def finished(self, settings: DbSettings, result: PipelineResult) -> None:
        print_pipeline_summary(settings, self.console, result)

    def empty_mart(self, table: str, reason: str) -> None:
        self.console.print(labelled("warning", "yellow", f"{table} is empty{reason}"))

    def report_written(self, report: ReportResult) -> None:
        print_report_written(self.console, report)


def print_report_written(console: Console, report: ReportResult) -> None:
    """Which run, how big, then the file's path alone on the last line (for scripts).

    Plain text: run ids, graph names and paths are data, never markup.
    """
    graph = f" ({report.graph_name})" if report.graph_name else ""
    console.print(
        f"report of run {report.run_id}{graph}: {report.signals:,} signals, "
        f"{report.bytes / 1_000_000:.1f} MB in {report.seconds:.1f} s",
        markup=False,
        soft_wrap=True,
    )
    console.print(str(report.path), markup=False, soft_wrap=True, highlight=False)


def print_pipeline_summary(settings: DbSettings, console: Console, result: PipelineResult) -> None:
    console.rule("summary")
    marts = Table(title="marts")
    marts.add_column("table")
    marts.add_column("rows", justify="right")
    for name, rows in result.mart_rows.items():
        marts.add_row(f"{MARTS_SCHEMA}.{name}", "missing" if rows < 0 else f"{rows:,}")
    console.print(marts)
    if result.mart_rows.get("fct_signals", 0) > 0:
        console.print(_signals_by_type_table(settings))
        console.print(_top_signals_table(settings))
    if result.mart_rows.get("fct_contributions", 0) > 0:
        console.print(_contributions_table(settings))
    print_history_summary(console, history_summary(settings))
    console.print(f"pipeline finished in {result.seconds:.1f} s")


def print_history_summary(console: Console, summary: HistorySummary | None) -> None:
    """The newest run's changes since its previous run: counts per status, then the most
    severe new, escalated and resolved signals. Run ids, names and groups are data: plain
    text, never markup."""
    if summary is None:
        return
    run = f"{summary.graph_name}/{summary.run_id}" if summary.graph_name else summary.run_id
    since = (
        f"since run {summary.previous_run_id}"
        if summary.previous_run_id
        else "(the first run of its graph: every signal is new)"
    )
    console.print(
        f"changes in the newest run {run} {since} (fct_signal_history):",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    counts = ", ".join(
        f"{status.replace('_', ' ')} {count:,}" for status, count in summary.counts.items()
    )
    console.print(f"  {counts}", markup=False, highlight=False, soft_wrap=True)
    for status in HISTORY_SHOWN:
        rows = summary.rows.get(status, [])
        if rows:
            console.print(_history_table(status, rows, summary.counts.get(status, 0)))


def _history_table(status: str, rows: list[dict[str, Any]], count: int) -> Table:
    resolved = status == "resolved"
    title = f"{status} signals: the {len(rows)} most severe of {count:,}"
    table = Table(title=title, title_justify="left")
    for column in (
        "facility",
        "metric",
        "group",
        "last signal type" if resolved else "signal type",
        "last severity" if resolved else "severity",
        "change",
    ):
        table.add_column(column, justify="right" if "severity" in column else "left")
    for row in rows:
        facility = " ".join(
            str(v) for v in (row["facility_id"], row.get("facility_name")) if v is not None
        )
        group = row.get("group_value") or row.get("groupby_label") or ""
        if resolved:
            kind, severity = row["previous_signal_type"], row["previous_signal_severity"]
            change = f"gone since run {row['previous_run_id']}"
        else:
            kind, severity = row["signal_type"], row["signal_severity"]
            change = (
                f"{row['previous_signal_severity']} -> {severity} (+{row['severity_change']})"
                if status == "escalated"
                else f"not in run {row['previous_run_id']}"
                if row["previous_run_id"]
                else "first run of its graph"
            )
        cells = (facility, row["metric_id"], group, kind, severity, change)
        table.add_row(*(Text("" if cell is None else str(cell)) for cell in cells))
    return table


def _signals_by_type_table(settings: DbSettings) -> Table:
    table = Table(title="signals by type and severity (all loaded runs)")
    for column in ("signal type", "Critical", "High", "Moderate", "Watch", "none", "total"):
        table.add_column(column, justify="left" if column == "signal type" else "right")
    for row in signals_by_type(settings):
        table.add_row(Text(str(row[0])), *(f"{v:,}" for v in row[1:]))
    return table


def _top_signals_table(settings: DbSettings) -> Table:
    table = Table(title="top signals (highest classification severity)")
    for column in ("run", "facility", "metric", "group", "signal type", "severity", "z", "anomaly"):
        table.add_column(column)
    for row in top_signals(settings):
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
    return table


def _contributions_table(settings: DbSettings) -> Table:
    table = Table(title="contributions by child node and metric")
    for column in ("child node", "metric", "records", "positive", "negative", "avg weight"):
        table.add_column(column, justify="left" if column in ("child node", "metric") else "right")
    for row in contributions_by_child(settings):
        table.add_row(
            Text(str(row[0])), Text(str(row[1])), *(f"{v:,}" for v in row[2:5]), str(row[5])
        )
    return table


# -- qc generate ------------------------------------------------------------------------------


def print_generate_result(result: GenerateResult, out: Console) -> None:
    out.print(Text.assemble(("run", "bold"), f": {result.run_dir}"))
    out.print(
        f"  {result.facilities} facilities, {result.nodes} nodes, {result.edges} edges, "
        f"{result.files} files"
    )
    out.print(
        f"  lines: {result.entity_lines} entity, {result.contribution_lines} contribution, "
        f"{result.classification_lines} classification"
    )
    out.print(
        f"  {result.total_bytes / 1e6:.1f} MB ({result.jsonl_bytes / 1e6:.1f} MB JSONL) in "
        f"{result.seconds:.2f} s = {result.mb_per_second:.1f} MB/s"
        + (f" (+{result.pilot_seconds:.2f} s sizing pilot)" if result.pilot_seconds else "")
    )
    signals = ", ".join(f"{k} {v}" for k, v in sorted(result.signal_types.items()))
    out.print(f"  signal types: {signals}")
