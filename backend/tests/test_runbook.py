"""The dbt runbook (README, docs/architecture/marts.md) works as written, on a real server.

One module-scoped database with a small complete synthetic run; the runbook's commands run
once each, in this order, and the tests look at their results:

    dbt seed
    dbt build
    dbt source freshness
    dbt test --store-failures
    dbt run-operation vacuum_analyze_table --args '{"table_name": "fct_signals"}'
    dbt docs generate
    dbt run --select fct_signals+
    dbt build --target prod --full-refresh      (prod pointed at the test server)
    dbt seed / source freshness / docs generate --target prod   (the deployment checklist)

The dev steps share one target folder, so dbt parses the project once and re-uses it
(partial parsing; ~10 s saved per command); each step's artifacts are copied aside. The
prod build comes last because a target change forces a full parse.

The rollback procedure of docs/architecture/dbt_rollback.md is exercised on a scratch copy
of the dbt project under git: a broken fct_signals.sql is committed, the rebuild fails while
the old table keeps serving, `git checkout <bad commit>^ -- models/marts/fct_signals.sql`
restores it and `dbt run --select fct_signals+` rebuilds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from quality_compass.load.loader import load_run
from quality_compass.warehouse.dbt_runner import DbtResult, run_dbt
from quality_compass.warehouse.settings import DbSettings

pytestmark = pytest.mark.dbt

DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt"
RUNBOOK_SYNTHETIC = {
    "facilities": 24,
    "months": 8,
    "seed": 13,
    "run_id": "20260202080000",
    "graph": "runbook_synthetic",
}
VACUUM_ARGS = '{"table_name": "fct_signals"}'
# The prod target refuses a session that is not encrypted (on-run-start hook); the test
# server is the embedded one, reached over its unix socket, so the runbook's prod steps
# switch the check off. tests/test_tls.py runs the prod target against a TLS server.
PLAIN_TEST_SERVER = ["--vars", "{require_tls: false}"]
RUNBOOK: list[tuple[str, list[str]]] = [
    ("seed", ["seed"]),
    ("build", ["build"]),
    ("freshness", ["source", "freshness"]),
    ("test_store_failures", ["test", "--store-failures"]),
    ("vacuum", ["run-operation", "vacuum_analyze_table", "--args", VACUUM_ARGS]),
    ("docs", ["docs", "generate"]),
    ("rebuild_signals", ["run", "--select", "fct_signals+"]),
    ("build_prod", ["build", "--target", "prod", "--full-refresh", *PLAIN_TEST_SERVER]),
    # the rest of the production deployment checklist (README)
    ("seed_prod", ["seed", "--target", "prod", *PLAIN_TEST_SERVER]),
    ("freshness_prod", ["source", "freshness", "--target", "prod", *PLAIN_TEST_SERVER]),
    ("docs_prod", ["docs", "generate", "--target", "prod", *PLAIN_TEST_SERVER]),
]
ARTIFACTS = ("run_results.json", "sources.json", "catalog.json", "manifest.json")


@dataclass
class Runbook:
    settings: DbSettings
    results: dict[str, DbtResult]
    targets: dict[str, Path]
    signals_before_rebuild: int
    vacuumed_after_operation: list[tuple[Any, ...]]

    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.settings.conninfo()) as conn:
            return conn.execute(statement.encode(), params).fetchall()


def _vacuum_stats(settings: DbSettings) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.conninfo()) as conn:
        # fct_signals is partitioned by run: VACUUM (ANALYZE) of it processes every partition
        return conn.execute(
            """
            select bool_and(stats.last_vacuum is not null and stats.last_analyze is not null)
            from pg_inherits as inheritance
            join pg_stat_user_tables as stats on stats.relid = inheritance.inhrelid
            where inheritance.inhparent = to_regclass('public_marts.fct_signals')
            """
        ).fetchall()


def _count_signals(settings: DbSettings) -> int:
    with psycopg.connect(settings.conninfo()) as conn:
        row = conn.execute("select count(*) from public_marts.fct_signals").fetchone()
    return int(row[0]) if row else -1


@pytest.fixture(scope="module")
def runbook(
    database_factory: Callable[[str], DbSettings], tmp_path_factory: pytest.TempPathFactory
) -> Runbook:
    from quality_compass.synth.generate.options import GenerateOptions
    from quality_compass.synth.generate.run import generate_run

    settings = database_factory("qc_test_runbook")
    run_dir = generate_run(
        GenerateOptions(out_dir=tmp_path_factory.mktemp("runbook_runs"), **RUNBOOK_SYNTHETIC)  # type: ignore[arg-type]
    ).run_dir
    load_run(run_dir, settings)
    results: dict[str, DbtResult] = {}
    targets: dict[str, Path] = {}
    shared_target = tmp_path_factory.mktemp("runbook_target")
    before = -1
    vacuumed: list[tuple[Any, ...]] = []
    for step, args in RUNBOOK:
        targets[step] = tmp_path_factory.mktemp(f"runbook_{step}")
        extra_env = {}
        if "prod" in args:
            # prod: no defaults for host/user/password/database, TLS required. Over the
            # embedded server's unix socket libpq ignores sslmode (PLAIN_TEST_SERVER).
            extra_env["DBT_POSTGRES_SSLMODE"] = "require"
        if step == "rebuild_signals":
            before = _count_signals(settings)
        started = time.time()
        results[step] = run_dbt(
            args,
            settings,
            target_path=shared_target,
            stream=False,
            check=False,
            extra_env=extra_env,
        )
        for name in ARTIFACTS:  # what this step wrote
            artifact = shared_target / name
            if artifact.is_file() and artifact.stat().st_mtime >= started - 1:
                shutil.copy(artifact, targets[step] / name)
        if step == "vacuum":  # before the rebuild replaces the table (and its statistics)
            vacuumed = _vacuum_stats(settings)
    return Runbook(
        settings=settings,
        results=results,
        targets=targets,
        signals_before_rebuild=before,
        vacuumed_after_operation=vacuumed,
    )


def _statuses(result: DbtResult) -> dict[str, int]:
    return result.statuses()


@pytest.mark.parametrize("step", [step for step, _ in RUNBOOK])
def test_runbook_command_succeeds(runbook: Runbook, step: str) -> None:
    result = runbook.results[step]
    assert result.ok, f"dbt {' '.join(result.args)} failed:\n{result.output[-4000:]}"


def test_seed_and_builds_create_every_mart(runbook: Runbook) -> None:
    assert _statuses(runbook.results["seed"]) == {"success": 1}
    for step in ("build", "build_prod"):
        statuses = _statuses(runbook.results[step])
        assert statuses.get("error", 0) == 0 and statuses.get("fail", 0) == 0, statuses
        assert statuses["success"] >= 30 and statuses["pass"] >= 300, statuses
    # the prod build really used the prod target (sslmode require, 8 threads)
    assert "target='prod'" in runbook.results["build_prod"].output
    assert "Concurrency: 8 threads" in runbook.results["build_prod"].output
    counts = runbook.query(
        """
        select
            (select count(*) from public_marts.fct_signals),
            (select count(*) from public_marts.fct_contributions),
            (select count(*) from public_marts.dim_facilities),
            (select count(*) from public_marts.dim_metrics)
        """
    )[0]
    assert all(count > 0 for count in counts), counts


def test_freshness_passes_right_after_a_load(runbook: Runbook) -> None:
    sources = json.loads((runbook.targets["freshness"] / "sources.json").read_text())
    assert {entry["status"] for entry in sources["results"]} == {"pass"}


def test_store_failures_writes_the_failure_tables(runbook: Runbook) -> None:
    statuses = _statuses(runbook.results["test_store_failures"])
    assert statuses.get("fail", 0) == 0 and statuses.get("error", 0) == 0, statuses
    tables = runbook.query(
        "select count(*) from information_schema.tables where table_schema = 'public_test_failures'"
    )[0][0]
    assert tables > 100  # one table per data test, empty when it passes


def test_vacuum_analyze_ran_outside_a_transaction(runbook: Runbook) -> None:
    assert "public_marts" in runbook.results["vacuum"].output
    assert runbook.vacuumed_after_operation == [(True,)]


def test_docs_generate_documents_the_marts(runbook: Runbook) -> None:
    catalog = json.loads((runbook.targets["docs"] / "catalog.json").read_text())
    manifest = json.loads((runbook.targets["docs"] / "manifest.json").read_text())
    for model in ("fct_signals", "fct_contributions", "dim_facilities", "dim_metrics"):
        unique_id = f"model.quality_compass.{model}"
        assert unique_id in catalog["nodes"], model
        assert manifest["nodes"][unique_id]["description"]
    assert {e.split(".")[-1] for e in manifest["exposures"]} == {
        "signal_api",
        "contribution_api",
        "quality_compass_dashboard",
        "signal_workflow_service",
    }
    assert len(manifest["semantic_models"]) == 5 and len(manifest["metrics"]) >= 20


def test_rebuild_of_signals_and_children(runbook: Runbook) -> None:
    result = runbook.results["rebuild_signals"]
    built = {
        r["unique_id"].split(".")[-1]
        for r in (result.run_results or {}).get("results", [])
        if r["status"] == "success" and not r["unique_id"].startswith("operation.")  # hooks
    }
    # fct_signals and the models downstream of it: none (marts do not select from marts;
    # the semantic layer and exposures are not run)
    assert built == {"fct_signals"}
    assert _count_signals(runbook.settings) == runbook.signals_before_rebuild > 0
    assert "fct_signals: excluded" in result.output


# -- rollback (docs/architecture/dbt_rollback.md) ------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", "-c", "user.name=qc-test", "-c", "user.email=qc-test@example.org", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return completed.stdout.strip()


def test_rollback_procedure_restores_fct_signals(runbook: Runbook, tmp_path: Path) -> None:
    project = tmp_path / "dbt"
    shutil.copytree(
        DBT_PROJECT,
        project,
        ignore=shutil.ignore_patterns("target", "target_*", "logs", "dbt_packages"),
    )
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "good")
    model = project / "models" / "marts" / "fct_signals.sql"
    # the "bad deploy": a renamed column breaks the enforced contract
    model.write_text(
        model.read_text().replace("as signal_severity,", "as signal_severity_score,", 1)
    )
    _git(project, "commit", "-q", "-am", "bad: rename signal_severity")
    bad_commit = _git(project, "rev-parse", "HEAD")
    before = _count_signals(runbook.settings)

    broken = run_dbt(
        ["run", "--select", "fct_signals+"],
        runbook.settings,
        project_dir=project,
        target_path=tmp_path / "target_broken",
        stream=False,
        check=False,
    )
    assert not broken.ok
    assert "contract" in broken.output.lower()
    # the failed build left the previous table in place: consumers keep reading it
    assert _count_signals(runbook.settings) == before > 0

    _git(project, "checkout", f"{bad_commit}^", "--", "models/marts/fct_signals.sql")
    assert "signal_severity_score" not in model.read_text()
    rebuilt = run_dbt(
        ["run", "--select", "fct_signals+"],
        runbook.settings,
        project_dir=project,
        target_path=tmp_path / "target_rebuilt",
        stream=False,
        check=False,
    )
    assert rebuilt.ok, rebuilt.output[-3000:]
    assert _count_signals(runbook.settings) == before
    columns = runbook.query(
        """
        select count(*) from information_schema.columns
        where table_schema = 'public_marts' and table_name = 'fct_signals' and column_name = 'signal_severity'
        """
    )
    assert columns == [(1,)]
