"""End-to-end jobs: ``qc pipeline`` (load → seed → build → freshness → summary) and ``qc demo``.

The jobs report their progress to a ``PipelineObserver`` (the CLI draws it on the
terminal, ``cli/output.py``); the numbers of the closing summary come from the queries
at the end of this module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from quality_compass.errors import QcError
from quality_compass.load.loader import load_run
from quality_compass.load.report import LoadOptions, LoadReport
from quality_compass.paths import qc_home, sample_runs_dir
from quality_compass.warehouse.connection import (
    connect,
    ping,
    require_encrypted_session,
    resolve_settings,
)
from quality_compass.warehouse.dbt_runner import DbtResult, run_dbt
from quality_compass.warehouse.settings import PRODUCTION_TARGET, DbSettings

if TYPE_CHECKING:
    from quality_compass.report.writer import ReportResult

MARTS_SCHEMA = "public_marts"
MARTS = ("fct_signals", "fct_contributions", "dim_facilities", "dim_metrics")
_EMPTY_REASONS = {
    "fct_contributions": " (no loaded run has analysis/contribution/*.jsonl files)",
    "fct_signals": " (no loaded run has unsuppressed classifications)",
}
# The synthetic runs `qc demo` adds next to the real sample runs: a series of monthly runs
# of one graph (`qc generate --series`), so that every file kind (multi-dimension nodes,
# contributions, classifications.jsonl) is exercised and the newest run has a history
# (new, escalated, resolved signals...).
DEMO_FACILITIES = 60
DEMO_MONTHS = 12
DEMO_SEED = 20260115
DEMO_RUN_ID = "20260201090000"
DEMO_GRAPH = "demo_synthetic"
DEMO_SERIES = 3
#: The change statuses the summary lists signal by signal, and how many of each.
HISTORY_SHOWN = ("new", "escalated", "resolved")
HISTORY_ROWS = 5


class PipelineObserver(Protocol):
    """What a pipeline run tells its caller, in this order."""

    def connected(self, settings: DbSettings, server_version: str) -> None: ...

    def step(self, title: str) -> None: ...

    def waiting(self, message: str) -> None:
        """A load waits for another writer or a build (says what it waits for)."""

    def loaded(self, report: LoadReport) -> None: ...

    def finished(self, settings: DbSettings, result: PipelineResult) -> None: ...

    def empty_mart(self, table: str, reason: str) -> None: ...

    def report_written(self, report: ReportResult) -> None: ...


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


def demo_synthetic_runs() -> list[Path]:
    """Generate (once; cached under .qc/) the demo's synthetic series, oldest run first."""
    from quality_compass.synth.generate.options import GenerateOptions
    from quality_compass.synth.generate.series import generate_series, series_options

    out = qc_home() / "demo_runs"
    options = GenerateOptions(
        out_dir=out,
        facilities=DEMO_FACILITIES,
        months=DEMO_MONTHS,
        seed=DEMO_SEED,
        run_id=DEMO_RUN_ID,
        graph=DEMO_GRAPH,
        overwrite=True,
    )
    run_dirs = [
        out / DEMO_GRAPH / str(series_options(options, step).run_id) for step in range(DEMO_SERIES)
    ]
    if not all((run_dir / "results" / "nodes").is_dir() for run_dir in run_dirs):
        run_dirs = [result.run_dir for result in generate_series(options, DEMO_SERIES)]
    return run_dirs


def run_pipeline(
    run_dirs: list[Path],
    observer: PipelineObserver,
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
    sets: its sample data covers every file kind. With ``report_path``, the HTML report of
    the newest run (``qc report``) is written there at the end. For the ``prod`` target
    nothing is loaded unless the session is encrypted (dbt's on-run-start hook checks its
    own sessions).
    """
    started = time.perf_counter()
    settings = settings or resolve_settings(target=target)
    if target == PRODUCTION_TARGET:
        require_encrypted_session(settings)
    observer.connected(settings, ping(settings))
    result = PipelineResult()
    for run_dir in run_dirs:
        observer.step(f"load {run_dir}")
        report = load_run(run_dir, settings, load_options, notify=observer.waiting)
        result.loads.append(report)
        observer.loaded(report)
    target_args = ["--target", target] if target else []
    for step, args in (
        ("seed", ["seed", *target_args]),
        ("build", ["build", *target_args]),
        ("freshness", ["source", "freshness", *target_args]),
    ):
        observer.step(f"dbt {' '.join(args)}")
        result.dbt[step] = run_dbt(args, settings)
    result.mart_rows = mart_row_counts(settings)
    empty = [name for name, rows in result.mart_rows.items() if rows <= 0]
    result.seconds = time.perf_counter() - started
    observer.finished(settings, result)
    if empty and require_every_mart:
        raise QcError(f"the build left empty marts: {', '.join(empty)}")
    for name in empty:
        observer.empty_mart(f"{MARTS_SCHEMA}.{name}", _EMPTY_REASONS.get(name, ""))
    if report_path is not None:
        result.report_path = write_pipeline_report(settings, observer, report_path)
    return result


def write_pipeline_report(
    settings: DbSettings, observer: PipelineObserver, out: Path | None
) -> Path:
    """Write the HTML report of the newest run (``qc report``; ``out=None``: its default path)."""
    from quality_compass.report.writer import write_report

    written = write_report(settings, out=out)
    observer.report_written(written)
    return written.path


def run_demo(observer: PipelineObserver) -> PipelineResult:
    """The main job on the embedded default: sample runs + a synthetic series, built end to
    end; the series' last run is the newest run (the summary's changes, the report)."""
    settings = resolve_settings()
    ping(settings)  # fail fast, before generating the synthetic runs
    runs = [*sample_run_dirs(), *demo_synthetic_runs()]
    result = run_pipeline(runs, observer, settings=settings, require_every_mart=True)
    result.report_path = write_pipeline_report(settings, observer, None)
    return result


# -- the summary's numbers ---------------------------------------------------------------------


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
            row = conn.execute(f"select count(*) from {MARTS_SCHEMA}.{mart}").fetchone()
            counts[mart] = int(row[0]) if row else 0
    return counts


def _query(settings: DbSettings, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with connect(settings) as conn:
        return conn.execute(query, params).fetchall()


def signals_by_type(settings: DbSettings) -> list[tuple[Any, ...]]:
    """Per signal type: counts per severity (Critical, High, Moderate, Watch, none) and total."""
    return _query(
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


def top_signals(settings: DbSettings) -> list[tuple[Any, ...]]:
    """The ten signals of highest classification severity."""
    return _query(
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


def contributions_by_child(settings: DbSettings) -> list[tuple[Any, ...]]:
    """Per child node and metric: records, positive, negative and the mean weight."""
    return _query(
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


@dataclass
class HistorySummary:
    """What changed in the newest run since the previous run of its graph."""

    run_id: str
    graph_name: str | None
    #: None: the first run of its graph (every signal is new)
    previous_run_id: str | None
    #: signals per change status (every status, 0 when none), from fct_signal_history
    counts: dict[str, int]
    #: per status of HISTORY_SHOWN, its most severe signals (the report's order and columns)
    rows: dict[str, list[dict[str, Any]]]


def history_summary(settings: DbSettings, per_status: int = HISTORY_ROWS) -> HistorySummary | None:
    """The newest run's changes (the run and history section of ``qc report``'s default);
    None when the history mart or the runs mart is missing or empty."""
    from quality_compass.report import queries

    with connect(settings) as conn:
        if not queries.relation_exists(conn, queries.HISTORY_RELATION):
            return None
        if not queries.relation_exists(conn, f"{MARTS_SCHEMA}.dim_runs"):
            return None
        runs = queries.list_runs(conn)
        if not runs:
            return None
        newest = runs[0]
        counts = {row["change_status"]: row for row in queries.history_counts(conn, newest.run_id)}
        listed = queries.history_lists(conn, newest.run_id, HISTORY_SHOWN, per_status)
    previous = sorted(
        {str(row["previous_run_id"]) for row in counts.values() if row["previous_run_id"]}
    )
    statuses = [*queries.HISTORY_STATUSES, *sorted(set(counts) - set(queries.HISTORY_STATUSES))]
    rows: dict[str, list[dict[str, Any]]] = {status: [] for status in HISTORY_SHOWN}
    for row in listed:
        rows[row["change_status"]].append(row)
    return HistorySummary(
        run_id=newest.run_id,
        graph_name=newest.graph_name,
        previous_run_id=", ".join(previous) or None,
        counts={
            status: int(counts[status]["signals"]) if status in counts else 0 for status in statuses
        },
        rows=rows,
    )
