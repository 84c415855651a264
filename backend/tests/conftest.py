"""Shared fixtures: a real PostgreSQL for the whole session, fresh databases on demand.

The server is the embedded default (``backend/.qc``) unless ``DBT_POSTGRES_HOST`` points at
another one. Each test session works in databases it creates (``qc_test_*``) and drops at
the end, so a developer's ``quality_compass`` database is never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from quality_compass.load.loader import load_run
from quality_compass.paths import sample_runs_dir
from quality_compass.warehouse.connection import resolve_settings
from quality_compass.warehouse.dbt_runner import DbtResult, run_dbt
from quality_compass.warehouse.settings import DbSettings

TESTS_DIR = Path(__file__).parent
SAMPLE_RUNS = sample_runs_dir()
CONTAINER_RUN = SAMPLE_RUNS / "insight_graph" / "test_minimal" / "20260115110810"
HOST_RUN = SAMPLE_RUNS / "test_minimal" / "20260115153108"


@pytest.fixture(scope="session")
def server_homes() -> Iterator[Callable[[str], Path]]:
    """New ``QC_HOME`` paths for tests that run a private embedded server.

    As root the server runs as the account ``pgserver``, and qc never opens folders outside
    the project for it: pytest's ``tmp_path`` (under a 0700 folder of root) is out of its
    reach. These homes live in a /tmp folder open for search only (0711); qc creates each
    home itself. Servers must be stopped by the tests that start them.
    """
    base = Path(tempfile.mkdtemp(prefix="qc-test-homes-"))
    base.chmod(0o711)

    def make(name: str) -> Path:
        return base / f"{name}-{uuid.uuid4().hex[:8]}"

    yield make
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> DbSettings:
    """Connection settings of the server every integration test uses."""
    return resolve_settings(start_embedded=True)


def _create_database(server: DbSettings, prefix: str) -> DbSettings:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server.conninfo(database="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return server.with_database(name)


def _drop_database(settings: DbSettings) -> None:
    with psycopg.connect(settings.conninfo(database="postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(
                sql.Identifier(settings.database)
            )
        )


@pytest.fixture(scope="session")
def database_factory(pg_server: DbSettings) -> Iterator[Callable[[str], DbSettings]]:
    """Create fresh databases; all are dropped when the session ends."""
    created: list[DbSettings] = []

    def make(prefix: str = "qc_test") -> DbSettings:
        settings = _create_database(pg_server, prefix)
        created.append(settings)
        return settings

    yield make
    if os.environ.get("QC_KEEP_TEST_DATABASES"):
        return
    for settings in created:
        _drop_database(settings)


@pytest.fixture
def fresh_db(database_factory: Callable[[str], DbSettings]) -> DbSettings:
    """A new empty database for one test."""
    return database_factory("qc_test")


@pytest.fixture
def run_copy(tmp_path: Path) -> Callable[..., Path]:
    """Copy a bundled real run into tmp_path (tests that damage a run use this)."""

    def make(
        source: Path = CONTAINER_RUN, run_id: str | None = None, graph: str | None = None
    ) -> Path:
        graph_name = graph or source.parent.name
        target = tmp_path / "runs" / graph_name / (run_id or source.name)
        shutil.copytree(source, target)
        return target

    return make


# -- dbt warehouse: one database, every sample run (+ a complete synthetic run), ONE build ---

#: The synthetic run the warehouse adds: small, complete (multi-dimension node files,
#: contribution JSONL, classifications.jsonl), two metrics, deterministic.
WAREHOUSE_SYNTHETIC = {
    "facilities": 40,
    "months": 12,
    "metrics": 2,
    "seed": 7,
    "run_id": "20260201090000",
    "graph": "warehouse_synthetic",
}


@dataclass
class Warehouse:
    """A database with runs loaded and the whole dbt project built once (``dbt build``).

    ``runs`` maps a short name (``container``, ``host``, ``synthetic``) to the run folder;
    ``build`` is the build's DbtResult (``build.run_results`` holds dbt's run_results.json).
    Tests must not change its data; tests that need to (e.g. ageing rows) use their own
    database.
    """

    settings: DbSettings
    runs: dict[str, Path]
    build: DbtResult
    target_path: Path

    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.settings.conninfo()) as conn:
            return conn.execute(statement.encode(), params).fetchall()

    def results_with_status(self, *statuses: str) -> list[dict[str, Any]]:
        return [
            result
            for result in (self.build.run_results or {}).get("results", [])
            if result.get("status") in statuses
        ]


def _synthetic_run(out_dir: Path) -> Path | None:
    """Generate the warehouse's synthetic run, or None when the generator is unavailable."""
    try:
        from quality_compass.synth.generate.options import GenerateOptions
        from quality_compass.synth.generate.run import generate_run
    except ImportError:  # pragma: no cover - the generator predates these tests
        return None
    options = GenerateOptions(out_dir=out_dir, **WAREHOUSE_SYNTHETIC)  # type: ignore[arg-type]
    return generate_run(options).run_dir


@pytest.fixture(scope="session")
def warehouse(
    database_factory: Callable[[str], DbSettings], tmp_path_factory: pytest.TempPathFactory
) -> Warehouse:
    """Both bundled real runs and one complete synthetic run, loaded and built by dbt once.

    ``dbt build`` also loads the seeds (no separate ``dbt seed``) and runs every model, unit
    test and data test; dbt costs ~6 s per invocation, so the session shares this build.
    The build may fail: tests assert on ``warehouse.build`` themselves.
    """
    settings = database_factory("qc_test_warehouse")
    runs: dict[str, Path] = {"container": CONTAINER_RUN, "host": HOST_RUN}
    synthetic = _synthetic_run(tmp_path_factory.mktemp("warehouse_runs"))
    if synthetic is not None:
        runs["synthetic"] = synthetic
    for run_dir in runs.values():
        load_run(run_dir, settings)
    target_path = tmp_path_factory.mktemp("warehouse_dbt_target")
    build = run_dbt(["build"], settings, target_path=target_path, stream=False, check=False)
    return Warehouse(settings=settings, runs=runs, build=build, target_path=target_path)
