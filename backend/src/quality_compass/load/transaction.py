"""One run, one transaction: the named steps of a load and its audit rows.

``load_transaction`` runs, inside one transaction:

1. ``lock_run`` — a per-run advisory lock (two loads of the same run queue; different runs
   don't; the writers' lock order is in ``load/locking.py``);
2. ``create_partition`` + ``copy_rows`` per raw table — a fresh table for this load
   (``<table>__l<load_id>``), filled by COPY from the scanner's rows;
3. the reject check — too many bad lines raise ``LoadRejected`` and roll everything back;
4. ``swap_partitions`` — the run's previous partitions out, the new ones in (the only step
   that locks the parent tables);
5. ``register_run`` — ``raw_runs``, the kept rejects and the ``raw_loads`` audit row.

A failure, Ctrl-C or a killed process before the commit leaves the database as it was;
``record_failure`` then audits the attempt in a transaction of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import psycopg
from psycopg import sql

from quality_compass import __version__
from quality_compass.load.build_gate import wait_for_builds
from quality_compass.load.copy_writer import COPY_CHUNK, BoundedQueuedWriter
from quality_compass.load.locking import lock_parents, run_lock, swap_lock
from quality_compass.load.report import (
    LoadOptions,
    LoadRejected,
    LoadReport,
    ProgressCallback,
    rejection_message,
)
from quality_compass.load.scanner import RunScanner
from quality_compass.needle.documents import run_started_at, taxonomy_hash
from quality_compass.needle.run_folder import RunInventory
from quality_compass.warehouse.connection import connect
from quality_compass.warehouse.raw_schema import (
    RAW_TABLES,
    RawTable,
    column_definitions,
    partition_name,
    run_partitions,
)
from quality_compass.warehouse.settings import DbSettings


def load_transaction(
    conn: psycopg.Connection,
    run_inventory: RunInventory,
    report: LoadReport,
    options: LoadOptions,
    progress: ProgressCallback | None,
    notify: Callable[[str], None],
) -> None:
    """Write one run (``report.load_id`` already drawn) and commit, or roll back."""
    assert report.load_id is not None
    allowed = max(options.max_rejects, 0)
    with conn.transaction():
        lock_run(conn, run_inventory.run_id, notify)
        conn.execute("set local synchronous_commit = on")
        scanner = RunScanner(run_inventory, report, progress)
        for table, rows in scanner.tables():
            partition = create_partition(conn, table, run_inventory.run_id, report.load_id)
            report.rows[table.name] = copy_rows(conn, partition, table, rows, report, allowed)
        report.note_left_out()
        if report.reject_count > allowed:
            raise LoadRejected(rejection_message(report, allowed))
        swap_partitions(conn, run_inventory.run_id, report, notify)
        register_run(conn, run_inventory, report, options)


# -- the steps ------------------------------------------------------------------------------


def lock_run(conn: psycopg.Connection, run_id: str, notify: Callable[[str], None]) -> None:
    """Take the run's advisory lock for this transaction, waiting (and saying so) if held."""
    run_lock(conn, run_id, notify)


def create_partition(conn: psycopg.Connection, table: RawTable, run_id: str, load_id: int) -> str:
    """A fresh table with ``table``'s columns that only accepts ``run_id``; returns its name.

    It is created from the column list, not ``LIKE`` the parent: ``LIKE`` would hold a lock
    on the parent from here to the commit, and two loads holding those locks while each
    waits to drop its old partition deadlock (``load/locking.py``).
    """
    part = partition_name(table.name, load_id)
    run_literal = sql.Literal(run_id)
    conn.execute(
        sql.SQL(
            "create table public.{part} ({columns}, constraint {check} check (run_id = {run}))"
        ).format(
            part=sql.Identifier(part),
            columns=sql.SQL(column_definitions(table.name)),
            check=sql.Identifier(f"{part}_run"),
            run=run_literal,
        )
    )
    conn.execute(
        sql.SQL(
            "alter table public.{part} alter column run_id set default {run}, "
            "alter column load_id set default {load}"
        ).format(part=sql.Identifier(part), run=run_literal, load=sql.Literal(load_id))
    )
    return part


def copy_rows(
    conn: psycopg.Connection,
    partition: str,
    table: RawTable,
    rows: Iterator[bytes],
    report: LoadReport,
    allowed: int,
) -> int:
    """COPY ``rows`` into the partition in chunks; returns the number of rows sent.

    Once the rejects exceed ``allowed``, rows are still read (so every reject is counted)
    but no longer sent: the load will fail.
    """
    copy_sql = sql.SQL("copy public.{part} ({cols}) from stdin").format(
        part=sql.Identifier(partition),
        cols=sql.SQL(", ").join(map(sql.Identifier, table.copy_columns)),
    )
    count = 0
    with conn.cursor() as cur, cur.copy(copy_sql, writer=BoundedQueuedWriter(cur)) as copy:
        buffer = bytearray()
        for row in rows:
            if report.reject_count > allowed:
                continue
            buffer += row
            count += 1
            if len(buffer) >= COPY_CHUNK:
                copy.write(buffer)
                buffer = bytearray()
        if buffer and report.reject_count <= allowed:
            copy.write(buffer)
    return count


def swap_partitions(
    conn: psycopg.Connection, run_id: str, report: LoadReport, notify: Callable[[str], None]
) -> None:
    """Drop the run's previous partitions and attach this load's ones.

    Locks in the writers' order (``load/locking.py``): the swap lock, the build gate (waits
    for running dbt builds, ``load/build_gate.py``), then the parents in ``RAW_TABLES``
    order, ``ACCESS EXCLUSIVE`` where an old partition is dropped.
    """
    assert report.load_id is not None
    swap_lock(conn, notify)
    wait_for_builds(conn, notify, f"swapping run {run_id} in")
    previous = conn.execute(
        "select load_id from public.raw_runs where run_id = %s", (run_id,)
    ).fetchone()
    report.replaced_load_id = int(previous[0]) if previous else None
    old_partitions = {table.name: run_partitions(conn, table.name, run_id) for table in RAW_TABLES}
    lock_parents(
        conn,
        [
            (
                table.name,
                "access exclusive" if old_partitions[table.name] else "share update exclusive",
            )
            for table in RAW_TABLES
        ],
        notify,
        f"swapping run {run_id} in",
    )
    for table in RAW_TABLES:
        for old in old_partitions[table.name]:
            conn.execute(sql.SQL("drop table public.{}").format(sql.Identifier(old)))
        conn.execute(
            sql.SQL(
                "alter table public.{table} attach partition public.{part} for values in ({run})"
            ).format(
                table=sql.Identifier(table.name),
                part=sql.Identifier(partition_name(table.name, report.load_id)),
                run=sql.Literal(run_id),
            )
        )


def register_run(
    conn: psycopg.Connection,
    run_inventory: RunInventory,
    report: LoadReport,
    options: LoadOptions,
) -> None:
    """Record the run in ``raw_runs``, keep its rejects and audit the load in ``raw_loads``."""
    rows_json = orjson.dumps(report.rows).decode()
    conn.execute(
        """
        insert into public.raw_runs as runs
            (run_id, graph_name, run_path, load_id, loaded_at, run_started_at, taxonomy_hash,
             files, bytes, rows_by_table, rejects)
        values (%s, %s, %s, %s, now(), %s, %s, %s, %s, %s::jsonb, %s)
        on conflict (run_id) do update set
            graph_name = excluded.graph_name, run_path = excluded.run_path, load_id = excluded.load_id,
            loaded_at = excluded.loaded_at, run_started_at = excluded.run_started_at,
            taxonomy_hash = excluded.taxonomy_hash, files = excluded.files, bytes = excluded.bytes,
            rows_by_table = excluded.rows_by_table, rejects = excluded.rejects
        """,
        (
            run_inventory.run_id,
            run_inventory.graph_name,
            str(run_inventory.run_dir),
            report.load_id,
            run_started_at(run_inventory.run_dir),
            taxonomy_hash(run_inventory.run_dir),
            len(run_inventory.files),
            report.bytes,
            rows_json,
            report.reject_count,
        ),
    )
    store_rejects(conn, report)
    conn.execute(
        """
        insert into public.raw_loads
            (load_id, run_id, graph_name, run_path, action, status, started_at, finished_at, files,
             rows_by_table, bytes, rejects, warnings, error_message, loader_version, options)
        values (%s, %s, %s, %s, 'load', 'succeeded', now(), clock_timestamp(), %s, %s::jsonb, %s, %s,
                %s::jsonb, null, %s, %s::jsonb)
        """,
        (
            report.load_id,
            run_inventory.run_id,
            run_inventory.graph_name,
            str(run_inventory.run_dir),
            len(run_inventory.files),
            rows_json,
            report.bytes,
            report.reject_count,
            orjson.dumps(report.warnings).decode(),
            __version__,
            _options_json(options),
        ),
    )


# -- audit ----------------------------------------------------------------------------------


def store_rejects(conn: psycopg.Connection, report: LoadReport) -> None:
    """The kept rejects of this load into ``raw_load_rejects``."""
    if not report.rejects:
        return
    with conn.cursor() as cur:
        cur.executemany(
            """
            insert into public.raw_load_rejects (load_id, run_id, file_path, line_number, reason, raw_text)
            values (%s, %s, %s, %s, %s, %s)
            """,
            [
                (
                    report.load_id,
                    report.run_id,
                    r.file_path,
                    r.line_number,
                    r.reason,
                    _without_nul(r.text),
                )
                for r in report.rejects
            ],
        )


def _without_nul(text: str | None) -> str | None:
    return text.replace("\x00", "\\u0000") if text else text


def _options_json(options: LoadOptions) -> str:
    return orjson.dumps(
        {"max_rejects": options.max_rejects, "keep_runs": options.keep_runs}
    ).decode()


def record_failure(
    settings: DbSettings, report: LoadReport, options: LoadOptions, started_at: Any, message: str
) -> None:
    """Audit a failed attempt in its own transaction (the load's own was rolled back)."""
    try:
        with connect(settings) as conn, conn.transaction():
            conn.execute(
                """
                insert into public.raw_loads
                    (load_id, run_id, graph_name, run_path, action, status, started_at, finished_at, files,
                     rows_by_table, bytes, rejects, warnings, error_message, loader_version, options)
                values (%s, %s, %s, %s, 'load', 'failed', %s, clock_timestamp(), %s, null, %s, %s,
                        %s::jsonb, %s, %s, %s::jsonb)
                """,
                (
                    report.load_id,
                    report.run_id,
                    report.graph_name,
                    str(report.run_dir),
                    started_at,
                    len(report.files),
                    report.bytes,
                    report.reject_count,
                    orjson.dumps(report.warnings).decode(),
                    message[:10000],
                    __version__,
                    _options_json(options),
                ),
            )
            store_rejects(conn, report)
    except Exception:
        pass
