"""`dbt run-operation vacuum_analyze_table` takes names, never SQL (issue 10, defect H).

A schema_name of ``zz' or (select …) = 'x' or 'a' ilike 'b`` used to run the injected
``select`` (dbt-postgres pastes the schema into an ``ilike '…'``). The injected SQL here
advances a sequence: sequences ignore rollbacks, so the marker shows whether any of it
ran, whatever happened to the transaction afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from quality_compass.warehouse.dbt_runner import DbtResult, run_dbt
from quality_compass.warehouse.settings import DbSettings

pytestmark = pytest.mark.dbt

INJECTED_SCHEMA = "zz' or (select nextval('public.injection_marker'))::text = 'x' or 'a' ilike 'b"


@dataclass
class Operations:
    settings: DbSettings
    injected: DbtResult
    legitimate: DbtResult

    def one(self, statement: str) -> object:
        with psycopg.connect(self.settings.conninfo()) as conn:
            row = conn.execute(statement.encode()).fetchone()
        assert row is not None
        return row[0]


def _vacuum(settings: DbSettings, target: Path, **arguments: str) -> DbtResult:
    return run_dbt(
        ["run-operation", "vacuum_analyze_table", "--args", json.dumps(arguments)],
        settings,
        target_path=target,
        stream=False,
        check=False,
    )


@pytest.fixture(scope="module")
def operations(
    database_factory: Callable[[str], DbSettings], tmp_path_factory: pytest.TempPathFactory
) -> Operations:
    settings = database_factory("qc_test_maintenance")
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        conn.execute("create schema odd")
        conn.execute("create table odd.vacuum_me as select generate_series(1, 100) as id")
        conn.execute("create sequence public.injection_marker")
    target = tmp_path_factory.mktemp("maintenance_target")
    return Operations(
        settings=settings,
        injected=_vacuum(settings, target, table_name="vacuum_me", schema_name=INJECTED_SCHEMA),
        legitimate=_vacuum(settings, target, table_name="vacuum_me", schema_name="odd"),
    )


def test_injected_schema_name_is_refused_and_runs_nothing(operations: Operations) -> None:
    assert operations.injected.returncode != 0
    assert "vacuum_analyze_table: no table named 'vacuum_me' in schema 'zz'" in (
        operations.injected.output
    )
    assert operations.one("select is_called from public.injection_marker") is False
    assert (
        operations.one(
            "select vacuum_count from pg_stat_user_tables"
            " where schemaname = 'odd' and relname = 'vacuum_me'"
        )
        == 1  # the legitimate call's VACUUM only
    )


def test_named_schema_still_works(operations: Operations) -> None:
    assert operations.legitimate.ok, operations.legitimate.output
    assert 'VACUUM (ANALYZE) "' in operations.legitimate.output
    assert '"odd"."vacuum_me" done' in operations.legitimate.output
