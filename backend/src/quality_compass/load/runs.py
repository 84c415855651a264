"""Run management: the runs in the raw tables — list them, drop one, keep the newest N."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from quality_compass import __version__
from quality_compass.errors import QcError
from quality_compass.load.build_gate import wait_for_builds
from quality_compass.load.locking import Notify, lock_parents, run_lock, swap_lock
from quality_compass.warehouse.connection import connect
from quality_compass.warehouse.raw_schema import (
    RAW_TABLE_NAMES,
    RAW_TABLES,
    ensure_schema,
    run_partitions,
)
from quality_compass.warehouse.settings import DbSettings


@dataclass
class LoadedRun:
    run_id: str
    graph_name: str | None
    load_id: int
    loaded_at: datetime
    run_started_at: datetime | None
    files: int
    bytes: int
    rows_by_table: dict[str, int]
    rejects: int
    run_path: str | None


def list_runs(settings: DbSettings) -> list[LoadedRun]:
    with connect(settings) as conn:
        ensure_schema(conn, __version__)
        rows = conn.execute(
            """
            select run_id, graph_name, load_id, loaded_at, run_started_at, files, bytes, rows_by_table,
                   rejects, run_path
            from public.raw_runs
            order by run_id
            """
        ).fetchall()
    return [LoadedRun(*row) for row in rows]


def drop_run(
    conn: psycopg.Connection, run_id: str, action: str = "drop", notify: Notify | None = None
) -> bool:
    """Remove one run's raw rows (instant: its partitions are dropped). False if not loaded.

    Takes the writers' locks in their order (``load/locking.py``), like a load's swap.
    """
    notify = notify or (lambda message: None)
    with conn.transaction():
        run_lock(conn, run_id, notify)
        found = conn.execute(
            "select graph_name, run_path from public.raw_runs where run_id = %s", (run_id,)
        ).fetchone()
        partitions = [(t.name, p) for t in RAW_TABLES for p in run_partitions(conn, t.name, run_id)]
        if not found and not partitions:
            return False
        swap_lock(conn, notify)
        wait_for_builds(conn, notify, f"dropping run {run_id}")
        # the layout may have changed while waiting: look again
        partitions = [(t.name, p) for t in RAW_TABLES for p in run_partitions(conn, t.name, run_id)]
        tables = sorted({table for table, _ in partitions}, key=RAW_TABLE_NAMES.index)
        lock_parents(
            conn,
            [(table, "access exclusive") for table in tables],
            notify,
            f"dropping run {run_id}",
        )
        for _, part in partitions:
            conn.execute(sql.SQL("drop table public.{}").format(sql.Identifier(part)))
        conn.execute("delete from public.raw_runs where run_id = %s", (run_id,))
        load = conn.execute("select nextval('public.raw_load_id_seq')").fetchone()
        assert load is not None
        conn.execute(
            """
            insert into public.raw_loads
                (load_id, run_id, graph_name, run_path, action, status, started_at, finished_at,
                 loader_version)
            values (%s, %s, %s, %s, %s, 'succeeded', now(), clock_timestamp(), %s)
            """,
            (
                load[0],
                run_id,
                found[0] if found else None,
                found[1] if found else None,
                action,
                __version__,
            ),
        )
    return True


def drop_runs(settings: DbSettings, run_id: str, notify: Notify | None = None) -> None:
    with connect(settings) as conn:
        ensure_schema(conn, __version__)
        if not drop_run(conn, run_id, notify=notify):
            raise QcError(f"run {run_id} is not loaded (see `qc runs list`)")


def prune_runs(
    conn: psycopg.Connection, keep: int, protect: str | None = None, notify: Notify | None = None
) -> list[str]:
    """Drop all but the newest ``keep`` runs (newest = greatest run_id, as ``--latest``)."""
    if keep < 1:
        raise QcError("--keep-runs must be at least 1", exit_code=2)
    rows = conn.execute("select run_id from public.raw_runs order by run_id desc").fetchall()
    conn.commit()
    victims = [str(r[0]) for r in rows[keep:] if r[0] != protect]
    for run_id in victims:
        drop_run(conn, run_id, action="prune", notify=notify)
    return victims
