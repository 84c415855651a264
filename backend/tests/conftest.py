"""Shared fixtures: a real PostgreSQL for the whole session, fresh databases on demand.

The server is the embedded default (``backend/.qc``) unless ``DBT_POSTGRES_HOST`` points at
another one. Each test session works in databases it creates (``qc_test_*``) and drops at
the end, so a developer's ``quality_compass`` database is never touched.

The suite runs on pytest-xdist workers (``-n auto --dist loadfile``: a module stays on one
worker, so its module fixtures are built once). Expensive session fixtures such as the
``warehouse`` are built ONCE per test run and shared by every worker (``shared_fixture``):
the first worker that needs one builds it under a file lock, the others wait and reuse
it; such shared databases (``qc_test_shared_<run uid>_*``) are dropped by the controller
when the whole run ends.

Markers: ``dbt`` (the test runs dbt or reads a dbt-built database; every test that uses
the ``warehouse`` fixture gets it automatically), ``browser`` (headless Chromium) and
``server`` (the test starts PostgreSQL servers of its own). The inner loop is ``pytest -m "not dbt and not server"`` (no dbt, no servers of its own).
"""

from __future__ import annotations

import fcntl
import os
import pickle
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


# -- one test run, several workers ------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    """The controller (or the only process) fixes the run's uid; xdist hands it to workers."""
    if hasattr(config, "workerinput"):
        return
    if getattr(config.option, "testrunuid", None) is None:
        config.option.testrunuid = uuid.uuid4().hex  # read by xdist's NodeManager


def run_uid(config: pytest.Config) -> str:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return str(workerinput["testrunuid"])
    return str(config.option.testrunuid)


def shared_prefix(config: pytest.Config) -> str:
    return f"qc_test_shared_{run_uid(config)[:12]}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that reads the dbt-built warehouse runs dbt (indirectly): mark it."""
    for item in items:
        if "warehouse" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.dbt)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller drops the databases the workers shared, once every worker is done."""
    config = session.config
    if hasattr(config, "workerinput") or os.environ.get("QC_KEEP_TEST_DATABASES"):
        return
    prefix = shared_prefix(config)
    try:
        server = resolve_settings(start_embedded=False)
        with psycopg.connect(server.conninfo(database="postgres"), autocommit=True) as conn:
            names = [
                str(row[0])
                for row in conn.execute(
                    "select datname from pg_database where starts_with(datname, %s)", (prefix,)
                ).fetchall()
            ]
            for name in names:
                conn.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )
    except Exception:  # no server: nothing was shared
        return


def shared_fixture(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    build: Callable[[], Any],
) -> Any:
    """Build ``name`` once per test run, whichever worker asks first; the others wait.

    The value is pickled next to the workers' temporary folders (their common parent).
    Without xdist this is just ``build()``.
    """
    if not hasattr(request.config, "workerinput"):
        return build()
    root = tmp_path_factory.getbasetemp().parent
    stored = root / f"shared_{name}.pickle"
    with open(root / f"shared_{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stored.exists():
            return pickle.loads(stored.read_bytes())
        value = build()
        stored.write_bytes(pickle.dumps(value))
        return value


@pytest.fixture(scope="session")
def server_homes() -> Iterator[Callable[[str], Path]]:
    """New ``QC_HOME`` paths for tests that run a private embedded server.

    As root the server runs as the account ``pgserver``, and qc never opens folders outside
    the project for it: pytest's ``tmp_path`` (under a 0700 folder of root) is out of its
    reach. These homes live in a /tmp folder open for search only (0711); qc creates each
    home itself. Servers must be stopped by the tests that start them. At the end, a server
    area a home still records (outside the project: ``warehouse.server_area``) is
    destroyed with it.
    """
    from quality_compass.warehouse.embedded import EmbeddedPostgres
    from quality_compass.warehouse.server_area import RECORD_NAME

    base = Path(tempfile.mkdtemp(prefix="qc-test-homes-"))
    base.chmod(0o711)
    made: list[Path] = []

    def make(name: str) -> Path:
        made.append(base / f"{name}-{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield make
    for home in made:
        if (home / RECORD_NAME).is_file():
            EmbeddedPostgres(home).destroy()
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
#: contribution JSONL, classifications.jsonl), two metrics, deterministic. It is the first
#: run of a generated series (``qc generate --series``); the warehouse also loads the two
#: later runs (``synthetic_2``, ``synthetic_3``), so fct_signal_history has a generated series.
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

    ``runs`` maps a short name (``container``, ``host``, ``synthetic``, ``synthetic_2``,
    ``synthetic_3``) to the run folder;
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


WAREHOUSE_SERIES = 3


def _synthetic_runs(out_dir: Path) -> dict[str, Path]:
    """Generate the warehouse's synthetic series (an import failure fails the tests using it)."""
    from quality_compass.synth.generate.options import GenerateOptions
    from quality_compass.synth.generate.series import generate_series

    options = GenerateOptions(out_dir=out_dir, **WAREHOUSE_SYNTHETIC)  # type: ignore[arg-type]
    runs = [result.run_dir for result in generate_series(options, WAREHOUSE_SERIES)]
    return {"synthetic": runs[0], **{f"synthetic_{i + 1}": run for i, run in enumerate(runs) if i}}


@pytest.fixture(scope="session")
def warehouse(
    request: pytest.FixtureRequest,
    pg_server: DbSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Warehouse:
    """Both bundled real runs and a series of three complete synthetic runs, loaded and
    built by dbt once.

    ``dbt build`` also loads the seeds (no separate ``dbt seed``) and runs every model, unit
    test and data test; dbt costs ~6 s per invocation, so the whole test run shares this
    build (every worker; see ``shared_fixture``). The build may fail: tests assert on
    ``warehouse.build`` themselves. Each worker gets its own copy of the dbt target folder,
    so tests that run dbt against the warehouse never write into another worker's.
    """

    def build() -> Warehouse:
        settings = _create_database(pg_server, f"{shared_prefix(request.config)}_warehouse")
        runs: dict[str, Path] = {
            "container": CONTAINER_RUN,
            "host": HOST_RUN,
            **_synthetic_runs(tmp_path_factory.mktemp("warehouse_runs")),
        }
        for run_dir in runs.values():
            load_run(run_dir, settings)
        target_path = tmp_path_factory.mktemp("warehouse_dbt_target")
        result = run_dbt(["build"], settings, target_path=target_path, stream=False, check=False)
        return Warehouse(settings=settings, runs=runs, build=result, target_path=target_path)

    shared: Warehouse = shared_fixture(request, tmp_path_factory, "warehouse", build)
    local_target = tmp_path_factory.mktemp("warehouse_dbt_target_local")
    shutil.copytree(shared.target_path, local_target, dirs_exist_ok=True)
    return Warehouse(
        settings=shared.settings, runs=shared.runs, build=shared.build, target_path=local_target
    )
