"""The upstream checks (backend/dbt/tests/upstream_math/, severity warn) work.

- Silent on clean data: every check passes with zero failing rows in the shared warehouse
  build (both real runs and a generated run) and on the clean copies of this module.
- Each of the 8 checks has a planted corruption that trips that check and no other. One
  database, ONE dbt build: every corruption sits in its own copy of a run under its own
  run id (plus a clean copy of each base run); the build covers the checks and the models
  they read (``+tag:upstream_math``); then each check's compiled query, run again over the
  built database, returns its failing rows, which carry ``run_id``: they say which runs
  tripped the check (the counts agree with dbt's).
- A bad upstream run is visible without blocking the build: every check warns, nothing
  errors.

The corruptions are written here in plain Python, straight into the run files; the
consistent shifts (simple, robust) keep every stored value in agreement with the header,
so only a recomputation from the peer values can see them.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import CONTAINER_RUN, Warehouse
from helpers import UPSTREAM_CHECKS as CHECKS
from helpers import Classification, copy_run, edit_classifications, upstream_check_outcomes
from quality_compass.load.loader import load_run
from quality_compass.warehouse.dbt_runner import DbtResult, run_dbt
from quality_compass.warehouse.settings import DbSettings

pytestmark = pytest.mark.dbt

AGGREGATE = "losIndex__medicareId__aggregate_time_period"
TEMPORAL = "losIndex__medicareId__dischargeMonth"
DISCHARGE_STATUS = "losIndex__medicareId_dischargeStatus__aggregate_time_period"

#: Format spec 3.2: nine tiers, upper-inclusive z bounds.
TIERS = (
    "extremely_low",
    "very_low",
    "moderately_low",
    "slightly_low",
    "normal",
    "slightly_high",
    "moderately_high",
    "very_high",
    "extremely_high",
)
Z_BOUNDS = (-3.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0)

#: run id -> the check its corruption must trip (None: a clean copy, trips nothing)
CLEAN_REAL = "20260401000001"
CLEAN_SYNTHETIC = "20260402000001"
PLANTED: dict[str, str | None] = {
    CLEAN_REAL: None,
    CLEAN_SYNTHETIC: None,
    "20260401000002": "upstream_math_simple_zscore",
    "20260401000003": "upstream_math_robust_zscore",
    "20260401000004": "upstream_math_anomaly_tiers",
    "20260401000005": "upstream_math_anomaly_statistic",
    "20260401000006": "upstream_math_temporal_summaries",
    "20260401000007": "upstream_math_classification_severity",
    "20260401000008": "upstream_graph_header_edges",
    "20260402000002": "upstream_math_weight_shares",
}
SYNTHETIC = {"facilities": 20, "months": 8, "metrics": 1, "seed": 5, "graph": "upstream_synthetic"}


def z_tier(value: float) -> str:
    """The label of a z statistic: the first tier whose bound b has value <= b."""
    return TIERS[bisect.bisect_left(Z_BOUNDS, value)]


# -- editing run files --------------------------------------------------------------------------


@dataclass
class NodeFile:
    """A node result file: header and entity lines as objects, written back by ``save``."""

    path: Path
    header: dict[str, Any]
    entities: list[dict[str, Any]]

    @classmethod
    def open(cls, run_dir: Path, node_id: str) -> NodeFile:
        path = run_dir / "results" / "nodes" / f"{node_id}.jsonl"
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return cls(path=path, header=lines[0], entities=lines[1:])

    def save(self) -> None:
        self.path.write_text(
            "".join(
                json.dumps(obj, separators=(",", ":")) + "\n"
                for obj in (self.header, *self.entities)
            )
        )

    def facet_statistics(self, method_index: int) -> dict[str, Any]:
        """The method statistics of the facility node's only facet (facet_values {})."""
        method = self.header["statistical_methods"][method_index]
        facets = method["summary"]["global_statistics"]["facets"]
        return facets[0]["method_statistics"]  # type: ignore[no-any-return]


def _anomaly_items(method: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for profile in method.get("anomalies") or []:
        yield from profile.get("methods") or []


def _relabel(item: dict[str, Any], value: float) -> None:
    """Give an anomaly item a new statistic value with its true label and template."""
    label = z_tier(value)
    item["statistic_value"] = value
    item["anomaly"] = label
    template = item["interpretation"]["template_id"]
    item["interpretation"]["template_id"] = template.rsplit("__", 1)[0] + "__" + label


def shift_peer_mean(run_dir: Path, shift: float = 0.01) -> None:
    """Every stored mean of the facility node moves by ``shift``, consistently: the header
    facet's global_metric_mean, each entity's peer_mean, its simple_zscore and the anomaly
    item (value, label, template). Nothing stored disagrees; the peer values do."""
    node = NodeFile.open(run_dir, AGGREGATE)
    for index in (0, 1):
        node.facet_statistics(index)["global_metric_mean"] += shift
    for entity in node.entities:
        method = entity["statistical_methods"][0]
        statistics = method["statistics"]
        statistics["peer_mean"] += shift
        statistics["simple_zscore"] = (
            entity["metric"][0]["values"] - statistics["peer_mean"]
        ) / statistics["peer_std"]
        for item in _anomaly_items(method):
            _relabel(item, statistics["simple_zscore"])
    node.save()


def shift_peer_median(run_dir: Path, shift: float = 0.01) -> None:
    """The same for the robust method: the header's global_metric_median and every robust
    z-score (with its anomaly item) move together."""
    node = NodeFile.open(run_dir, AGGREGATE)
    facet = node.facet_statistics(1)
    facet["global_metric_median"] += shift
    spread = max(facet["global_mad"], facet["mad_floor"])
    for entity in node.entities:
        method = entity["statistical_methods"][1]
        value = (entity["metric"][0]["values"] - facet["global_metric_median"]) / spread
        method["statistics"]["robust_zscore"] = value
        for item in _anomaly_items(method):
            _relabel(item, value)
    node.save()


def mislabel_one_anomaly(run_dir: Path) -> None:
    """Entity 1's simple z-score label names another tier than its statistic's."""
    node = NodeFile.open(run_dir, AGGREGATE)
    item = next(_anomaly_items(node.entities[0]["statistical_methods"][0]))
    item["anomaly"] = "extremely_high" if item["anomaly"] != "extremely_high" else "normal"
    node.save()


def nudge_one_statistic_value(run_dir: Path) -> None:
    """Entity 1's anomaly item carries a statistic_value that differs from the method's
    statistic, within the same tier (so its label stays right)."""
    node = NodeFile.open(run_dir, AGGREGATE)
    method = node.entities[0]["statistical_methods"][0]
    item = next(_anomaly_items(method))
    nudged = item["statistic_value"] + 0.001
    assert z_tier(nudged) == item["anomaly"] == z_tier(method["statistics"]["simple_zscore"])
    item["statistic_value"] = nudged
    node.save()


def break_per_period_zscores(run_dir: Path) -> None:
    """Temporal entity 1: its last per-period simple z no longer equals latest_simple_zscore
    (nor does the mean). Entity 2's per-period robust z-scores become a string after the
    load (``per_period_not_an_array``): the loader's contract refuses that line, but rows
    loaded before the contract existed can hold it, and the check must still say so."""
    node = NodeFile.open(run_dir, TEMPORAL)
    first = node.entities[0]["statistical_methods"][0]["statistics"]
    first["per_period_simple_zscores"][-1] += 0.3
    node.save()


def per_period_not_an_array(settings: DbSettings, run_id: str) -> None:
    """Temporal entity 2 (line 3 of its node file): per_period_robust_zscores is a string,
    written into the raw table directly (the loader would refuse it)."""
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        updated = conn.execute(
            "update public.raw_entity_results set json_data = jsonb_set(json_data,"
            " '{statistical_methods,1,statistics,per_period_robust_zscores}', '\"not computed\"')"
            " where run_id = %s and canonical_node_id = %s and line_number = 3",
            (run_id, TEMPORAL),
        ).rowcount
    assert updated == 1


def severity_above_range(rows: list[Classification]) -> list[Classification]:
    """The first unsuppressed classification gets a severity one above its range."""
    edited = [dict(row) for row in rows]
    row = next(row for row in edited if row["suppressed"] == "False")
    row["severity"] = str(int(row["severity_range_max"]) + 1)
    return edited


def drop_header_edge(run_dir: Path) -> None:
    """The facility node's header no longer lists its edge to the discharge-status node
    (graph.json still has it)."""
    node = NodeFile.open(run_dir, AGGREGATE)
    children = node.header["canonical_child_node_ids"]
    node.header["canonical_child_node_ids"] = [
        child for child in children if child["canonical_child_node_id"] != DISCHARGE_STATUS
    ]
    assert len(node.header["canonical_child_node_ids"]) == len(children) - 1
    node.save()


def unbalance_weight_shares(run_dir: Path) -> None:
    """One weight share of the metric contribution file grows by 0.05: its parent group's
    shares no longer sum to 1."""
    path = next((run_dir / "analysis" / "contribution").glob("*.losIndex.jsonl"))
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    assert record["method"] == "weighted_mean"
    record["weight_share"] += 0.05
    lines[0] = json.dumps(record, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")


# -- the planted build --------------------------------------------------------------------------


@dataclass
class PlantedBuild:
    settings: DbSettings
    result: DbtResult
    target: Path
    group_sizes: dict[str, int]

    def failing_rows(self, check: str) -> list[tuple[str, str]]:
        """(run_id, failure_reason) of every failing row of ``check``: its compiled query
        (what the build ran, scoped to the runs it built) run again."""
        compiled = self.target / "compiled" / "quality_compass" / "tests" / "upstream_math"
        query = (compiled / f"{check}.sql").read_text()
        with psycopg.connect(self.settings.conninfo()) as conn:
            rows = conn.execute(
                f"select run_id, failure_reason from ({query}) as failing".encode()
            ).fetchall()
        return [(str(run_id), str(reason)) for run_id, reason in rows]

    def failing_runs(self, check: str) -> Counter[str]:
        """The runs with failing rows of ``check``, and how many rows each."""
        return Counter(run_id for run_id, _ in self.failing_rows(check))

    def reasons(self, check: str, run_id: str) -> Counter[str]:
        return Counter(reason for run, reason in self.failing_rows(check) if run == run_id)


def _real_copy(root: Path, run_id: str, edit: Callable[[Path], None] | None = None) -> Path:
    run_dir = copy_run(CONTAINER_RUN, root, run_id, "2026-04-01T08:00:00+00:00")
    edit_classifications(run_dir, lambda rows: rows)  # the CSV's run ids follow the copy
    if edit is not None:
        edit(run_dir)
    return run_dir


def _synthetic(root: Path, run_id: str) -> Path:
    from quality_compass.synth.generate.options import GenerateOptions
    from quality_compass.synth.generate.run import generate_run

    options = GenerateOptions(out_dir=root, run_id=run_id, **SYNTHETIC)  # type: ignore[arg-type]
    return generate_run(options).run_dir


def _group_size(run_dir: Path) -> int:
    """Rows of the metric contribution file's first parent group (the corrupted one)."""
    path = next((run_dir / "analysis" / "contribution").glob("*.losIndex.jsonl"))
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    first = records[0]["parent_entity"]
    return sum(1 for record in records if record["parent_entity"] == first)


@pytest.fixture(scope="module")
def planted(
    database_factory: Callable[[str], DbSettings], tmp_path_factory: pytest.TempPathFactory
) -> PlantedBuild:
    root = tmp_path_factory.mktemp("upstream_runs")
    edits: dict[str, Callable[[Path], None] | None] = {
        CLEAN_REAL: None,
        "20260401000002": shift_peer_mean,
        "20260401000003": shift_peer_median,
        "20260401000004": mislabel_one_anomaly,
        "20260401000005": nudge_one_statistic_value,
        "20260401000006": break_per_period_zscores,
        "20260401000007": lambda run: edit_classifications(run, severity_above_range),
        "20260401000008": drop_header_edge,
    }
    runs = [_real_copy(root / "real", run_id, edit) for run_id, edit in edits.items()]
    runs.append(_synthetic(root / "synthetic", CLEAN_SYNTHETIC))
    weights = _synthetic(root / "synthetic", "20260402000002")
    unbalance_weight_shares(weights)
    runs.append(weights)

    settings = database_factory("qc_test_upstream")
    for run_dir in runs:
        load_run(run_dir, settings)
    per_period_not_an_array(settings, "20260401000006")
    target = tmp_path_factory.mktemp("upstream_target")
    result = run_dbt(
        ["build", "--select", "+tag:upstream_math", "--indirect-selection", "empty"],
        settings,
        target_path=target,
        stream=False,
        check=False,
    )
    return PlantedBuild(
        settings=settings,
        result=result,
        target=target,
        group_sizes={"weights": _group_size(weights)},
    )


# -- silent on clean data ---------------------------------------------------------------------


def test_every_check_is_silent_on_the_warehouse(warehouse: Warehouse) -> None:
    """Both real runs and the generated run: each check ran, passed, zero failing rows (and
    so did every other test tagged upstream_math)."""
    assert upstream_check_outcomes(warehouse.build.run_results) == dict.fromkeys(
        CHECKS, ("pass", 0)
    )
    manifest = json.loads((warehouse.target_path / "manifest.json").read_text())
    tagged = {
        unique_id
        for unique_id, node in manifest["nodes"].items()
        if "upstream_math" in node.get("tags", [])
    }
    assert len(tagged) >= len(CHECKS)
    outcomes = {
        result["unique_id"]: (result["status"], result.get("failures"))
        for result in (warehouse.build.run_results or {}).get("results", [])
        if result["unique_id"] in tagged
    }
    assert outcomes == dict.fromkeys(tagged, ("pass", 0))


def test_every_check_is_silent_on_the_clean_copies(planted: PlantedBuild) -> None:
    for check in CHECKS:
        runs = planted.failing_runs(check)
        assert runs[CLEAN_REAL] == 0 and runs[CLEAN_SYNTHETIC] == 0, (check, runs)


# -- each planted corruption trips its check and no other ------------------------------------


def test_a_bad_upstream_run_warns_without_failing_the_build(planted: PlantedBuild) -> None:
    statuses = planted.result.statuses()
    assert planted.result.ok, planted.result.output[-3000:]
    assert statuses.get("error", 0) == statuses.get("fail", 0) == statuses.get("skipped", 0) == 0
    outcomes = upstream_check_outcomes(planted.result.run_results)
    assert set(outcomes) == set(CHECKS)
    assert {check: status for check, (status, _) in outcomes.items()} == dict.fromkeys(
        CHECKS, "warn"
    )
    # dbt counted what the re-run queries return
    assert {check: failures for check, (_, failures) in outcomes.items()} == {
        check: len(planted.failing_rows(check)) for check in CHECKS
    }


@pytest.mark.parametrize("check", CHECKS)
def test_each_check_is_tripped_by_its_corruption_only(planted: PlantedBuild, check: str) -> None:
    planted_for = {run_id for run_id, tripped in PLANTED.items() if tripped == check}
    runs = planted.failing_runs(check)
    assert set(runs) == planted_for, runs


def test_the_failing_rows_name_what_is_wrong(planted: PlantedBuild) -> None:
    def reasons(check: str) -> Counter[str]:
        run_id = next(run_id for run_id, tripped in PLANTED.items() if tripped == check)
        return planted.reasons(check, run_id)

    # the consistent shifts: every unsuppressed facility entity, seen from the peer values
    assert reasons("upstream_math_simple_zscore") == Counter(
        {"peer_mean differs from the mean of the peer values": 118}
    )
    assert reasons("upstream_math_robust_zscore") == Counter(
        {"robust_zscore differs from (value - peer median) / max(peer MAD, mad_floor)": 118}
    )
    assert sum(reasons("upstream_math_anomaly_tiers").values()) == 1
    assert reasons("upstream_math_anomaly_statistic") == Counter(
        {"statistic_value differs from the method's simple_zscore": 1}
    )
    assert reasons("upstream_math_temporal_summaries") == Counter(
        {
            "latest z differs from the last per-period z": 1,
            "per-period z-scores are string, not an array: the summaries cannot be checked": 1,
        }
    )
    assert sum(reasons("upstream_math_classification_severity").values()) == 1
    assert reasons("upstream_graph_header_edges") == Counter(
        {"edge in graph.json but not in the node header": 1}
    )
    weights = reasons("upstream_math_weight_shares")
    assert sum(weights.values()) == planted.group_sizes["weights"]
    assert all(reason.startswith("weight shares of the parent group sum to") for reason in weights)
