"""Builds that do not grow with history (docs/architecture/incremental.md), on a real server.

One module-scoped database goes through the sequence of the issue, with small runs: copies
of the bundled real run under new run ids and dates (some classifications removed, retyped
or re-scored, so that every change_status occurs) and a small complete synthetic run of
another graph (the only one with contribution records), loaded under a run id with quotes,
a backslash, spaces and unicode.

    1. load R1, R3, S1                                   dbt build
    2. reload R3 with changed content                    dbt build  (a reader runs meanwhile)
    3. qc runs drop R1                                   dbt build
    4. load R2 (older than R3) and R4 (newer)            dbt build --select staging intermediate
                                                         dbt build
                                                         dbt test (last_build scope)
    5. nothing new                                       dbt build
    6.                                                   dbt build --full-refresh

The tests look at what each build did (the build log of the ledger), at the rows after the
drop, at the concurrent reader's observations, compare every model's rows after step 5
with the full refresh (an order-independent hash per relation), and compare
fct_signal_history with a plain-Python recomputation from the run files
(tests/history_expectations.py). Eight dbt invocations in all.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import CONTAINER_RUN
from helpers import (
    UPSTREAM_CHECKS,
    Classification,
    copy_run,
    edit_classifications,
    mart_history,
    upstream_check_outcomes,
)
from history_expectations import expected_history
from quality_compass.load.loader import load_run
from quality_compass.load.runs import drop_run
from quality_compass.warehouse.dbt_runner import DbtResult, run_dbt
from quality_compass.warehouse.settings import DbSettings

pytestmark = pytest.mark.dbt

DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt"
MF = Path(sys.executable).parent / "mf"
MODEL_SCHEMAS = ("public_staging", "public_intermediate", "public_marts", "public_semantic")
GRAPH = CONTAINER_RUN.parent.name
R1, R2, R3, R4 = "20260301080000", "20260302080000", "20260303080000", "20260304080000"
SYNTHETIC = {
    "facilities": 24,
    "months": 8,
    "seed": 13,
    "run_id": "20260305080000",
    "graph": "incremental_synthetic",
}
# the synthetic run is loaded under an unusual run id: partition names, literals and filters
# must take any run id the loader accepts (letters, digits, '.', '_', '-'; issue 10 D:
# docs/architecture/loader.md, "The run key")
S1 = "2026-03-05.run_S1-x"
STATUSES = {"new", "type_changed", "escalated", "deescalated", "persisting", "resolved"}


# -- the series ---------------------------------------------------------------------------------


def classification_edit(
    remove: frozenset[int] = frozenset(),
    retype: frozenset[int] = frozenset(),
    raise_severity: frozenset[int] = frozenset(),
    lower_severity: frozenset[int] = frozenset(),
) -> Callable[[list[Classification]], list[Classification]]:
    """An edit of the real run's classifications by bucket (the unsuppressed row's index
    modulo 10): remove it, give it another signal type (with that type's severity range),
    or move its severity one step up or down within its range."""

    def apply(rows: list[Classification]) -> list[Classification]:
        ranges = {
            row["signal_type"]: (row["severity_range_min"], row["severity_range_max"])
            for row in rows
        }
        types = sorted(ranges)
        edited: list[Classification] = []
        index = 0
        for original in rows:
            if original["suppressed"] == "True":
                edited.append(original)
                continue
            bucket = index % 10
            index += 1
            if bucket in remove:
                continue
            row = dict(original)
            low, high = int(row["severity_range_min"]), int(row["severity_range_max"])
            severity = int(row["severity"])
            if bucket in retype:
                new_type = types[(types.index(row["signal_type"]) + 1) % len(types)]
                row["signal_type"] = new_type
                row["severity_range_min"], row["severity_range_max"] = ranges[new_type]
                low, high = int(ranges[new_type][0]), int(ranges[new_type][1])
                row["severity"] = str(min(max(severity, low), high))
            elif bucket in raise_severity and severity < high:
                row["severity"] = str(severity + 1)
            elif bucket in lower_severity and severity > low:
                row["severity"] = str(severity - 1)
            edited.append(row)
        return edited

    return apply


def real_copy(
    root: Path, run_id: str, edit: Callable[[list[Classification]], list[Classification]]
) -> Path:
    run_dir = copy_run(
        CONTAINER_RUN, root, run_id, f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T08:00:00+00:00"
    )
    edit_classifications(run_dir, edit)
    return run_dir


# -- database helpers -----------------------------------------------------------------------------


def query(
    settings: DbSettings, statement: str, params: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.conninfo()) as conn:
        return conn.execute(statement.encode(), params).fetchall()


def relation_hashes(settings: DbSettings) -> dict[str, tuple[int, str]]:
    """Every model relation's row count and order-independent hash of its rows."""
    hashes: dict[str, tuple[int, str]] = {}
    with psycopg.connect(settings.conninfo()) as conn:
        relations = conn.execute(
            """
            select namespace.nspname, relation.relname
            from pg_class as relation
            join pg_namespace as namespace on namespace.oid = relation.relnamespace
            where namespace.nspname = any(%s) and relation.relkind in ('r', 'p', 'v')
            order by 1, 2
            """,
            (list(MODEL_SCHEMAS),),
        ).fetchall()
        for schema, name in relations:
            row = conn.execute(
                f"""
                select count(*), md5(coalesce(string_agg(md5(t::text), ',' order by md5(t::text)), ''))
                from "{schema}"."{name}" as t
                """
            ).fetchone()
            assert row is not None
            hashes[f"{schema}.{name}"] = (int(row[0]), str(row[1]))
    return hashes


def runs_per_relation(settings: DbSettings) -> dict[str, set[str]]:
    """The run ids each relation with a run_id column holds."""
    found: dict[str, set[str]] = {}
    with psycopg.connect(settings.conninfo()) as conn:
        relations = conn.execute(
            """
            select table_schema, table_name
            from information_schema.columns
            where table_schema = any(%s) and column_name = 'run_id'
            """,
            (list(MODEL_SCHEMAS),),
        ).fetchall()
        for schema, name in relations:
            found[f"{schema}.{name}"] = {
                str(run_id)
                for (run_id,) in conn.execute(f'select distinct run_id from "{schema}"."{name}"')
            }
    return found


def build_log(settings: DbSettings, result: DbtResult) -> dict[str, dict[str, set[str]]]:
    """What a build did: {action: {model: runs}} from the ledger's build log."""
    invocation = (result.run_results or {}).get("metadata", {}).get("invocation_id")
    assert invocation, "the build wrote no run_results.json"
    actions: dict[str, dict[str, set[str]]] = {}
    for model, run_id, action in query(
        settings,
        "select model_name, run_id, action from public_meta.qc_build_log where invocation_id = %s",
        (invocation,),
    ):
        actions.setdefault(str(action), {}).setdefault(str(model), set())
        if run_id is not None:
            actions[str(action)][str(model)].add(str(run_id))
    return actions


class CountReader:
    """Reads the per-run row counts of a few models in a loop while a build runs."""

    MODELS = ("public_staging.stg_classifications", "public_marts.fct_signals")

    def __init__(self, settings: DbSettings) -> None:
        self.settings = settings
        self.observations: list[dict[str, dict[str, int]]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def snapshot(self, conn: psycopg.Connection) -> dict[str, dict[str, int]]:
        return {
            model: {
                str(run_id): int(count)
                for run_id, count in conn.execute(
                    f"select run_id, count(*) from {model} group by run_id"
                ).fetchall()
            }
            for model in self.MODELS
        }

    def _loop(self) -> None:
        try:
            with psycopg.connect(self.settings.conninfo(), autocommit=True) as conn:
                while not self._stop.is_set():
                    self.observations.append(self.snapshot(conn))
                    time.sleep(0.02)
        except psycopg.Error as exc:  # pragma: no cover - reported by the test
            self.errors.append(str(exc))

    def __enter__(self) -> CountReader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- the sequence -------------------------------------------------------------------------------


@dataclass
class Sequence:
    settings: DbSettings
    target: Path
    runs: dict[str, Path]
    builds: dict[str, DbtResult] = field(default_factory=dict)
    runs_after_drop: dict[str, set[str]] = field(default_factory=dict)
    ledger_after_drop: list[tuple[Any, ...]] = field(default_factory=list)
    counts_before_reload: dict[str, dict[str, int]] = field(default_factory=dict)
    counts_after_reload: dict[str, dict[str, int]] = field(default_factory=dict)
    reader: CountReader | None = None
    last_build_filter: str = ""
    incremental: dict[str, tuple[int, str]] = field(default_factory=dict)
    full_refresh: dict[str, tuple[int, str]] = field(default_factory=dict)

    def build(self, step: str, *args: str) -> DbtResult:
        result = run_dbt(
            ["build", *args], self.settings, target_path=self.target, stream=False, check=False
        )
        self.builds[step] = result
        return result


@pytest.fixture(scope="module")
def sequence(
    database_factory: Callable[[str], DbSettings], tmp_path_factory: pytest.TempPathFactory
) -> Sequence:
    from quality_compass.synth.generate.options import GenerateOptions
    from quality_compass.synth.generate.run import generate_run

    root = tmp_path_factory.mktemp("incremental_runs")
    runs = {
        "R1": real_copy(root / "a", R1, classification_edit()),
        "R3": real_copy(root / "a", R3, classification_edit(remove=frozenset({7, 9}))),
        "R3_reloaded": real_copy(
            root / "b",
            R3,
            classification_edit(
                remove=frozenset({2}),
                retype=frozenset({3}),
                raise_severity=frozenset({4}),
                lower_severity=frozenset({5}),
            ),
        ),
        "R2": real_copy(root / "a", R2, classification_edit(remove=frozenset({1}))),
        "R4": real_copy(
            root / "a",
            R4,
            classification_edit(
                remove=frozenset({6}), retype=frozenset({8}), raise_severity=frozenset({4})
            ),
        ),
        "S1": generate_run(
            GenerateOptions(out_dir=root / "synthetic", **SYNTHETIC)  # type: ignore[arg-type]
        ).run_dir,
    }
    runs["S1"] = runs["S1"].rename(runs["S1"].parent / S1)
    settings = database_factory("qc_test_incremental")
    sequence = Sequence(
        settings=settings, target=tmp_path_factory.mktemp("incremental_target"), runs=runs
    )
    reader = CountReader(settings)

    # 1. three runs
    for name in ("R1", "R3", "S1"):
        load_run(runs[name], settings)
    sequence.build("initial")
    # 2. reload R3 with other classifications, a reader running meanwhile
    with psycopg.connect(settings.conninfo()) as conn:
        sequence.counts_before_reload = reader.snapshot(conn)
    load_run(runs["R3_reloaded"], settings)
    with reader:
        sequence.build("reload")
    sequence.reader = reader
    with psycopg.connect(settings.conninfo()) as conn:
        sequence.counts_after_reload = reader.snapshot(conn)
    # 3. drop R1
    with psycopg.connect(settings.conninfo()) as conn:
        drop_run(conn, R1)
    sequence.build("drop")
    sequence.runs_after_drop = runs_per_relation(settings)
    sequence.ledger_after_drop = query(
        settings, "select model_name from public_meta.qc_build_ledger where run_id = %s", (R1,)
    )
    # 4. an older run and a newer one; one layer first (the regression), then everything
    for name in ("R2", "R4"):
        load_run(runs[name], settings)
    sequence.build("layers", "--select", "staging", "intermediate")
    sequence.build("older")
    # what `dbt run` then `dbt test` would check: the runs of each model's latest build
    sequence.builds["test_last_build"] = run_dbt(
        ["test", "--select", "fct_signal_history", "--vars", "{qc_test_scope: last_build}"],
        settings,
        target_path=sequence.target,
        stream=False,
        check=False,
    )
    sequence.last_build_filter = (
        sequence.target
        / "run"
        / "quality_compass"
        / "models"
        / "marts"
        / "fct_signal_history.yml"
        / "not_null_fct_signal_history_run_id.sql"
    ).read_text()
    # 5. nothing new
    sequence.build("nothing_new")
    sequence.incremental = relation_hashes(settings)
    # 6. everything again
    sequence.build("full_refresh", "--full-refresh")
    sequence.full_refresh = relation_hashes(settings)
    return sequence


def _failures(result: DbtResult) -> list[str]:
    return [
        f"{r['unique_id']}: {r.get('message')}"
        for r in (result.run_results or {}).get("results", [])
        if r.get("status") in ("error", "fail", "runtime error", "skipped")
    ]


# -- the builds pass -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "step",
    [
        "initial",
        "reload",
        "drop",
        "layers",
        "older",
        "test_last_build",
        "nothing_new",
        "full_refresh",
    ],
)
def test_every_build_of_the_sequence_passes(sequence: Sequence, step: str) -> None:
    result = sequence.builds[step]
    assert result.ok and not _failures(result), (
        "\n".join(_failures(result)) + "\n" + result.output[-3000:]
    )


def test_building_one_layer_after_a_new_run_passes_the_tests_spanning_layers(
    sequence: Sequence,
) -> None:
    """Regression: `dbt build --select staging intermediate` after loading a run failed on
    equal_rowcount(fct_signals, stg_classifications), a test selected through its staging
    parent that compared with a stale fct_signals. It now runs and checks no stale run."""
    results = (sequence.builds["layers"].run_results or {}).get("results", [])
    spanning = [
        r
        for r in results
        if r["unique_id"].startswith(
            "test.quality_compass.equal_rowcount_fct_signals_ref_stg_classifications"
        )
    ]
    assert [r["status"] for r in spanning] == ["pass"]
    built = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}
    assert "stg_classifications" in built and "fct_signals" not in built


# -- each build did only what changed ---------------------------------------------------------------


def _partitioned_models(log: dict[str, dict[str, set[str]]]) -> set[str]:
    return set(log.get("incremental", {})) | set(log.get("full_refresh", {}))


def test_a_reload_rebuilds_exactly_that_run_in_every_model(sequence: Sequence) -> None:
    log = build_log(sequence.settings, sequence.builds["reload"])
    models = _partitioned_models(log)
    assert {"stg_classifications", "fct_signals", "fct_signal_history"} <= models
    assert set(log["incremental"]) == models  # nothing fell back to a full refresh
    built = log.get("built", {})
    # every run-partitioned model rebuilt R3, and nothing else; nothing was dropped
    assert {run for runs in built.values() for run in runs} == {R3}
    assert set(built) == models
    assert "dropped" not in log


def test_a_drop_removes_the_run_from_every_model(sequence: Sequence) -> None:
    log = build_log(sequence.settings, sequence.builds["drop"])
    dropped = log.get("dropped", {})
    assert set(dropped) == _partitioned_models(log)
    assert all(runs == {R1} for runs in dropped.values())
    # the only run rebuilt: R3, in the history (its previous run is gone)
    assert log.get("built", {}) == {"fct_signal_history": {R3}}
    holding = [name for name, runs in sequence.runs_after_drop.items() if R1 in runs]
    assert holding == [] and sequence.ledger_after_drop == []
    assert len(sequence.runs_after_drop) > 25


def test_an_older_run_rederives_only_the_history_after_it(sequence: Sequence) -> None:
    log = build_log(sequence.settings, sequence.builds["older"])
    built = log["built"]
    # staging and intermediate were built by the layer build before; the facts build the
    # two new runs; the history also re-derives R3, whose previous run is now R2
    assert built["fct_signals"] == {R2, R4}
    assert built["fct_signal_history"] == {R2, R3, R4}
    assert all(S1 not in runs for runs in built.values())
    layers = build_log(sequence.settings, sequence.builds["layers"])
    assert layers["built"]["stg_classifications"] == {R2, R4}


def test_dbt_test_after_a_run_can_check_the_runs_of_the_last_build(sequence: Sequence) -> None:
    """--vars '{qc_test_scope: last_build}': the runs each model's latest build wrote."""
    checked = sequence.last_build_filter
    assert all(f"'{run_id}'" in checked for run_id in (R2, R3, R4)), checked
    assert "S1" not in checked


def test_a_build_with_nothing_new_builds_nothing(sequence: Sequence) -> None:
    log = build_log(sequence.settings, sequence.builds["nothing_new"])
    assert "built" not in log and "dropped" not in log and "full_refresh" not in log
    messages = {
        r["unique_id"].split(".")[-1]: r.get("message")
        for r in (sequence.builds["nothing_new"].run_results or {}).get("results", [])
        if r["unique_id"].startswith("model.")
    }
    assert messages["fct_signals"] == messages["stg_entity_results"] == "SELECT 1"


# -- readers never see a mix ---------------------------------------------------------------------


def test_readers_see_the_old_rows_or_the_new_ones_never_a_mix(sequence: Sequence) -> None:
    reader = sequence.reader
    assert reader is not None and not reader.errors, reader.errors if reader else None
    before, after = sequence.counts_before_reload, sequence.counts_after_reload
    for model in CountReader.MODELS:
        assert before[model][R3] != after[model][R3], model  # the reload changed the run
        assert before[model][R1] == after[model][R1] > 0
    assert len(reader.observations) >= 10
    for observation in reader.observations:
        for model, counts in observation.items():
            assert counts.get(R3) in (before[model][R3], after[model][R3]), (model, counts)
            assert counts.get(R1) == before[model][R1]


# -- incremental = full refresh -----------------------------------------------------------------


def test_every_model_equals_a_full_refresh(sequence: Sequence) -> None:
    assert sequence.incremental.keys() == sequence.full_refresh.keys()
    assert len(sequence.incremental) > 30
    different = {
        name: (sequence.incremental[name], sequence.full_refresh[name])
        for name in sequence.incremental
        if sequence.incremental[name] != sequence.full_refresh[name]
    }
    assert different == {}
    counts = {name: count for name, (count, _) in sequence.full_refresh.items()}
    assert counts["public_marts.fct_signal_history"] > 0
    assert counts["public_marts.fct_contributions"] > 0


def test_the_upstream_checks_are_silent_on_every_run(sequence: Sequence) -> None:
    """Clean copies of the real run and a generated run: each build checks the runs it built
    (initial: R1, R3, S1; reload: R3; older: R2, R4), every check passes with no row."""
    for step in ("initial", "reload", "older"):
        outcomes = upstream_check_outcomes(sequence.builds[step].run_results)
        assert outcomes == dict.fromkeys(UPSTREAM_CHECKS, ("pass", 0)), step


# -- the history equals a recomputation from the files -------------------------------------------


def test_signal_history_equals_the_run_files(sequence: Sequence) -> None:
    final_runs = [sequence.runs[name] for name in ("R2", "R3_reloaded", "R4", "S1")]
    expected = expected_history(final_runs)
    actual = mart_history(sequence.settings)
    assert actual.keys() == expected.keys()
    wrong = [(key, actual[key], expected[key]) for key in expected if actual[key] != expected[key]]
    assert wrong[:5] == []
    statuses = Counter(row["change_status"] for row in expected.values())
    assert set(statuses) == STATUSES, statuses
    assert max(row["consecutive_runs"] for row in expected.values()) == 3
    # the signal resolved in R3 and back in R4 starts a new streak
    assert any(
        row["change_status"] == "new" and row["previous_run_id"] == R3
        for key, row in expected.items()
        if key[0] == R4
    )


def test_run_over_run_analysis_lists_the_changes_of_the_newest_run(sequence: Sequence) -> None:
    """The analysis run_over_run_changes picks the newest run with a previous run (R4, after
    R3) and lists its changes - every status but persisting - as the files say."""
    result = run_dbt(
        ["compile", "--select", "run_over_run_changes"],
        sequence.settings,
        target_path=sequence.target,
        stream=False,
        check=False,
    )
    assert result.ok, result.output[-3000:]
    compiled = (
        sequence.target / "compiled" / "quality_compass" / "analyses" / "run_over_run_changes.sql"
    )
    with psycopg.connect(sequence.settings.conninfo()) as conn:
        cursor = conn.execute(compiled.read_text().encode())
        names = [column.name for column in cursor.description or []]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    fields = (
        "canonical_node_id",
        "facility_id",
        "metric_id",
        "change_status",
        "signal_type",
        "previous_signal_type",
        "signal_severity",
        "previous_signal_severity",
        "severity_change",
    )
    expected = expected_history([sequence.runs[name] for name in ("R2", "R3_reloaded", "R4", "S1")])
    changes = Counter(
        (node_id, row["facility_id"], metric_id, *(row[name] for name in fields[3:]))
        for (run_id, node_id, _, metric_id), row in expected.items()
        if run_id == R4 and row["change_status"] != "persisting"
    )
    assert {(row["run_id"], row["previous_run_id"]) for row in rows} == {(R4, R3)}
    assert Counter(tuple(row[name] for name in fields) for row in rows) == changes
    assert {"new", "resolved", "type_changed", "escalated"} <= {key[3] for key in changes}


def test_signal_history_signal_ids_are_their_runs_signals(sequence: Sequence) -> None:
    mismatched = query(
        sequence.settings,
        """
        select count(*)
        from public_marts.fct_signal_history as history
        left join public_marts.fct_signals as signals
            on signals.signal_id = history.signal_id
            and signals.run_id = history.run_id
            and signals.canonical_node_id = history.canonical_node_id
            and signals.entity_key = history.entity_key
            and signals.metric_id = history.metric_id
        where history.signal_id is not null and signals.signal_id is null
        """,
    )
    assert mismatched == [(0,)]


def test_history_metrics_by_run_equal_plain_sql(sequence: Sequence, tmp_path: Path) -> None:
    project = tmp_path / "mf_project"
    (project / "target").mkdir(parents=True)
    shutil.copy(sequence.target / "semantic_manifest.json", project / "target")
    for name in ("dbt_project.yml", "profiles.yml"):
        (project / name).symlink_to(DBT_PROJECT / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_POSTGRES_")}
    env.update(sequence.settings.dbt_env())
    out = tmp_path / "history.csv"
    result = subprocess.run(
        [
            str(MF),
            "query",
            "--metrics",
            "new_signals,resolved_signals,escalated_signals",
            "--group-by",
            "signal_change__run_id",
            "--csv",
            str(out),
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    with out.open(newline="") as handle:
        from_mf = {
            row["signal_change__run_id"]: tuple(
                int(float(row[name] or 0))
                for name in ("new_signals", "resolved_signals", "escalated_signals")
            )
            for row in csv.DictReader(handle)
        }
    from_sql = {
        str(run_id): (int(new), int(resolved), int(escalated))
        for run_id, new, resolved, escalated in query(
            sequence.settings,
            """
            select run_id,
                   count(*) filter (where change_status = 'new'),
                   count(*) filter (where change_status = 'resolved'),
                   count(*) filter (where change_status = 'escalated')
            from public_marts.fct_signal_history
            group by run_id
            """,
        )
    }
    assert from_mf == from_sql
    assert from_sql[R4][1] > 0 and from_sql[R3][2] > 0
