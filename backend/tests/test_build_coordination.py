"""Loads, drops and dbt builds take turns (issue 10 C): a build sees one set of runs, and a
load or drop that has to wait says what it waits for.

``qc runs drop`` issued during a running ``dbt build`` waits for it and says so; the build
passes on the runs it started with; the next build removes the run from every model. A
build that crashed without its on-run-end does not block writers for ever.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from conftest import CONTAINER_RUN, HOST_RUN
from helpers import popen_qc, qc_env
from quality_compass.load.loader import load_run
from quality_compass.paths import dbt_project_dir
from quality_compass.warehouse.dbt_runner import dbt_executable, run_dbt
from quality_compass.warehouse.settings import DbSettings

pytestmark = pytest.mark.dbt

DROPPED = "20260115153108"


def _registered_builds(settings: DbSettings) -> int:
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        exists = conn.execute("select to_regclass('public.qc_builds') is not null").fetchone()
        if not (exists and exists[0]):
            return 0
        row = conn.execute("select count(*) from public.qc_builds").fetchone()
    return int(row[0]) if row else 0


def _registered_and_loaded(settings: DbSettings, run_id: str) -> tuple[bool, bool]:
    """(a build is registered, the run is loaded), read in one snapshot."""
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        row = conn.execute(
            "select exists (select 1 from public.qc_builds), "
            "exists (select 1 from public.raw_runs where run_id = %s)",
            (run_id,),
        ).fetchone()
    assert row is not None
    return bool(row[0]), bool(row[1])


def _is_loaded(settings: DbSettings, run_id: str) -> bool:
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from public.raw_runs where run_id = %s", (run_id,)
        ).fetchone()
    return bool(row and row[0])


def _start_build(settings: DbSettings, target_path: Path) -> subprocess.Popen[str]:
    """``dbt build`` in the background; its output goes to a file (a pipe would fill up)."""
    project = dbt_project_dir()
    env = qc_env(settings)
    env["DBT_TARGET_PATH"] = str(target_path)
    target_path.mkdir(parents=True)
    with open(target_path / "dbt.log", "w") as log:
        return subprocess.Popen(
            [
                *dbt_executable(),
                "build",
                "--profiles-dir",
                str(project),
                "--project-dir",
                str(project),
            ],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def _models_holding(settings: DbSettings, run_id: str) -> list[str]:
    """Every table or view of the dbt schemas with a run_id column that still has the run."""
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        relations = conn.execute(
            """
            select table_schema, table_name from information_schema.columns
            where column_name = 'run_id' and table_schema like 'public\\_%'
              and table_schema not like '%\\_partitions' and table_schema not like '%\\_meta'
              and table_schema <> 'public_test_failures'
            """
        ).fetchall()
        holding = []
        for schema, table in relations:
            row = conn.execute(
                sql.SQL("select count(*) from {}.{} where run_id = %s").format(
                    sql.Identifier(schema), sql.Identifier(table)
                ),
                (run_id,),
            ).fetchone()
            if row and row[0]:
                holding.append(f"{schema}.{table}")
    return holding


def test_a_drop_during_a_build_waits_and_the_build_sees_one_set_of_runs(
    fresh_db: DbSettings, tmp_path: Path
) -> None:
    load_run(CONTAINER_RUN, fresh_db)
    load_run(HOST_RUN, fresh_db)
    build = _start_build(fresh_db, tmp_path / "first")
    try:
        _wait_for(lambda: _registered_builds(fresh_db) == 1, 120, "the build to register")
        drop = popen_qc(fresh_db, "runs", "drop", DROPPED)
        # while the build is registered (on-run-start to on-run-end), the drop waits
        checks = 0
        while build.poll() is None:
            registered, loaded = _registered_and_loaded(fresh_db, DROPPED)
            if registered:
                checks += 1
                assert loaded, "the run was dropped during the build"
            time.sleep(0.5)
        assert checks > 5, "the build ended before the drop could be seen waiting"
    finally:
        if build.poll() is None:
            build.kill()
    assert build.returncode == 0, (tmp_path / "first" / "dbt.log").read_text()[-4000:]
    out, err = drop.communicate(timeout=120)
    assert drop.returncode == 0, err
    message = " ".join(err.split())
    assert f"dropping run {DROPPED}: waiting for the dbt build started" in message
    assert "to finish; Ctrl-C aborts, nothing is written" in message
    assert f"run {DROPPED} dropped" in out
    assert not _is_loaded(fresh_db, DROPPED)
    assert _registered_builds(fresh_db) == 0

    # before the next build the marts still hold the run; after it, no model does
    assert _models_holding(fresh_db, DROPPED)
    run_dbt(["run"], fresh_db, stream=False, target_path=tmp_path / "second")
    assert _models_holding(fresh_db, DROPPED) == []


def test_a_crashed_build_does_not_block_writers_for_ever(
    fresh_db: DbSettings, run_copy: Callable[..., Path]
) -> None:
    run = run_copy()
    load_run(run, fresh_db)
    with psycopg.connect(fresh_db.conninfo(), autocommit=True) as conn:
        conn.execute(
            "insert into public.qc_builds (invocation_id, command, target, application_name) "
            "values ('killed-build', 'build', 'dev', 'dbt-that-was-killed')"
        )
    started = time.monotonic()
    reload = subprocess.run(
        [sys.executable, "-m", "quality_compass", "load", str(run)],
        capture_output=True,
        text=True,
        env={**qc_env(fresh_db), "QC_BUILD_STALE_SECONDS": "2"},
        timeout=120,
    )
    assert reload.returncode == 0, reload.stderr
    message = " ".join(reload.stderr.split())
    assert "waiting for the dbt build started" in message and "(invocation killed-build)" in message
    assert (
        "has had no database session for 2 s: taken as crashed, its registration removed" in message
    )
    assert time.monotonic() - started < 60
    assert _registered_builds(fresh_db) == 0
