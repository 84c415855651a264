"""Concurrent writers of the raw tables (issue 10 B): reloads of different runs at the same
time all succeed, and a swap waiting for a reader does not make new readers queue.

``QC_CONCURRENCY_ROUNDS`` (default 2) sets how many times the N = 4 concurrent reloads are
repeated; the closing note of issue 10 ran 20.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from conftest import CONTAINER_RUN, HOST_RUN
from helpers import file_line_counts, popen_qc
from quality_compass.load.loader import load_run
from quality_compass.warehouse.raw_schema import RAW_TABLE_NAMES, RAW_TABLES
from quality_compass.warehouse.settings import DbSettings

ROUNDS = int(os.environ.get("QC_CONCURRENCY_ROUNDS", "2"))


def _load_ids(settings: DbSettings) -> dict[str, int]:
    with psycopg.connect(settings.conninfo()) as conn:
        rows = conn.execute("select run_id, load_id from public.raw_runs").fetchall()
    return {str(run_id): int(load_id) for run_id, load_id in rows}


def _rows_per_run(settings: DbSettings) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    with psycopg.connect(settings.conninfo()) as conn:
        for table in RAW_TABLE_NAMES:
            for run_id, rows in conn.execute(
                f"select run_id, count(*) from public.{table} group by run_id"
            ).fetchall():
                counts.setdefault(str(run_id), {})[table] = int(rows)
    return counts


def test_four_concurrent_reloads_of_different_runs_all_succeed(
    run_copy: Callable[..., Path], fresh_db: DbSettings
) -> None:
    runs = [
        run_copy(CONTAINER_RUN, run_id="20260115110810"),
        run_copy(CONTAINER_RUN, run_id="20260115110811"),
        run_copy(HOST_RUN, run_id="20260115153108"),
        run_copy(HOST_RUN, run_id="20260115153109"),
    ]
    for run in runs:
        load_run(run, fresh_db)
    expected = {
        run.name: {table: rows for table, rows in file_line_counts(run).items() if rows}
        for run in runs
    }
    for round_number in range(1, ROUNDS + 1):
        before = _load_ids(fresh_db)
        processes = [popen_qc(fresh_db, "load", str(run)) for run in runs]
        outcomes = [(process.wait(timeout=300), *process.communicate()) for process in processes]
        failures = [
            f"{run.name}: exit {code}\n{err}"
            for run, (code, _, err) in zip(runs, outcomes, strict=True)
            if code != 0
        ]
        assert not failures, f"round {round_number}:\n" + "\n".join(failures)
        after = _load_ids(fresh_db)
        assert set(after) == set(before)
        assert all(after[run_id] > before[run_id] for run_id in before)
        assert _rows_per_run(fresh_db) == expected
        with psycopg.connect(fresh_db.conninfo()) as conn:
            row = conn.execute(
                "select count(*) from pg_inherits where inhparent = any(%s::regclass[])",
                ([f"public.{name}" for name in RAW_TABLE_NAMES],),
            ).fetchone()
        assert row is not None and row[0] == len(runs) * len(RAW_TABLES)


def test_waiting_swap_lets_new_readers_in_and_says_what_it_waits_for(
    run_copy: Callable[..., Path], fresh_db: DbSettings
) -> None:
    run = run_copy()
    load_run(run, fresh_db)
    # a long reader: holds ACCESS SHARE on raw_entity_results until it commits
    reader = psycopg.connect(fresh_db.conninfo())
    reader.execute("select count(*) from public.raw_entity_results")
    reader_pid = reader.info.backend_pid
    reload = popen_qc(fresh_db, "load", str(run))
    try:
        deadline = time.monotonic() + 60
        with psycopg.connect(fresh_db.conninfo(), autocommit=True) as watcher:
            while time.monotonic() < deadline:  # until the reload asks for the lock
                row = watcher.execute(
                    "select count(*) from pg_locks where not granted "
                    "and relation = 'public.raw_entity_results'::regclass"
                ).fetchone()
                if row and row[0]:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the reload never asked for the lock on raw_entity_results")
        # a new reader arrives while the swap waits: it must not queue behind it for long
        with psycopg.connect(fresh_db.conninfo(), autocommit=True) as newcomer:
            newcomer.execute("set statement_timeout = '10s'")
            started = time.monotonic()
            newcomer.execute("select count(*) from public.raw_entity_results")
            assert time.monotonic() - started < 10
    finally:
        threading.Timer(1.0, reader.close).start()
        code = reload.wait(timeout=120)
        _, err = reload.communicate()
    assert code == 0, err
    message = " ".join(err.split())
    assert (
        f"swapping run {run.name} in: waiting for a lock on raw_entity_results held by pid {reader_pid} (quality_compass)"
        in message
    )
    assert "Ctrl-C aborts, nothing is written" in message
