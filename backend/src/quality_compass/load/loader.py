"""``qc load``: validate a run folder and write it into the raw tables, atomically.

``load_run`` takes the run's inventory (``needle/run_folder.py``), then either scans it
without a database (``--dry-run``) or draws a load id and runs ``load_transaction``
(``load/transaction.py``): one run in one transaction, so a reload replaces exactly that
run and a failure leaves the database as it was. Memory stays bounded: a file is never
held whole (except the legacy unsharded ``results/nodes/*.json`` layout).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from quality_compass import __version__
from quality_compass.errors import QcError
from quality_compass.load.cpu_affinity import separate_cpus
from quality_compass.load.report import LoadOptions, LoadReport, ProgressCallback
from quality_compass.load.runs import prune_runs
from quality_compass.load.scanner import RunScanner
from quality_compass.load.transaction import load_transaction, record_failure
from quality_compass.needle.run_folder import RunInventory, inventory
from quality_compass.warehouse.connection import connect
from quality_compass.warehouse.raw_schema import ensure_schema
from quality_compass.warehouse.settings import DbSettings


def scan_only(
    run_inventory: RunInventory, report: LoadReport, progress: ProgressCallback | None = None
) -> None:
    """Every check of a load, without a database: counts rows and rejects into ``report``."""
    scanner = RunScanner(run_inventory, report, progress)
    for table, rows in scanner.tables():
        report.rows[table.name] = sum(1 for _ in rows)
    report.note_left_out()


def load_run(
    run_dir: Path,
    settings: DbSettings | None,
    options: LoadOptions | None = None,
    *,
    progress_factory: Callable[[int], ProgressCallback] | None = None,
    notify: Callable[[str], None] | None = None,
) -> LoadReport:
    """Validate and load one run folder. Raises LoadRejected/QcError on failure."""
    options = options or LoadOptions()
    started = time.perf_counter()
    run_inventory = inventory(run_dir)
    report = LoadReport(
        run_id=run_inventory.run_id,
        graph_name=run_inventory.graph_name,
        run_dir=run_inventory.run_dir,
        dry_run=options.dry_run,
    )
    report.warnings.extend(run_inventory.warnings)
    report.bytes = run_inventory.total_bytes
    progress = progress_factory(run_inventory.total_bytes) if progress_factory else None

    if options.dry_run:
        scan_only(run_inventory, report, progress)
        report.seconds = time.perf_counter() - started
        allowed = max(options.max_rejects, 0)
        report.status = "valid" if report.reject_count <= allowed else "invalid"
        return report

    if settings is None:
        raise QcError("no database configured", exit_code=2)
    notify = notify or (lambda message: None)
    _load(settings, run_inventory, report, options, progress, notify, started)
    report.seconds = time.perf_counter() - started
    return report


def _load(
    settings: DbSettings,
    run_inventory: RunInventory,
    report: LoadReport,
    options: LoadOptions,
    progress: ProgressCallback | None,
    notify: Callable[[str], None],
    started: float,
) -> None:
    """Draw a load id, run the load's transaction, audit a failure, prune on success."""
    conn = connect(settings)
    try:
        ensure_schema(conn, __version__)
        row = conn.execute("select nextval('public.raw_load_id_seq'), now()").fetchone()
        assert row is not None
        report.load_id = int(row[0])
        conn.commit()
        attempt_started = row[1]
        try:
            with separate_cpus(conn, settings):
                load_transaction(conn, run_inventory, report, options, progress, notify)
        except BaseException as exc:
            report.status = "failed"
            report.seconds = time.perf_counter() - started
            record_failure(settings, report, options, attempt_started, _failure_message(exc))
            if isinstance(exc, psycopg.Error):
                raise QcError(
                    f"load of run {run_inventory.run_id} failed in the database: {str(exc).strip()}"
                ) from None
            raise
        report.status = "succeeded"
        if options.keep_runs is not None:
            report.pruned = prune_runs(
                conn, options.keep_runs, protect=run_inventory.run_id, notify=notify
            )
    finally:
        conn.close()


def _failure_message(exc: BaseException) -> str:
    """What the audit row says about a failed attempt."""
    if isinstance(exc, QcError):
        return exc.message
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"{type(exc).__name__}: {exc}"
