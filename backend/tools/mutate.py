"""Mutation testing of the suite: plant one plausible bug at a time and run the tests that
should catch it.

Each mutant replaces one exact piece of text (it must occur exactly once) in a dbt model,
macro, upstream check, var, loader check or statistics function of a SCRATCH COPY of the
checkout, runs its pytest selection there with ``-x``, records killed (a test failed) or
survived (every test passed) with the time, and puts the file back. The working tree is
never changed: the copy holds the tracked and untracked-but-not-ignored files of the
checkout, and runs with this checkout's virtual environment (``PYTHONPATH`` points at the
copy's ``src``) and its embedded PostgreSQL (``QC_HOME``).

Too slow for CI (a dbt mutant rebuilds the test warehouse: about a minute each; the whole
campaign takes an hour or two on 2 cores). docs/testing.md holds the list and the results.

Usage (from ``backend/``)::

    uv run python tools/mutate.py --list                 # the mutants
    uv run python tools/mutate.py --check                # each mutant's text occurs once
    uv run python tools/mutate.py                        # the campaign -> tools/mutation_results.json
    uv run python tools/mutate.py --only NAME [NAME...]  # some mutants
    uv run python tools/mutate.py --baseline             # every selection passes unmutated
    uv run python tools/mutate.py --markdown             # the results as a table for docs
    uv run python tools/mutate.py --suite-from REV --only NAME...  # against an older suite
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[1]
RESULTS = BACKEND / "tools" / "mutation_results.json"
TIMEOUT_SECONDS = 1800

# -- test selections ---------------------------------------------------------------------------

BUILD = "tests/test_dbt_staging.py::test_dbt_build_passes_without_errors"
MART_TESTS = "tests/test_marts.py::test_marts_build_and_their_tests_pass"
SIGNALS = "tests/test_marts.py::test_fct_signals_equals_the_run_files"
CONTRIBUTIONS = "tests/test_marts.py::test_fct_contributions_equals_the_contribution_files"
DIMENSIONS = "tests/test_marts.py::test_dimensions_equal_the_run_files"
SILENT = "tests/test_upstream_checks.py::test_every_check_is_silent_on_the_warehouse"
PLANTED = ("tests/test_upstream_checks.py", "-k", "not warehouse")
INCREMENTAL = "tests/test_incremental.py"
LOAD = "tests/test_load.py"
LOAD_VALIDATION = "tests/test_load_validation.py"
STATISTICS = "tests/test_statistics.py"
VALIDATE = "tests/test_validate.py"

MODELS = "dbt/models"
UPSTREAM = "dbt/tests/upstream_math"


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to backend/
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments
    what: str


def m(name: str, path: str, old: str, new: str, tests: tuple[str, ...], what: str) -> Mutant:
    return Mutant(name, path, old, new, tests, what)


SIGNALS_SQL = f"{MODELS}/marts/fct_signals.sql"
CONTRIBUTIONS_SQL = f"{MODELS}/marts/fct_contributions.sql"
STG_CONTRIBUTIONS = f"{MODELS}/staging/stg_contributions.sql"
STG_CLASSIFICATIONS = f"{MODELS}/staging/stg_classifications.sql"
VALUES = (BUILD, SIGNALS)
OFF = "\nwhere failure_reason is not null\n"

MUTANTS: tuple[Mutant, ...] = (
    # -- fct_signals -------------------------------------------------------------------------
    m("signals.service_line_swap", SIGNALS_SQL,
      "        service_line,\n        sub_service_line,\n        entity_dimensions,\n        groupby_label,",
      "        sub_service_line as service_line,\n        service_line as sub_service_line,\n"
      "        entity_dimensions,\n        groupby_label,",
      VALUES, "service_line and sub_service_line swapped (the dashboard filter)"),
    m("signals.variance_sign", SIGNALS_SQL,
      "100 * (metric_value - benchmark_value) / benchmark_value",
      "100 * (benchmark_value - metric_value) / benchmark_value",
      VALUES, "variance_percent with its sign flipped"),
    m("signals.keep_suppressed", SIGNALS_SQL,
      "    from {{ ref('stg_classifications') }}\n    where not is_suppressed\n",
      "    from {{ ref('stg_classifications') }}\n    where true\n",
      VALUES, "the `where not is_suppressed` dropped: suppressed classifications become signals"),
    m("signals.facility_sk_from_metric", SIGNALS_SQL,
      "{{ surrogate_key(['facility_id']) }} as facility_sk",
      "{{ surrogate_key(['metric_id']) }} as facility_sk",
      VALUES, "facility_sk built from the wrong column"),
    m("signals.facility_join_without_run", SIGNALS_SQL,
      "        on classifications.run_id = facility_runs.run_id\n"
      "        and classifications.facility_id = facility_runs.facility_id",
      "        on classifications.facility_id = facility_runs.facility_id",
      VALUES, "the system-name join loses run_id (a cross-run join: every run's names)"),
    m("signals.primary_label_robust", SIGNALS_SQL,
      "        simple_zscore_anomaly as anomaly_classification,",
      "        robust_zscore_anomaly as anomaly_classification,",
      VALUES, "the primary label taken from the robust method"),
    m("signals.severity_range_reversed", SIGNALS_SQL,
      "array[severity_range_min, severity_range_max]",
      "array[severity_range_max, severity_range_min]",
      VALUES, "signal_severity_range written max-first"),
    m("signals.indicators_swapped", SIGNALS_SQL,
      "        position_indicator,\n        trend_indicator,\n        momentum_indicator,\n"
      "        consistency_indicator,\n        classification_reasoning,",
      "        trend_indicator as position_indicator,\n        position_indicator as trend_indicator,\n"
      "        momentum_indicator,\n        consistency_indicator,\n        classification_reasoning,",
      VALUES, "position and trend indicators swapped"),
    m("signals.detected_at_from_record", SIGNALS_SQL,
      "        runs.detected_at\n    from classifications",
      "        classifications.classified_at as detected_at\n    from classifications",
      VALUES, "detected_at taken from the classification timestamp instead of the run"),
    m("signals.twin_join_without_entity", f"{MODELS}/intermediate/int_temporal_twins.sql",
      "\n        and aggregate_entities.entity_key = twin.entity_key",
      "",
      VALUES, "the temporal twin joined on the node only (wrong join key: no entity)"),
    # -- contributions -----------------------------------------------------------------------
    m("contributions.group_without_metric", CONTRIBUTIONS_SQL,
      "    window parent_group as (\n"
      "        partition by run_id, parent_node_id, parent_entity_key, child_node_id, metric_id\n    )",
      "    window parent_group as (\n"
      "        partition by run_id, parent_node_id, parent_entity_key, child_node_id\n    )",
      (BUILD, CONTRIBUTIONS), "parent groups without metric_id (mixes the z-score files in)"),
    m("contributions.rank_ascending", CONTRIBUTIONS_SQL,
      "order by contribution_weight desc nulls last, child_entity_key asc",
      "order by contribution_weight asc nulls last, child_entity_key asc",
      (BUILD, CONTRIBUTIONS), "contribution_rank counts from the smallest contributor"),
    m("contributions.pct_over_share_sum", CONTRIBUTIONS_SQL,
      "nullif(with_nodes.group_contribution_weight, 0)",
      "nullif(with_nodes.group_weight_share_sum, 0)",
      (BUILD, CONTRIBUTIONS), "contribution_pct divided by the wrong group total"),
    m("contributions.child_signal_from_parent", CONTRIBUTIONS_SQL,
      "on with_nodes.child_entity_result_id = child_signals.entity_result_id",
      "on with_nodes.parent_entity_result_id = child_signals.entity_result_id",
      (BUILD, CONTRIBUTIONS), "the child's signal joined on the parent entity (wrong join key)"),
    m("contributions.share_tolerance_inverted", CONTRIBUTIONS_SQL,
      "            <= {{ var('weight_share_sum_tolerance') }},",
      "            > {{ var('weight_share_sum_tolerance') }},",
      (BUILD, CONTRIBUTIONS), "is_weight_share_valid with the comparison inverted"),
    m("contributions.direction_flip", STG_CONTRIBUTIONS,
      "when excess_over_parent > 0 then 'positive'\n            when excess_over_parent < 0 then 'negative'",
      "when excess_over_parent > 0 then 'negative'\n            when excess_over_parent < 0 then 'positive'",
      (BUILD, CONTRIBUTIONS), "contribution_direction sign flip"),
    m("contributions.weight_without_abs", STG_CONTRIBUTIONS,
      "abs(excess_over_parent) * weight_share as contribution_weight",
      "excess_over_parent * weight_share as contribution_weight",
      (BUILD, CONTRIBUTIONS), "contribution_weight without abs()"),
    m("contributions.segment_is_whole_child", STG_CONTRIBUTIONS,
      "child_entity_dict - array(select jsonb_object_keys(parent_entity_dict)) as child_segment",
      "child_entity_dict as child_segment",
      (BUILD, CONTRIBUTIONS), "child_segment keeps the parent's dimensions"),
    # -- staging and macros ------------------------------------------------------------------
    m("staging.tiers_not_lowercased", STG_CLASSIFICATIONS,
      "lower(trim(magnitude_tier)) as magnitude_tier",
      "trim(magnitude_tier) as magnitude_tier",
      VALUES, "magnitude_tier no longer lowercased"),
    m("staging.classification_entity_without_run", STG_CLASSIFICATIONS,
      "{{ surrogate_key(['raw_run_id', 'node_id', 'entity_key_hash']) }} as entity_result_id",
      "{{ surrogate_key(['node_id', 'entity_key_hash']) }} as entity_result_id",
      VALUES, "a classification's entity_result_id without run_id (joins no entity)"),
    m("staging.encounters_legacy_last", f"{MODELS}/staging/stg_entity_results.sql",
      "coalesce(legacy_encounters, (metadata ->> 'encounters')::numeric)::bigint as encounters",
      "coalesce(legacy_encounters, (metadata ->> 'uniquePatients')::numeric)::bigint as encounters",
      VALUES, "encounters read from the wrong metadata key"),
    m("macros.tier_bound_exclusive", "dbt/macros/anomaly_tiers.sql",
      "when {{ value }} <= {{ bound }} then",
      "when {{ value }} < {{ bound }} then",
      (BUILD, SILENT), "tier bounds made exclusive (off by one at every boundary)"),
    m("vars.zscore_bound_shifted", "dbt/dbt_project.yml",
      "zscore_tier_bounds: [-3, -2, -1, -0.5, 0.5, 1, 2, 3]",
      "zscore_tier_bounds: [-3, -2, -1, -0.5, 0.5, 1, 2.5, 3]",
      (BUILD, SILENT), "an off-by-one tier bound (2 -> 2.5)"),
    m("vars.severity_levels_swapped", "dbt/dbt_project.yml",
      "    Critical: [extremely_low, extremely_high]\n    High: [very_low, very_high]",
      "    Critical: [very_low, very_high]\n    High: [extremely_low, extremely_high]",
      VALUES, "Critical and High severity swapped"),
    m("macros.surrogate_key_separator", "dbt/macros/surrogate_key.sql",
      "{% if not loop.last %} || '-' ||{% endif %}",
      "{% if not loop.last %} || '|' ||{% endif %}",
      VALUES, "surrogate keys joined with another separator (every key changes)"),
    m("macros.entity_key_keeps_system_name", "dbt/macros/entity_keys.sql",
      "            md5(({{ dict }} - {{ non_key }})::text) as entity_key,",
      "            md5(({{ dict }})::text) as entity_key,",
      VALUES, "entity_key no longer drops systemName"),
    # -- the upstream checks -----------------------------------------------------------------
    m("upstream.simple_off", f"{UPSTREAM}/upstream_math_simple_zscore.sql",
      OFF, "\nwhere failure_reason is not null and false\n",
      PLANTED, "upstream_math_simple_zscore switched off (`and false`)"),
    m("upstream.robust_off", f"{UPSTREAM}/upstream_math_robust_zscore.sql",
      OFF, "\nwhere failure_reason is not null and false\n",
      PLANTED, "upstream_math_robust_zscore switched off (`and false`)"),
    m("upstream.robust_trusts_header", f"{UPSTREAM}/upstream_math_robust_zscore.sql",
      "            else peer_mads.peer_value_median\n",
      "            else facets.peer_median\n",
      PLANTED, "the robust check takes the header's median instead of the peers'"),
    m("upstream.tiers_off", f"{UPSTREAM}/upstream_math_anomaly_tiers.sql",
      "where not is_label_consistent", "where not is_label_consistent and false",
      PLANTED, "upstream_math_anomaly_tiers switched off"),
    m("upstream.statistic_off", f"{UPSTREAM}/upstream_math_anomaly_statistic.sql",
      "    and (\n        (statistic_value is null) <> (method_statistic is null)",
      "    and false and (\n        (statistic_value is null) <> (method_statistic is null)",
      PLANTED, "upstream_math_anomaly_statistic switched off"),
    m("upstream.temporal_skips_non_arrays", f"{UPSTREAM}/upstream_math_temporal_summaries.sql",
      "    ) as elements\n\n),",
      "    ) as elements\n    where jsonb_typeof(methods.per_period_zscores) = 'array'\n\n),",
      PLANTED, "the temporal check silently skips per-period data that is not an array"),
    m("upstream.temporal_off", f"{UPSTREAM}/upstream_math_temporal_summaries.sql",
      OFF, "\nwhere failure_reason is not null and false\n",
      PLANTED, "upstream_math_temporal_summaries switched off"),
    m("upstream.weights_off", f"{UPSTREAM}/upstream_math_weight_shares.sql",
      OFF, "\nwhere failure_reason is not null and false\n",
      PLANTED, "upstream_math_weight_shares switched off"),
    m("upstream.severity_range_unchecked", f"{UPSTREAM}/upstream_math_classification_severity.sql",
      "where severity < severity_range_min\n    or severity > severity_range_max\n    or ranges_of_type > 1",
      "where ranges_of_type > 1",
      PLANTED, "the severity check only compares ranges (removed check)"),
    m("upstream.header_edges_one_way", f"{UPSTREAM}/upstream_graph_header_edges.sql",
      "select * from only_in_headers\nunion all\nselect * from only_in_graph",
      "select * from only_in_headers",
      PLANTED, "header edges checked one way only"),
    m("upstream.simple_too_strict", f"{UPSTREAM}/upstream_math_simple_zscore.sql",
      "(entities.metric_value) over peer_group as peer_value_std",
      "(entities.metric_value) over peer_group * 1.001 as peer_value_std",
      (SILENT,), "a wrong recomputation in a check (false alarms on clean runs)"),
    # -- dimensions --------------------------------------------------------------------------
    m("dims.system_name_least_reported", f"{MODELS}/intermediate/int_facility_runs.sql",
      "order by count(*) desc, system_name",
      "order by count(*) asc, system_name",
      (BUILD, DIMENSIONS, SIGNALS), "system_name: the least reported value instead of the most"),
    m("dims.first_seen_newest", f"{MODELS}/marts/dim_facilities.sql",
      "(array_agg(run_id order by detected_at nulls first, run_id))[1] as first_seen_run_id",
      "(array_agg(run_id order by detected_at desc nulls last, run_id desc))[1] as first_seen_run_id",
      (BUILD, DIMENSIONS), "first_seen_run_id ordered newest first"),
    m("dims.neutral_polarity_unknown", f"{MODELS}/marts/dim_metrics.sql",
      "in ('lower_is_better', 'higher_is_better', 'neutral')",
      "in ('lower_is_better', 'higher_is_better')",
      (BUILD, DIMENSIONS), "direction_preference loses 'neutral'"),
    m("dims.taxonomy_from_oldest_run", f"{MODELS}/marts/dim_metrics.sql",
      "            order by detected_at desc nulls last, run_id desc\n        ) as recency",
      "            order by detected_at asc nulls last, run_id asc\n        ) as recency",
      (BUILD, DIMENSIONS), "metric attributes from the oldest taxonomy"),
    # -- history, analysis, incremental ledger ----------------------------------------------
    m("history.escalation_inverted", f"{MODELS}/marts/fct_signal_history.sql",
      "when current_signals.signal_severity > previous_signals.signal_severity\n                then 'escalated'",
      "when current_signals.signal_severity < previous_signals.signal_severity\n                then 'escalated'",
      (MART_TESTS, INCREMENTAL), "escalated and deescalated inverted"),
    m("analysis.never_a_pair", "dbt/analyses/run_over_run_changes.sql",
      "        previous_run_id is not null", "        previous_run_id is null",
      (INCREMENTAL,), "the run-over-run analysis never selects a pair of runs"),
    m("ledger.keep_dropped_partition", "dbt/macros/run_partitioned/materialization.sql",
      "{%- for item in plan['build'] + plan['drop'] if item['partition_name'] is not none -%}",
      "{%- for item in plan['build'] if item['partition_name'] is not none -%}",
      (INCREMENTAL,), "a dropped run's partition is not dropped"),
    m("ledger.version_ignores_load", "dbt/macros/run_partitioned/plan.sql",
      "md5({{ qc_sql_literal(code_version) }} || '|raw=' || registry.load_id::text) as version",
      "md5({{ qc_sql_literal(code_version) }}) as version",
      (INCREMENTAL,), "a run's version ignores its load (a reload is not rebuilt)"),
    m("ledger.dropped_runs_stay_in_ledger", "dbt/macros/run_partitioned/materialization.sql",
      "        and run_id in ({{ qc_sql_literals(gone + building) }})",
      "        and run_id in ({{ qc_sql_literals(building) }})",
      (INCREMENTAL,), "dropped runs stay in the ledger"),
    # -- the loader's checks -----------------------------------------------------------------
    m("load.csv_key_extra_column", "src/quality_compass/load/records.py",
      "{dim: row[dim] for dim in dimension_columns if row.get(dim)}",
      '{dim: row[dim] for dim in [*dimension_columns, "metric_id"] if row.get(dim)}',
      (LOAD_VALIDATION,), "the CSV fallback puts an extra column into every entity key"),
    m("load.csv_taxonomy_ignored", "src/quality_compass/load/scanner.py",
      "                header, taxonomy_dimensions(self.run_inventory.run_dir)\n",
      "                header, None\n",
      (LOAD_VALIDATION,), "the CSV loader ignores the taxonomy: a free-text column joins every key"),
    m("load.csv_dimensions_unfiltered", "src/quality_compass/load/records.py",
      "        return [c for c in candidates if c in taxonomy_dimensions]\n",
      "        return candidates\n",
      (LOAD_VALIDATION,), "CSV dimension columns not restricted to the taxonomy's"),
    m("load.header_stem_unchecked", "src/quality_compass/load/records.py",
      '    if obj["canonical_node_id"] != file_stem:',
      '    if obj["canonical_node_id"] != obj["canonical_node_id"]:',
      (LOAD_VALIDATION,), "a node header that contradicts its file name is accepted"),
    m("load.duplicates_accepted", "src/quality_compass/load/references.py",
      '    if hashed in keys.accepted:\n        return f"duplicate entity key ',
      '    if False:\n        return f"duplicate entity key ',
      (LOAD_VALIDATION,), "duplicate entity keys accepted (removed check)"),
    m("load.declared_count_unchecked", "src/quality_compass/load/scanner.py",
      "                header.entity_results_count,\n                stats.lines - 1,",
      "                None,\n                stats.lines - 1,",
      (LOAD_VALIDATION,), "a truncated node file passes (entity_results_count unchecked)"),
    m("load.severity_type_unchecked", "src/quality_compass/load/records.py",
      '        ("signal_type", "string"),\n        ("severity", "number"),\n',
      '        ("signal_type", "string"),\n',
      (LOAD_VALIDATION,), "a classification severity that is not a number is accepted"),
    m("load.contribution_file_unchecked", "src/quality_compass/load/records.py",
      '    if obj["child_node_id"] != child_node_id:',
      '    if obj["child_node_id"] != obj["child_node_id"]:',
      (LOAD_VALIDATION,), "a contribution line of another child node is accepted"),
    m("load.reload_keeps_old_rows", "src/quality_compass/load/transaction.py",
      "        for old in old_partitions[table.name]:\n"
      '            conn.execute(sql.SQL("drop table public.{}").format(sql.Identifier(old)))\n',
      "",
      (LOAD,), "a reload does not drop the run's previous partitions"),
    # -- statistics (validator and generator) -------------------------------------------------
    m("validator.percentile_no_midpoint", "src/quality_compass/synth/validate/statistics.py",
      "100.0 * (average_rank - 0.5) / count", "100.0 * average_rank / count",
      (STATISTICS, VALIDATE), "the validator's percentile rank without the midpoint"),
    m("validator.mad_unscaled", "src/quality_compass/synth/validate/statistics.py",
      "    return MAD_SCALE * float(statistics.median(abs(v - centre) for v in present))",
      "    return float(statistics.median(abs(v - centre) for v in present))",
      (STATISTICS, VALIDATE), "the validator's MAD without the 1.4826 scale"),
    m("validator.halves_rounded_up", "src/quality_compass/synth/validate/statistics.py",
      "    half = periods // 2\n    out: list[float] = []",
      "    half = (periods + 1) // 2\n    out: list[float] = []",
      (STATISTICS, VALIDATE), "acceleration halves split differently for odd lengths"),
    m("generator.slope_sign", "src/quality_compass/needle/formulas.py",
      "        slope = sxy / sxx", "        slope = -sxy / sxx",
      (STATISTICS,), "the generator's OLS slope with its sign flipped"),
    m("generator.tier_strict", "src/quality_compass/needle/formulas.py",
      "        if value <= bound:", "        if value < bound:",
      (STATISTICS,), "the generator's tier bounds made exclusive"),
)  # fmt: skip


# -- the scratch copy --------------------------------------------------------------------------


def repository_files(root: Path) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    return [name for name in listed.decode().split("\0") if name and (root / name).is_file()]


def make_scratch(root: Path, into: Path) -> Path:
    """Copy the checkout (tracked and untracked, not ignored files) under ``into``."""
    for name in repository_files(root):
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    return into / BACKEND.relative_to(root)


def scratch_env(scratch_backend: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_POSTGRES_", "QC_"))}
    env["PYTHONPATH"] = str(scratch_backend / "src")
    env["QC_HOME"] = str(BACKEND / ".qc")  # this checkout's embedded server
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


def use_suite_from(root: Path, scratch_backend: Path, revision: str) -> None:
    """Replace the copy's tests/ by the suite of an older revision (to show which mutants
    that suite let through)."""
    tests = scratch_backend / "tests"
    shutil.rmtree(tests)
    prefix = f"{BACKEND.relative_to(root)}/tests/"
    names = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", revision, prefix],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in names:
        content = subprocess.run(
            ["git", "show", f"{revision}:{name}"], cwd=root, capture_output=True, check=True
        ).stdout
        target = tests / name.removeprefix(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def whole_modules(scratch_backend: Path, tests: tuple[str, ...]) -> tuple[str, ...]:
    """The modules of a selection that exist in the copy (an older suite names its tests
    differently), whole."""
    files = dict.fromkeys(arg.split("::")[0] for arg in tests if arg.startswith("tests/"))
    return tuple(name for name in files if (scratch_backend / name).is_file())


def check_scratch_imports(scratch_backend: Path) -> None:
    found = subprocess.run(
        [sys.executable, "-c", "import quality_compass; print(quality_compass.__file__)"],
        cwd=scratch_backend,
        env=scratch_env(scratch_backend),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(scratch_backend.resolve()):
        raise SystemExit(f"the scratch copy imports {found}, not its own source")


@contextmanager
def mutated(scratch_backend: Path, mutant: Mutant) -> Iterator[None]:
    path = scratch_backend / mutant.path
    original = path.read_text(encoding="utf-8")
    if original.count(mutant.old) != 1:
        raise SystemExit(
            f"{mutant.name}: the text to replace occurs {original.count(mutant.old)} times"
        )
    path.write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
    try:
        yield
    finally:
        path.write_text(original, encoding="utf-8")


# -- running -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    status: str  # killed / survived / error (the selection did not run: exit code 2-5)
    seconds: float
    killed_by: str | None
    what: str
    tests: list[str]


def run_tests(scratch_backend: Path, tests: tuple[str, ...]) -> tuple[int, str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-n0", "-p", "no:cacheprovider"]
    process = subprocess.run(
        [*command, *tests],
        cwd=scratch_backend,
        env=scratch_env(scratch_backend),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    return process.returncode, process.stdout + process.stderr


def first_failure(output: str) -> str | None:
    match = re.search(r"^(FAILED|ERROR) (\S+)", output, flags=re.MULTILINE)
    return match.group(2) if match else None


def run_mutant(
    scratch_backend: Path, mutant: Mutant, logs: Path, older_suite: bool = False
) -> Outcome:
    started = time.monotonic()
    tests = whole_modules(scratch_backend, mutant.tests) if older_suite else mutant.tests
    with mutated(scratch_backend, mutant):
        try:
            code, output = run_tests(scratch_backend, tests)
        except subprocess.TimeoutExpired:
            code, output = -1, "timeout"
    (logs / f"{mutant.name}.log").write_text(output, encoding="utf-8")
    status = {0: "survived", 1: "killed"}.get(code, "error")
    return Outcome(
        name=mutant.name,
        status=status,
        seconds=round(time.monotonic() - started, 1),
        killed_by=first_failure(output) if status == "killed" else None,
        what=mutant.what,
        tests=list(tests),
    )


def load_results() -> dict[str, dict[str, object]]:
    if not RESULTS.is_file():
        return {}
    return {row["name"]: row for row in json.loads(RESULTS.read_text())["mutants"]}


def save_results(results: dict[str, dict[str, object]]) -> None:
    ordered = [results[m.name] for m in MUTANTS if m.name in results]
    killed = sum(1 for row in ordered if row["status"] == "killed")
    summary = {
        "killed": killed,
        "total": len(ordered),
        "seconds": round(sum(float(str(row["seconds"])) for row in ordered), 1),
        "mutants": ordered,
    }
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def markdown() -> str:
    results = load_results()
    lines = ["| mutant | bug | result | seconds | caught by |", "| --- | --- | --- | --- | --- |"]
    for mutant in MUTANTS:
        row = results.get(mutant.name)
        if row is None:
            continue
        caught = str(row["killed_by"] or "").removeprefix("tests/")
        lines.append(
            f"| `{mutant.name}` | {mutant.what} | {row['status']} | {row['seconds']} | {caught} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the mutants")
    parser.add_argument("--check", action="store_true", help="each mutant's text occurs once")
    parser.add_argument("--baseline", action="store_true", help="run every selection unmutated")
    parser.add_argument("--markdown", action="store_true", help="print the results table")
    parser.add_argument("--only", nargs="+", help="run these mutants only")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy")
    parser.add_argument(
        "--suite-from",
        metavar="REVISION",
        help="run the tests/ of an older revision instead (whole modules); results are "
        "printed, not saved",
    )
    options = parser.parse_args()
    if options.list:
        for mutant in MUTANTS:
            print(f"{mutant.name:45} {mutant.path}: {mutant.what}")
        return
    if options.markdown:
        print(markdown())
        return
    if options.check:
        bad = [
            mutant.name
            for mutant in MUTANTS
            if (BACKEND / mutant.path).read_text(encoding="utf-8").count(mutant.old) != 1
        ]
        print(f"{len(MUTANTS)} mutants; text not found exactly once: {bad or 'none'}")
        raise SystemExit(1 if bad else 0)
    selected = [m for m in MUTANTS if not options.only or m.name in options.only]
    root = Path(
        subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=BACKEND, capture_output=True, text=True
        ).stdout.strip()
    )
    scratch_root = Path(tempfile.mkdtemp(prefix="qc-mutate-"))
    try:
        scratch_backend = make_scratch(root, scratch_root / "repo")
        check_scratch_imports(scratch_backend)
        if options.suite_from:
            use_suite_from(root, scratch_backend, options.suite_from)
        logs = (
            scratch_root / "logs"
            if options.keep
            else Path(tempfile.mkdtemp(prefix="qc-mutate-logs-"))
        )
        logs.mkdir(parents=True, exist_ok=True)
        if options.baseline:
            selections = sorted(
                {arg for m in selected for arg in m.tests if arg.startswith("tests/")}
            )
            code, output = run_tests(scratch_backend, tuple(selections))
            print(output[-3000:])
            raise SystemExit(code)
        results = load_results()
        for number, mutant in enumerate(selected, 1):
            outcome = run_mutant(scratch_backend, mutant, logs, bool(options.suite_from))
            if not options.suite_from:
                results[mutant.name] = asdict(outcome)
                save_results(results)
            print(
                f"[{number}/{len(selected)}] {outcome.status:8} {outcome.seconds:7.1f} s  "
                f"{mutant.name}  {outcome.killed_by or ''}",
                flush=True,
            )
        print(f"logs in {logs}")
    finally:
        if not options.keep:
            shutil.rmtree(scratch_root, ignore_errors=True)


if __name__ == "__main__":
    main()
