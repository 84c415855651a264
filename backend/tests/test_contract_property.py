"""The loader's contract, as a property (issue 10 A): every mutated run is either refused
with ``file:line`` or it loads and ``dbt build`` passes every test of severity error.

Cases are real and generated lines with one field changed (``tests/mutations.py``). The
loader's verdict is taken per case (``qc load --dry-run``'s code path). The accepted cases
are then packed, a few per run (``GROUP``, on different lines), into runs with their own run
ids, loaded into ONE database and built by ONE ``dbt build`` (``--store-failures``); each
failing test is traced back to its runs through the run ids of its failing rows, and the
cases of those runs are listed.

Budget: ``QC_PROPERTY_CASES`` cases (default 200, seeded: CI sees the same cases every
time); ``QC_PROPERTY_SEED`` picks another seed for a long exploratory run, e.g.
``QC_PROPERTY_CASES=2000 QC_PROPERTY_SEED=7 uv run pytest tests/test_contract_property.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, seed, settings
from psycopg import sql

from conftest import CONTAINER_RUN
from mutations import BaseRun, Case, apply, cases, generated_run, pack, trimmed_real_run
from quality_compass.errors import QcError
from quality_compass.load.loader import load_run
from quality_compass.load.report import LoadOptions
from quality_compass.warehouse.dbt_runner import run_dbt
from quality_compass.warehouse.settings import DbSettings

CASES = int(os.environ.get("QC_PROPERTY_CASES", "200"))
SEED = int(os.environ.get("QC_PROPERTY_SEED", "20260110"))
#: Accepted cases per loaded run: each run carries up to this many mutations (on
#: different lines), so the batch stays a few dozen runs; a failure lists its run's cases.
GROUP = int(os.environ.get("QC_PROPERTY_GROUP", "6"))

#: A reject names a file of the run, then (for line files) the line, then the reason.
REJECT = re.compile(r"^(?P<file>[^:\n]+?)(?::(?P<line>\d+))?: (?P<reason>\S.*)$", re.DOTALL)

pytestmark = pytest.mark.dbt


def _verdict(work: Path, case: Case) -> bool:
    """Whether the loader accepts the mutated run in ``work``; refusals must name file:line."""
    try:
        report = load_run(work, None, LoadOptions(dry_run=True))
    except QcError as exc:
        assert case.rel in exc.message, (case.describe(), exc.message)
        return False
    for reject in report.rejects:
        match = REJECT.match(str(reject))
        assert match, (case.describe(), str(reject))
        assert (work / match["file"]).is_file(), (case.describe(), str(reject))
        if match["file"].endswith((".jsonl", ".csv")):
            assert match["line"] is not None, (case.describe(), str(reject))
    return report.reject_count == 0


def _failures(results: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Models that errored and tests of severity error that failed or errored."""
    return [
        result
        for result in (results or {}).get("results", [])
        if result.get("status") in ("error", "fail")
    ]


def _failing_runs(settings: DbSettings, failure: dict[str, Any]) -> set[str]:
    """The run ids in a failed test's stored failing rows (when the rows carry run_id)."""
    relation = failure.get("relation_name")
    if not relation:
        return set()
    try:
        with psycopg.connect(settings.conninfo()) as conn:
            cursor = conn.execute(sql.SQL("select * from {} limit 500").format(sql.SQL(relation)))
            names = [column.name for column in cursor.description or []]
            rows = cursor.fetchall()
    except psycopg.Error:
        return set()
    columns = [index for index, name in enumerate(names) if name.endswith("run_id")]
    return {str(row[index]) for row in rows for index in columns if row[index] is not None}


def _verdicts(bases: dict[str, BaseRun], work: dict[str, Path]) -> tuple[list[Case], int]:
    """Draw the cases; return the accepted ones and the number refused."""
    accepted: list[Case] = []
    refused = 0

    @seed(SEED)
    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases(bases))
    def check(case: Case) -> None:
        nonlocal refused
        base, folder = bases[case.base], work[case.base]
        try:
            apply(base, folder, [case])
            if _verdict(folder, case):
                accepted.append(case)
            else:
                refused += 1
        finally:
            (folder / case.rel).write_bytes((base.run_dir / case.rel).read_bytes())

    check()
    return accepted, refused


def _runs(bases: dict[str, BaseRun], accepted: list[Case], root: Path) -> dict[str, list[Case]]:
    """The accepted cases packed into runs (run id -> its cases), each run accepted too."""
    runs: dict[str, list[Case]] = {}
    for group in pack(accepted, GROUP):
        base = bases[group[0].base]
        for members in [group] if len(group) == 1 else [group, *([case] for case in group)]:
            run_id = f"g{len(runs):04d}.{base.name[:3]}-x_y"
            folder = root / "mutated" / run_id
            shutil.copytree(base.run_dir, folder)
            apply(base, folder, members)
            if len(members) == 1 or _verdict(folder, members[0]):
                runs[run_id] = members
                break
            shutil.rmtree(folder)  # the cases refuse each other together: load them one by one
    return runs


def _describe_failures(
    settings_db: DbSettings, failures: list[dict[str, Any]], runs: dict[str, list[Case]]
) -> list[str]:
    lines = []
    for failure in failures:
        failing = _failing_runs(settings_db, failure)
        lines.append(f"{failure['unique_id']}: {failure.get('message')}")
        for run_id in sorted(failing & set(runs)):
            lines.extend(f"    {run_id}: {case.describe()}" for case in runs[run_id])
        if not failing:
            lines.append("    (the failing rows carry no run_id; every accepted case follows)")
    lines.append("accepted cases, by run:")
    for run_id, members in runs.items():
        lines.extend(f"  {run_id}: {case.describe()}" for case in members)
    return lines


def test_every_mutated_run_is_refused_or_builds(
    tmp_path: Path, database_factory: Callable[[str], DbSettings]
) -> None:
    started = time.perf_counter()
    bases = {
        "real": trimmed_real_run(CONTAINER_RUN, tmp_path / "bases" / "real" / "g" / "real"),
        "generated": generated_run(tmp_path / "bases" / "generated"),
    }
    work = {name: tmp_path / "work" / name / "g" / name for name in bases}
    for name, base in bases.items():
        shutil.copytree(base.run_dir, work[name])
    accepted, refused = _verdicts(bases, work)
    runs = _runs(bases, accepted, tmp_path / "accepted")
    verdicts = time.perf_counter() - started

    settings_db = database_factory("qc_test_property")
    for base in bases.values():  # the unmutated bases are the controls
        load_run(base.run_dir, settings_db)
    for run_id, members in runs.items():
        try:
            load_run(tmp_path / "accepted" / "mutated" / run_id, settings_db)
        except Exception as exc:  # a contract hole: accepted, then refused by the database
            shown = "; ".join(case.describe() for case in members)
            pytest.fail(f"accepted but not loadable: {shown}: {exc}")
    loads = time.perf_counter() - started - verdicts
    build = run_dbt(
        ["build", "--store-failures"],
        settings_db,
        stream=False,
        check=False,
        target_path=tmp_path / "target",
    )
    summary = (
        f"{CASES} cases (seed {SEED}): {len(accepted)} accepted in {len(runs)} runs, "
        f"{refused} refused; verdicts {verdicts:.1f} s, loads {loads:.1f} s, "
        f"build {build.seconds:.1f} s, total {time.perf_counter() - started:.1f} s"
    )
    print(summary)
    if build.run_results is None:
        pytest.fail(f"dbt build did not run:\n{build.output[-3000:]}")
    failures = _failures(build.run_results)
    if failures:
        pytest.fail("\n".join([summary, *_describe_failures(settings_db, failures, runs)]))
