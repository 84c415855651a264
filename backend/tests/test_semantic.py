"""The MetricFlow semantic layer against the shared warehouse build.

`mf` reads `<project>/target/semantic_manifest.json` (a fixed path) and the dbt profile. So
that tests never touch the shared `backend/dbt/target`, each run uses a scratch project
folder holding links to dbt_project.yml / profiles.yml and a copy of the semantic manifest
the warehouse build wrote; the connection comes from the DBT_POSTGRES_* variables of the
warehouse database.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Warehouse

pytestmark = pytest.mark.dbt

DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt"
MF = Path(sys.executable).parent / "mf"


@pytest.fixture(scope="module")
def mf_project(warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> Path:
    manifest = warehouse.target_path / "semantic_manifest.json"
    if not manifest.is_file():
        pytest.fail("the warehouse build wrote no semantic_manifest.json")
    project = tmp_path_factory.mktemp("mf_project")
    (project / "target").mkdir()
    shutil.copy(manifest, project / "target" / "semantic_manifest.json")
    for name in ("dbt_project.yml", "profiles.yml"):
        (project / name).symlink_to(DBT_PROJECT / name)
    return project


def _mf(warehouse: Warehouse, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_POSTGRES_")}
    env.update(warehouse.settings.dbt_env())
    env.pop("DBT_PROJECT_DIR", None)
    env.pop("DBT_PROFILES_DIR", None)
    return subprocess.run(
        [str(MF), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_mf_validate_configs_passes(warehouse: Warehouse, mf_project: Path) -> None:
    result = _mf(warehouse, mf_project, "validate-configs")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Successfully validated the semantics of built manifest (ERRORS: 0" in output
    assert "Successfully validated semantic models against data warehouse (ERRORS: 0" in output
    assert "Successfully validated metrics against data warehouse (ERRORS: 0" in output


def test_mf_query_matches_plain_sql(warehouse: Warehouse, mf_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "by_domain.csv"
    result = _mf(
        warehouse,
        mf_project,
        "query",
        "--metrics",
        "total_signals,critical_signal_rate,actionable_signal_rate,facilities_with_signals",
        "--group-by",
        "signal__domain",
        "--csv",
        str(out),
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    with out.open(newline="") as handle:
        from_mf = {row["signal__domain"]: row for row in csv.DictReader(handle)}
    from_sql = {
        str(domain): (int(total), critical, actionable, int(facilities))
        for domain, total, critical, actionable, facilities in warehouse.query(
            """
            select
                domain,
                count(*),
                100.0 * count(*) filter (where severity = 'Critical') / count(*),
                100.0 * count(*) filter (where severity in ('Critical', 'High')) / count(*),
                count(distinct facility_id)
            from public_marts.fct_signals
            group by domain
            """
        )
    }
    assert set(from_mf) == set(from_sql) and from_sql
    for domain, (total, critical, actionable, facilities) in from_sql.items():
        row = from_mf[domain]
        assert int(float(row["total_signals"])) == total
        # a domain without Critical signals must say 0, not be empty (fill_nulls_with: 0)
        assert row["critical_signal_rate"] != ""
        assert math.isclose(float(row["critical_signal_rate"]), float(critical), abs_tol=1e-9)
        assert math.isclose(float(row["actionable_signal_rate"]), float(actionable), abs_tol=1e-9)
        assert int(float(row["facilities_with_signals"])) == facilities


def test_mf_query_groups_by_dimension_tables_and_contributions(
    warehouse: Warehouse, mf_project: Path, tmp_path: Path
) -> None:
    """Contribution metrics (filtered counts and their rate) equal plain SQL per metric file."""
    out = tmp_path / "contributions.csv"
    result = _mf(
        warehouse,
        mf_project,
        "query",
        "--metrics",
        "total_contributions,positive_contributors,negative_contributors,positive_contributor_rate",
        "--group-by",
        "contribution__metric_id",
        "--csv",
        str(out),
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    with out.open(newline="") as handle:
        from_mf = {row["contribution__metric_id"]: row for row in csv.DictReader(handle)}
    from_sql = {
        str(metric): (int(total), int(positive), int(negative))
        for metric, total, positive, negative in warehouse.query(
            """
            select metric_id, count(*),
                count(*) filter (where contribution_direction = 'positive'),
                count(*) filter (where contribution_direction = 'negative')
            from public_marts.fct_contributions
            group by metric_id
            """
        )
    }
    # the synthetic run's contribution files (its metrics and the z-score files): never two
    # empty sets compared
    assert {"simple_zscore", "robust_zscore"} < set(from_sql), from_sql
    assert all(total > 0 for total, _, _ in from_sql.values()), from_sql
    assert set(from_mf) == set(from_sql)
    for metric, (total, positive, negative) in from_sql.items():
        row = from_mf[metric]
        assert int(float(row["total_contributions"])) == total
        assert int(float(row["positive_contributors"])) == positive
        assert int(float(row["negative_contributors"])) == negative
        assert math.isclose(float(row["positive_contributor_rate"]), 100 * positive / total)
