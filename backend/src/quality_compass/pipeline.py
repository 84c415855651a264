"""End-to-end jobs: ``qc pipeline`` (load → seed → build → freshness → summary) and ``qc demo``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from quality_compass.config import DbSettings, qc_home, sample_runs_dir
from quality_compass.db import connect, ping, resolve_settings
from quality_compass.dbt_runner import DbtResult, run_dbt
from quality_compass.errors import QcError
from quality_compass.load import LoadOptions, LoadReport, load_run

MARTS_SCHEMA = "public_marts"
MARTS = ("fct_signals", "fct_contributions", "dim_facilities", "dim_metrics")
_EMPTY_REASONS = {
    "fct_contributions": " (no loaded run has analysis/contribution/*.jsonl files)",
    "fct_signals": " (no loaded run has unsuppressed classifications)",
}
# The synthetic run `qc demo` adds next to the real sample runs, so that every file kind
# (multi-dimension nodes, contributions, classifications.jsonl) is exercised.
DEMO_FACILITIES = 60
DEMO_MONTHS = 12
DEMO_SEED = 20260115
DEMO_RUN_ID = "20260201090000"
DEMO_GRAPH = "demo_synthetic"


@dataclass
class PipelineResult:
    loads: list[LoadReport] = field(default_factory=list)
    dbt: dict[str, DbtResult] = field(default_factory=dict)
    mart_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    report_path: Path | None = None


def sample_run_dirs() -> list[Path]:
    """The real runs bundled in ``backend/sample_runs`` (any depth: <graph>/<run_id>)."""
    root = sample_runs_dir()
    return sorted(p.parent.parent for p in root.glob("**/results/nodes") if p.is_dir())


def demo_synthetic_run() -> Path:
    """Generate (once; cached under .qc/) the demo's complete synthetic run."""
    from quality_compass.generate import GenerateOptions, generate_run

    out = qc_home() / "demo_runs"
    run_dir = out / DEMO_GRAPH / DEMO_RUN_ID
    if not (run_dir / "results" / "nodes").is_dir():
        result = generate_run(
            GenerateOptions(
                out_dir=out,
                facilities=DEMO_FACILITIES,
                months=DEMO_MONTHS,
                seed=DEMO_SEED,
                run_id=DEMO_RUN_ID,
                graph=DEMO_GRAPH,
                overwrite=True,
            )
        )
        run_dir = result.run_dir
    return run_dir


def run_pipeline(
    run_dirs: list[Path],
    console: Console,
    *,
    settings: DbSettings | None = None,
    load_options: LoadOptions | None = None,
    target: str | None = None,
    require_every_mart: bool = False,
    report_path: Path | None = None,
) -> PipelineResult:
    """Load the runs, then ``dbt seed``, ``dbt build`` and ``dbt source freshness``.

    Any failing step raises QcError (non-zero exit); warnings (e.g. stale-ish sources,
    upstream math checks at severity warn) are reported but do not fail the pipeline.
    An empty mart is a warning (a partial run without contribution files legitimately
    leaves ``fct_contributions`` empty) unless ``require_every_mart``, which ``qc demo``
    sets: its sample data covers every file kind.
    """
    started = time.perf_counter()
    settings = settings or resolve_settings()
    version = ping(settings)
    console.print(
        f"[bold]database[/]: {settings.database} at {settings.where} (PostgreSQL {version})"
    )
    result = PipelineResult()
    for run_dir in run_dirs:
        console.rule(f"load {run_dir}")
        report = load_run(run_dir, settings, load_options)
        result.loads.append(report)
        for warning in report.warnings:
            console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
        console.print(
            f"loaded {report.graph_name}/{report.run_id}: "
            + ", ".join(f"{table} {rows:,}" for table, rows in report.rows.items())
            + f" ({report.seconds:.1f} s)"
        )
    target_args = ["--target", target] if target else []
    for step, args in (
        ("seed", ["seed", *target_args]),
        ("build", ["build", *target_args]),
        ("freshness", ["source", "freshness", *target_args]),
    ):
        console.rule(f"dbt {' '.join(args)}")
        result.dbt[step] = run_dbt(args, settings)
    result.mart_rows = mart_row_counts(settings)
    empty = [name for name, rows in result.mart_rows.items() if rows <= 0]
    result.seconds = time.perf_counter() - started
    print_summary(settings, console, result)
    if empty and require_every_mart:
        raise QcError(f"the build left empty marts: {', '.join(empty)}")
    for name in empty:
        console.print(
            f"[yellow]warning:[/] {MARTS_SCHEMA}.{name} is empty{_EMPTY_REASONS.get(name, '')}"
        )
    if report_path is not None:
        result.report_path = write_pipeline_report(settings, console, report_path)
    return result


def write_pipeline_report(settings: DbSettings, console: Console, out: Path | None) -> Path:
    """Write the HTML report of the newest run (``qc report``) and print its path."""
    from quality_compass.report import write_report

    written = write_report(settings, out=out)
    console.print(
        f"report of run {written.run_id}: {written.path} "
        f"({written.bytes / 1_000_000:.1f} MB, {written.seconds:.1f} s)",
        markup=False,
        soft_wrap=True,
    )
    return written.path


def run_demo(console: Console) -> PipelineResult:
    """The main job on the embedded default: sample runs + a synthetic run, built end to end."""
    settings = resolve_settings()
    ping(settings)  # fail fast, before generating the synthetic run
    runs = [*sample_run_dirs(), demo_synthetic_run()]
    result = run_pipeline(runs, console, settings=settings, require_every_mart=True)
    result.report_path = write_pipeline_report(settings, console, None)
    return result


def _query(settings: DbSettings, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with connect(settings) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def mart_row_counts(settings: DbSettings) -> dict[str, int]:
    """Rows per mart; -1 when the mart does not exist."""
    counts: dict[str, int] = {}
    with connect(settings) as conn:
        for mart in MARTS:
            exists = conn.execute(
                "select to_regclass(%s) is not null", (f"{MARTS_SCHEMA}.{mart}",)
            ).fetchone()
            if not exists or not exists[0]:
                counts[mart] = -1
                continue
            row = conn.execute(f"select count(*) from {MARTS_SCHEMA}.{mart}").fetchone()  # type: ignore[arg-type]
            counts[mart] = int(row[0]) if row else 0
    return counts


def print_summary(settings: DbSettings, console: Console, result: PipelineResult) -> None:
    console.rule("summary")
    marts = Table(title="marts")
    marts.add_column("table")
    marts.add_column("rows", justify="right")
    for name, rows in result.mart_rows.items():
        marts.add_row(f"{MARTS_SCHEMA}.{name}", "missing" if rows < 0 else f"{rows:,}")
    console.print(marts)
    if result.mart_rows.get("fct_signals", 0) > 0:
        by_type = Table(title="signals by type and severity (all loaded runs)")
        for column in ("signal type", "Critical", "High", "Moderate", "Watch", "none", "total"):
            by_type.add_column(column, justify="left" if column == "signal type" else "right")
        type_rows = _query(
            settings,
            f"""
            select coalesce(signal_type, '(unclassified)'),
                   count(*) filter (where severity = 'Critical'),
                   count(*) filter (where severity = 'High'),
                   count(*) filter (where severity = 'Moderate'),
                   count(*) filter (where severity = 'Watch'),
                   count(*) filter (where severity is null),
                   count(*)
            from {MARTS_SCHEMA}.fct_signals
            group by 1
            order by 7 desc
            """,
        )
        for row in type_rows:
            by_type.add_row(str(row[0]), *(f"{v:,}" for v in row[1:]))
        console.print(by_type)
        top = Table(title="top signals (highest classification severity)")
        for column in (
            "run",
            "facility",
            "metric",
            "group",
            "signal type",
            "severity",
            "z",
            "anomaly",
        ):
            top.add_column(column)
        top_rows = _query(
            settings,
            f"""
            select run_id, facility_id, metric_id, coalesce(group_value, ''), signal_type,
                   signal_severity, round(simple_zscore::numeric, 2), anomaly_classification
            from {MARTS_SCHEMA}.fct_signals
            where signal_severity is not null
            order by signal_severity desc, abs(simple_zscore) desc nulls last, signal_id
            limit 10
            """,
        )
        for row in top_rows:
            top.add_row(*("" if v is None else str(v) for v in row))
        console.print(top)
    if result.mart_rows.get("fct_contributions", 0) > 0:
        contributions = Table(title="contributions by child node and metric")
        for column in ("child node", "metric", "records", "positive", "negative", "avg weight"):
            contributions.add_column(
                column, justify="left" if column in ("child node", "metric") else "right"
            )
        contribution_rows = _query(
            settings,
            f"""
            select child_node_id, metric_id, count(*),
                   count(*) filter (where contribution_direction = 'positive'),
                   count(*) filter (where contribution_direction = 'negative'),
                   round(avg(contribution_weight)::numeric, 5)
            from {MARTS_SCHEMA}.fct_contributions
            group by 1, 2
            order by 1, 2
            """,
        )
        for row in contribution_rows:
            contributions.add_row(
                str(row[0]), str(row[1]), *(f"{v:,}" for v in row[2:5]), str(row[5])
            )
        console.print(contributions)
    console.print(f"pipeline finished in {result.seconds:.1f} s")
