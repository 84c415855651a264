"""Assemble a run's report data from the marts (queries.py) and dbt's artefacts.

The result is a plain, JSON-ready dict: the template renders its tables, and the page's
script draws the charts from the same dict embedded as JSON.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from quality_compass import __version__
from quality_compass.errors import QcError
from quality_compass.report import artefacts, queries
from quality_compass.warehouse.connection import connect
from quality_compass.warehouse.settings import DbSettings

#: Defaults of the bounds (``qc report --top/--rows``).
DEFAULT_TOP = 25
DEFAULT_TABLE_ROWS = 300
DEFAULT_FACILITY_SIGNALS = 40
DEFAULT_CHILD_SEGMENTS = 12
#: Decimals kept for the sparklines' z-scores (they are drawn, not read).
SPARKLINE_DECIMALS = 3


@dataclass(frozen=True)
class ReportOptions:
    """What to report and how much of it.

    ``top``: signals with a detail section (and the length of each history list);
    ``table_rows``: rows of the top-signals table; ``facility_signals``: signals listed per
    facility view; ``child_segments``: child segments charted per child node (the rest
    are summed into one bar). ``target_path``: dbt's artefact folder (default: dbt's).
    """

    run_id: str | None = None
    top: int = DEFAULT_TOP
    table_rows: int = DEFAULT_TABLE_ROWS
    facility_signals: int = DEFAULT_FACILITY_SIGNALS
    child_segments: int = DEFAULT_CHILD_SEGMENTS
    target_path: Path | None = None

    def __post_init__(self) -> None:
        for name in ("top", "table_rows", "facility_signals", "child_segments"):
            if getattr(self, name) < 1:
                raise QcError(f"report option {name} must be at least 1", exit_code=2)


@dataclass
class Timings:
    """Seconds per step (printed by ``qc report -v`` and recorded by the benchmark)."""

    steps: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.steps[name] = round(time.perf_counter() - started, 4)


def _pick_run(runs: list[queries.RunInfo], run_id: str | None) -> queries.RunInfo:
    if not runs:
        raise QcError(
            "no run has been built: load a run and build the marts first (`qc pipeline RUN_DIR`)",
            exit_code=2,
        )
    if run_id is None:
        return runs[0]
    for run in runs:
        if run.run_id == run_id:
            return run
    known = ", ".join(run.run_id for run in runs[:10])
    raise QcError(
        f"run {run_id!r} is not in the marts (built runs, newest first: {known})", exit_code=2
    )


def _matrix(
    counts: list[dict[str, Any]], row_key: str, column_key: str, columns: list[str]
) -> dict[str, Any]:
    """{rows, columns, values[r][c], row_totals, column_totals, total} from count rows."""
    cells: dict[tuple[str, str], int] = defaultdict(int)
    for count in counts:
        cells[(count[row_key], count[column_key])] += int(count["signals"])
    row_totals: dict[str, int] = defaultdict(int)
    for (row, _), value in cells.items():
        row_totals[row] += value
    rows = sorted(row_totals, key=lambda r: (-row_totals[r], r))
    known = set(columns)
    columns = columns + sorted({column for (_, column) in cells if column not in known})
    values = [[cells.get((row, column), 0) for column in columns] for row in rows]
    return {
        "rows": rows,
        "columns": columns,
        "values": values,
        "row_totals": [row_totals[row] for row in rows],
        "column_totals": [sum(values[i][j] for i in range(len(rows))) for j in range(len(columns))],
        "total": sum(row_totals.values()),
    }


def _overview(counts: list[dict[str, Any]]) -> dict[str, Any]:
    for count in counts:
        count["severity_band"] = queries.band_label(count["severity_band"])
    severities = [*queries.SEVERITY_LEVELS, queries.NO_SEVERITY]
    return {
        "type_by_severity": _matrix(counts, "signal_type", "severity", severities),
        "type_by_band": _matrix(
            counts, "signal_type", "severity_band", [*queries.SEVERITY_BANDS, queries.NO_BAND]
        ),
        "domain_by_severity": _matrix(counts, "domain", "severity", severities),
    }


def _round_list(values: Any, decimals: int) -> list[float | None] | None:
    if not isinstance(values, list):
        return None
    return [round(v, decimals) if isinstance(v, int | float) else None for v in values]


def _columnar(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> dict[str, Any]:
    """{columns, rows: [[...]]}: the signal pool without repeating keys in every row."""
    return {"columns": list(columns), "rows": [[row.get(c) for c in columns] for row in rows]}


def _history(
    conn: psycopg.Connection, run_id: str, top: int, timings: Timings
) -> dict[str, Any] | None:
    if not queries.relation_exists(conn, queries.HISTORY_RELATION):
        return None
    with timings.step("history"):
        counts = {row["change_status"]: row for row in queries.history_counts(conn, run_id)}
        listed = queries.history_lists(conn, run_id, queries.HISTORY_LISTED, top)
    lists: dict[str, list[dict[str, Any]]] = {status: [] for status in queries.HISTORY_LISTED}
    for row in listed:
        lists.setdefault(row["change_status"], []).append(row)
    previous = sorted(
        {row["previous_run_id"] for row in counts.values() if row.get("previous_run_id")}
    )
    statuses = [*queries.HISTORY_STATUSES]
    statuses += sorted(set(counts) - set(statuses))
    return {
        "counts": {
            status: int(counts[status]["signals"]) if status in counts else 0 for status in statuses
        },
        "lists": lists,
        "listed": list(queries.HISTORY_LISTED),
        "previous_run_ids": previous,
        "limit": top,
    }


@dataclass
class _Fetched:
    """What the queries return for one run, before it is shaped for the page."""

    runs: list[queries.RunInfo]
    run: queries.RunInfo
    row_counts: list[dict[str, Any]]
    overview: dict[str, Any]
    history: dict[str, Any] | None
    table: list[dict[str, Any]]
    facility_rows: list[dict[str, Any]]
    summaries: list[dict[str, Any]]
    detail_ids: list[str]
    details: dict[str, dict[str, Any]]
    segments: list[dict[str, Any]]


def build_report_data(
    settings: DbSettings,
    options: ReportOptions | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Everything the page shows, for one run (``options.run_id``, default the newest)."""
    options = options or ReportOptions()
    timings = Timings()
    started = time.perf_counter()
    with connect(settings, autocommit=True) as conn:
        fetched = _fetch(conn, settings, options, timings, log)
    with timings.step("assemble"):
        pool, signal_index = _signal_pool(fetched)
        facilities = _facilities(fetched, signal_index)
        detail_list = _details(fetched, signal_index)
    data: dict[str, Any] = {
        "format": 1,
        "generator": f"quality-compass {__version__}",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": settings.database,
        "run": asdict(fetched.run),
        "run_count": len(fetched.runs),
        "options": {
            "top": options.top,
            "table_rows": options.table_rows,
            "facility_signals": options.facility_signals,
            "child_segments": options.child_segments,
        },
        "row_counts": fetched.row_counts,
        "build_health": artefacts.build_health(
            options.target_path or artefacts.default_target_path(), settings.database
        ),
        "overview": fetched.overview,
        "history": fetched.history,
        "signals": _columnar(list(pool.values()), queries.SIGNAL_COLUMNS),
        "table": [signal_index[row["signal_id"]] for row in fetched.table],
        "details": detail_list,
        "facilities": facilities,
    }
    timings.steps["total"] = round(time.perf_counter() - started, 4)
    data["timings"] = timings.steps
    return data


def _fetch(
    conn: psycopg.Connection[Any],
    settings: DbSettings,
    options: ReportOptions,
    timings: Timings,
    log: Callable[[str], None] | None,
) -> _Fetched:
    """Run the report's mart queries for one run (each step timed)."""
    if not queries.relation_exists(conn, f"{queries.MARTS_SCHEMA}.dim_runs"):
        raise QcError(
            f"the marts are not built in database {settings.database!r} "
            f"({queries.MARTS_SCHEMA}.dim_runs is missing): run `qc pipeline RUN_DIR` "
            "or `dbt build` first",
            exit_code=2,
        )
    with timings.step("runs"):
        runs = queries.list_runs(conn)
    run = _pick_run(runs, options.run_id)
    run_id = run.run_id
    if log:
        log(f"report for run {run_id} ({run.graph_name})")
    with timings.step("row_counts"):
        row_counts = queries.relation_row_counts(conn, run_id)
    with timings.step("overview"):
        overview = _overview(queries.signal_counts(conn, run_id))
    history = _history(conn, run_id, options.top, timings)
    with timings.step("top_signals"):
        table = queries.top_signals(conn, run_id, options.table_rows)
    facility_ids = sorted({row["facility_id"] for row in table})
    with timings.step("facilities"):
        facility_rows = queries.facility_signals(
            conn, run_id, facility_ids, options.facility_signals
        )
        summaries = queries.facility_summaries(conn, run_id, facility_ids)
    detail_ids = [row["signal_id"] for row in table[: options.top]]
    with timings.step("details"):
        details = {d["signal_id"]: d for d in queries.signal_details(conn, run_id, detail_ids)}
    with timings.step("contributions"):
        segments = queries.contributions(conn, run_id, detail_ids, options.child_segments)
    return _Fetched(
        runs, run, row_counts, overview, history, table, facility_rows, summaries,
        detail_ids, details, segments,
    )  # fmt: skip


def _signal_pool(fetched: _Fetched) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """One pool of signal rows; the table and the facility views refer to it by index.

    Only the table draws sparklines, so only its rows keep the monthly z-scores.
    """
    pool: dict[str, dict[str, Any]] = {}
    for row in fetched.table:
        row["monthly_z_scores"] = _round_list(row["monthly_z_scores"], SPARKLINE_DECIMALS)
        pool[row["signal_id"]] = row
    for row in fetched.facility_rows:
        if row["signal_id"] not in pool:
            row["monthly_z_scores"] = None
            pool[row["signal_id"]] = row
    return pool, {signal_id: index for index, signal_id in enumerate(pool)}


def _facilities(fetched: _Fetched, signal_index: dict[str, int]) -> dict[str, dict[str, Any]]:
    facilities: dict[str, dict[str, Any]] = {}
    for summary in fetched.summaries:
        facilities[summary["facility_id"]] = {**summary, "signals": []}
    for row in fetched.facility_rows:
        facility = facilities.setdefault(row["facility_id"], {"signals": []})
        facility["signals"].append(signal_index[row["signal_id"]])
    return facilities


def _details(fetched: _Fetched, signal_index: dict[str, int]) -> list[dict[str, Any]]:
    children: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for segment in fetched.segments:
        children[segment.pop("detail_signal_id")].append(segment)
    detail_list = []
    for rank, signal_id in enumerate(fetched.detail_ids, start=1):
        detail = fetched.details.get(signal_id, {"signal_id": signal_id})
        detail["rank"] = rank
        detail["signal"] = signal_index[signal_id]
        detail["contributions"] = children.get(signal_id, [])
        detail_list.append(detail)
    return detail_list
