"""Shared fixtures: a real PostgreSQL for the whole session, fresh databases on demand.

The server is the embedded default (``backend/.qc``) unless ``DBT_POSTGRES_HOST`` points at
another one. Each test session works in databases it creates (``qc_test_*``) and drops at
the end, so a developer's ``quality_compass`` database is never touched.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from quality_compass.config import DbSettings, sample_runs_dir
from quality_compass.db import resolve_settings

TESTS_DIR = Path(__file__).parent
SAMPLE_RUNS = sample_runs_dir()
CONTAINER_RUN = SAMPLE_RUNS / "insight_graph" / "test_minimal" / "20260115110810"
HOST_RUN = SAMPLE_RUNS / "test_minimal" / "20260115153108"


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
