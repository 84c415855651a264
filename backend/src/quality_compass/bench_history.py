"""``qc bench --history``: the daily build with history, against the build of one run alone.

The scenario of issue 9: users load one run a day and keep months of runs, so the
``dbt build`` after loading a run must cost what building that run alone costs, however
many runs are already built. Data: a series of N runs of one graph (default 10 runs of
~100 MB of JSONL each, ``qc generate --series N --target-size 100MB --seed 1234``, cached
under ``.qc/bench/runs/history-*``). Two fresh databases on the same server, in this order:

1. **alone** (``qc_bench_alone``): load run N into an empty database, ``dbt seed``, time
   ``dbt build`` (every model and test);
2. **history** (``qc_bench_history``): load runs 1..N-1, ``dbt seed``, ``dbt build`` (the
   first build of the N-1 runs, timed too), then load run N and time ``dbt build``: the
   daily build with N-1 earlier runs built;
3. **nothing new**: ``dbt build`` again in the history database: the fixed cost of a build;
4. **full refresh**: ``dbt build --full-refresh`` with all N runs.

``ratio`` = build after the load / build of the run alone (target: at most 1.25). With
``rounds`` > 1, steps 1-3 are repeated, alternating (a fresh alone database each round;
in the history database run N is dropped, built away and loaded again), and the medians
are compared. The build log (``public_meta.qc_build_log``) shows which runs the daily
build built; dbt's ``run_results.json`` gives each node's time, and the nodes that grew
most from the alone build to the daily build are listed: what still grows with history.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quality_compass.load.loader import load_run
from quality_compass.load.report import LoadOptions
from quality_compass.load.runs import drop_runs
from quality_compass.paths import qc_home, read_cache_marker, write_cache_marker
from quality_compass.warehouse.connection import connect
from quality_compass.warehouse.dbt_runner import DbtResult, run_dbt
from quality_compass.warehouse.settings import DbSettings

HISTORY_RUNS = 10
HISTORY_SIZE = 100_000_000
HISTORY_GRAPH = "bench_history"
HISTORY_TARGET = 1.25
#: Nodes listed as growing most with history.
GROWN_NODES = 8

#: A fresh database of the given name on the server, dropped afterwards (``bench.bench_database``).
DatabaseFactory = Callable[[DbSettings, str], AbstractContextManager[DbSettings]]


@dataclass
class HistoryResult:
    runs: int
    run_jsonl_mb: float  # per run, mean
    series_dir: str
    rounds: int
    generated_seconds: float | None = None
    earlier_load_seconds: float = 0.0
    first_build_seconds: float = 0.0  # the first build of the N-1 earlier runs
    alone_load_seconds: list[float] = field(default_factory=list)
    alone_build_seconds: list[float] = field(default_factory=list)
    new_load_seconds: list[float] = field(default_factory=list)
    daily_build_seconds: list[float] = field(default_factory=list)
    nothing_new_seconds: list[float] = field(default_factory=list)
    full_refresh_seconds: float | None = None
    ratio: float | None = None
    ok: bool = True
    daily_statuses: dict[str, int] = field(default_factory=dict)
    #: runs the daily build built, per model (from the build log): run N only
    daily_runs_built: list[str] = field(default_factory=list)
    daily_models_built: int = 0
    #: sums of execution times (s) of models and of tests: alone, daily, nothing new
    node_seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    #: (node, seconds alone, seconds in the daily build), largest growth first
    grown: list[tuple[str, float, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def history_series(
    runs: int, size: int, seed: int, regenerate: bool = False
) -> tuple[list[Path], float | None]:
    """The series' run folders, oldest first (generated once, cached); generation seconds."""
    from quality_compass.synth.generate.options import GenerateOptions
    from quality_compass.synth.generate.series import generate_series

    root = qc_home() / "bench" / "runs" / f"history-{size // 1_000_000}MB-{seed}-{runs}"
    if regenerate and root.exists():
        shutil.rmtree(root)
    cached = read_cache_marker(root)
    if cached:
        return cached, None
    if root.exists():
        shutil.rmtree(root)
    started = time.perf_counter()
    options = GenerateOptions(
        out_dir=root, target_size=size, seed=seed, graph=HISTORY_GRAPH, overwrite=True
    )
    run_dirs = [result.run_dir for result in generate_series(options, runs)]
    seconds = time.perf_counter() - started
    write_cache_marker(root, run_dirs)
    return run_dirs, seconds


def _timed_load(run_dir: Path, settings: DbSettings) -> float:
    started = time.perf_counter()
    load_run(run_dir, settings, LoadOptions())
    return time.perf_counter() - started


def node_times(build: DbtResult) -> dict[str, float]:
    """Execution seconds per node (model, test, seed...) of a dbt invocation."""
    return {
        str(result.get("unique_id", "")): float(result.get("execution_time") or 0.0)
        for result in (build.run_results or {}).get("results", [])
    }


def node_sums(times: dict[str, float]) -> dict[str, float]:
    """Seconds spent in models and in data/unit tests."""
    return {
        "models": round(sum(t for n, t in times.items() if n.startswith("model.")), 2),
        "tests": round(
            sum(t for n, t in times.items() if n.startswith(("test.", "unit_test."))), 2
        ),
    }


def grown_nodes(
    alone: dict[str, float], daily: dict[str, float], count: int = GROWN_NODES
) -> list[tuple[str, float, float]]:
    """The nodes whose time grew most from the alone build to the daily build."""
    growth = sorted(
        ((daily[node] - alone.get(node, 0.0), node) for node in daily), key=lambda x: -x[0]
    )
    return [
        (node_name(node), round(alone.get(node, 0.0), 2), round(daily[node], 2))
        for _, node in growth[:count]
    ]


def node_name(unique_id: str) -> str:
    """``model.project.fct_signals`` -> fct_signals; a data test's name without its hash;
    a unit test's own name."""
    parts = unique_id.split(".")
    if len(parts) < 3:
        return unique_id
    return parts[3] if parts[0] == "unit_test" and len(parts) > 3 else parts[2]


def runs_built(settings: DbSettings, build: DbtResult) -> tuple[list[str], int]:
    """The runs an invocation built (any model) and how many models built one, from the
    build log of the run-partitioned materialization."""
    invocation = ((build.run_results or {}).get("metadata") or {}).get("invocation_id")
    with connect(settings) as conn:
        exists = conn.execute("select to_regclass('public_meta.qc_build_log') is not null")
        row = exists.fetchone()
        if not invocation or not row or not row[0]:
            return [], 0
        built = conn.execute(
            """select run_id, count(distinct model_name)
               from public_meta.qc_build_log
               where invocation_id = %s and action = 'built'
               group by run_id order by run_id""",
            (invocation,),
        ).fetchall()
    return [str(run_id) for run_id, _ in built], max((int(n) for _, n in built), default=0)


class HistoryBench:
    """Runs the scenario (module docstring) against one server."""

    def __init__(
        self,
        server: DbSettings,
        database: DatabaseFactory,
        run_dirs: list[Path],
        result: HistoryResult,
        log: Callable[[str], None],
    ) -> None:
        self.server = server
        self.database = database
        self.earlier, self.newest = run_dirs[:-1], run_dirs[-1]
        self.result = result
        self.log = log
        self.target = qc_home() / "bench" / "target-history"
        self.alone_target = qc_home() / "bench" / "target-history-alone"
        self.alone_times: list[dict[str, float]] = []
        self.daily_times: list[dict[str, float]] = []

    def dbt(self, args: list[str], settings: DbSettings, target: Path) -> DbtResult:
        build = run_dbt(args, settings, stream=False, check=False, target_path=target)
        if not build.ok:
            self.result.ok = False
            self.result.failures.append(f"dbt {' '.join(args)}: {build.output[-2000:]}")
            self.log(f"[history] warning: dbt {' '.join(args)} failed")
        return build

    def run(self, history_db: DbSettings, rounds: int) -> HistoryResult:
        result = self.result
        self.log(f"[history] load {len(self.earlier)} earlier runs …")
        result.earlier_load_seconds = round(
            sum(_timed_load(run_dir, history_db) for run_dir in self.earlier), 2
        )
        self.dbt(["seed"], history_db, self.target)
        self.log(f"[history] first dbt build of the {len(self.earlier)} earlier runs …")
        result.first_build_seconds = round(self.dbt(["build"], history_db, self.target).seconds, 2)
        for round_number in range(rounds):
            self.log(f"[history] round {round_number + 1}/{rounds}: run {self.newest.name} alone …")
            with self.database(self.server, "qc_bench_alone") as alone_db:
                self.alone_round(alone_db)
            self.log(f"[history] round {round_number + 1}/{rounds}: the daily build …")
            self.daily_round(history_db, again=round_number > 0)
        self.log(f"[history] dbt build --full-refresh of {len(self.earlier) + 1} runs …")
        full = self.dbt(["build", "--full-refresh"], history_db, self.target)
        result.full_refresh_seconds = round(full.seconds, 2)
        self.summarise()
        return result

    def alone_round(self, alone_db: DbSettings) -> None:
        self.result.alone_load_seconds.append(round(_timed_load(self.newest, alone_db), 2))
        self.dbt(["seed"], alone_db, self.alone_target)
        build = self.dbt(["build"], alone_db, self.alone_target)
        self.result.alone_build_seconds.append(round(build.seconds, 2))
        self.alone_times.append(node_times(build))

    def daily_round(self, history_db: DbSettings, again: bool) -> None:
        result = self.result
        if again:  # take run N away again (dropped from every model), then add it anew
            drop_runs(history_db, self.newest.name)
            self.dbt(["build"], history_db, self.target)
        result.new_load_seconds.append(round(_timed_load(self.newest, history_db), 2))
        daily = self.dbt(["build"], history_db, self.target)
        result.daily_build_seconds.append(round(daily.seconds, 2))
        self.daily_times.append(node_times(daily))
        result.daily_statuses = daily.statuses()
        result.daily_runs_built, result.daily_models_built = runs_built(history_db, daily)
        nothing = self.dbt(["build"], history_db, self.target)
        result.nothing_new_seconds.append(round(nothing.seconds, 2))
        result.node_seconds["nothing_new"] = node_sums(node_times(nothing))

    def summarise(self) -> None:
        result = self.result
        alone = statistics.median(result.alone_build_seconds)
        daily = statistics.median(result.daily_build_seconds)
        result.ratio = round(daily / alone, 3) if alone > 0 else None
        alone_times = _median_times(self.alone_times)
        daily_times = _median_times(self.daily_times)
        result.node_seconds["alone"] = node_sums(alone_times)
        result.node_seconds["daily"] = node_sums(daily_times)
        result.grown = grown_nodes(alone_times, daily_times)


def _median_times(rounds: list[dict[str, float]]) -> dict[str, float]:
    nodes = set().union(*rounds) if rounds else set()
    return {node: statistics.median(times.get(node, 0.0) for times in rounds) for node in nodes}


def bench_history(
    server: DbSettings,
    database: DatabaseFactory,
    *,
    runs: int = HISTORY_RUNS,
    size: int = HISTORY_SIZE,
    seed: int,
    rounds: int = 1,
    regenerate: bool = False,
    log: Callable[[str], None] = print,
) -> HistoryResult:
    """The history scenario (module docstring): N runs, the last one built with and without
    the N-1 earlier runs already built; ``database`` makes the fresh databases."""
    log(f"[history] series of {runs} runs of ~{size / 1e6:.0f} MB …")
    run_dirs, generated = history_series(runs, size, seed, regenerate)
    jsonl = [sum(path.stat().st_size for path in run_dir.rglob("*.jsonl")) for run_dir in run_dirs]
    result = HistoryResult(
        runs=len(run_dirs),
        run_jsonl_mb=round(sum(jsonl) / len(jsonl) / 1e6, 1),
        series_dir=str(run_dirs[0].parent),
        rounds=rounds,
        generated_seconds=round(generated, 2) if generated is not None else None,
    )
    with database(server, "qc_bench_history") as history_db:
        return HistoryBench(server, database, run_dirs, result, log).run(history_db, rounds)


def history_markdown(history: dict[str, Any]) -> list[str]:
    """The history scenario's lines in docs/performance.md."""

    def figures(values: list[float]) -> str:
        if len(values) == 1:
            return f"{values[0]}"
        return f"{statistics.median(values):.2f} (median of {', '.join(str(v) for v in values)})"

    ratio = history.get("ratio")
    verdict = "" if ratio is None else (" ✓" if ratio <= HISTORY_TARGET else " ✗ over target")
    nodes = history.get("node_seconds", {})
    lines = [
        "",
        f"History scenario ({history['runs']} runs of one graph, {history['run_jsonl_mb']} MB "
        f"of JSONL each, {history['rounds']} round(s)): the `dbt build` (models and tests) "
        f"after loading run {history['runs']} with the {history['runs'] - 1} earlier runs "
        "built, against the build of that run alone in an empty database.",
        "",
        "| build | wall s | models s (sum) | tests s (sum) |",
        "| --- | ---: | ---: | ---: |",
        f"| run {history['runs']} alone (empty database) | {figures(history['alone_build_seconds'])} "
        f"| {nodes.get('alone', {}).get('models', '–')} | {nodes.get('alone', {}).get('tests', '–')} |",
        f"| run {history['runs']} after {history['runs'] - 1} runs built (daily build) "
        f"| {figures(history['daily_build_seconds'])} | {nodes.get('daily', {}).get('models', '–')} "
        f"| {nodes.get('daily', {}).get('tests', '–')} |",
        f"| nothing new (fixed cost) | {figures(history['nothing_new_seconds'])} "
        f"| {nodes.get('nothing_new', {}).get('models', '–')} "
        f"| {nodes.get('nothing_new', {}).get('tests', '–')} |",
        f"| `--full-refresh`, all {history['runs']} runs | {history['full_refresh_seconds']} | | |",
        f"| first build of the {history['runs'] - 1} earlier runs | {history['first_build_seconds']} | | |",
        "",
        f"Daily build / build alone: **{ratio}×** (target ≤ {HISTORY_TARGET}×){verdict}. "
        f"The daily build built run(s) {', '.join(history['daily_runs_built']) or '–'} in "
        f"{history['daily_models_built']} models (build log). `qc load` of run "
        f"{history['runs']}: {figures(history['new_load_seconds'])} s with the earlier runs "
        f"loaded, {figures(history['alone_load_seconds'])} s alone.",
    ]
    if history.get("grown"):
        grown = ", ".join(f"{name} {alone} → {daily} s" for name, alone, daily in history["grown"])
        lines += ["", f"Nodes that grew most from the alone build to the daily build: {grown}."]
    if not history.get("ok", True):
        lines += ["", "**A dbt command failed during the scenario; see the results file.**"]
    return lines
