"""``qc bench``: the reference benchmark, every figure measured side by side in one process.

For each preset size (S = a bundled real run, M ≈ 100 MB, L ≈ 1 GB of JSONL; generated
runs are cached under ``.qc/bench/runs``):

* **bare COPY** — the physical floor: the same JSONL lines, escaped, streamed with one
  ``COPY`` into a logged ``jsonb`` table created beforehand;
* **loader** — ``qc load`` of the same run in this process (wall time, MB/s, peak RSS
  sampled every 10 ms), as a ratio to the bare COPY;
* **dbt build** — wall time of one ``dbt build`` over the loaded run, and the slowest
  models from ``run_results.json``;
* **generation** — MB/s of ``qc generate`` when the run had to be generated;
* **load + build / bare COPY** — the whole way from files to tested marts against the floor.

``--history`` adds the history scenario (``bench_history``): the daily ``dbt build`` after
loading a run with N-1 earlier runs built, against the build of that run alone, the
fixed cost of a build with nothing new, and a full refresh.

Results are printed, written to ``bench/results/<timestamp>.json`` and summarised in
``docs/performance.md`` (between markers, with the machine description).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql

from quality_compass import __version__
from quality_compass.bench_history import (
    HISTORY_RUNS,
    HISTORY_SIZE,
    bench_history,
    history_markdown,
)
from quality_compass.errors import QcError
from quality_compass.load.copy_writer import COPY_CHUNK, escape_copy_text
from quality_compass.load.loader import load_run
from quality_compass.load.report import LoadOptions
from quality_compass.needle.run_folder import inventory
from quality_compass.paths import (
    backend_dir,
    qc_home,
    read_cache_marker,
    sample_runs_dir,
    write_cache_marker,
)
from quality_compass.warehouse.connection import connect, ping
from quality_compass.warehouse.dbt_runner import run_dbt
from quality_compass.warehouse.settings import DbSettings

SIZES: dict[str, int | None] = {"S": None, "M": 100_000_000, "L": 1_000_000_000}
BENCH_SEED = 1234
RESULTS_MARKER_START = "<!-- bench:latest:start -->"
RESULTS_MARKER_END = "<!-- bench:latest:end -->"


@dataclass
class SizeResult:
    size: str
    run_dir: str
    jsonl_bytes: int
    jsonl_lines: int
    generated_seconds: float | None = None
    generate_mb_s: float | None = None
    bare_copy_seconds: float = 0.0
    bare_copy_mb_s: float = 0.0
    load_seconds: float = 0.0
    load_mb_s: float = 0.0
    load_vs_bare: float = 0.0
    load_peak_rss_mb: float = 0.0
    load_rows: dict[str, int] = field(default_factory=dict)
    dbt_build_seconds: float | None = None
    dbt_status: dict[str, int] = field(default_factory=dict)
    dbt_slowest_models: list[tuple[str, float]] = field(default_factory=list)
    dbt_seconds_per_mb: float | None = None
    dbt_model_seconds: float | None = None
    # (qc load + dbt build) / bare COPY: files to tested marts against the floor
    load_build_vs_bare: float | None = None
    # `qc report` of the run after the build (default bounds): file size and build time.
    report_bytes: int | None = None
    report_seconds: float | None = None
    report_steps: dict[str, float] = field(default_factory=dict)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "qc_version": __version__,
    }


class PeakRss:
    """Samples this process's RSS in a background thread."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._process = psutil.Process()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self.peak = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def jsonl_files(run_dir: Path) -> list[Path]:
    run_inventory = inventory(run_dir)
    return [
        f.path
        for f in run_inventory.files
        if f.kind in ("node", "contribution", "classification_jsonl")
    ]


def bare_copy(settings: DbSettings, files: list[Path]) -> tuple[float, int, int]:
    """The floor: every JSONL line into a logged jsonb table with one COPY. (seconds, bytes, lines)"""
    total = lines = 0
    with connect(settings) as conn:
        conn.execute("drop table if exists public.bench_bare_copy")
        conn.execute("create table public.bench_bare_copy (line jsonb not null)")
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("copy public.bench_bare_copy (line) from stdin") as copy,
        ):
            for path in files:
                with open(path, "rb") as handle:
                    buffer = bytearray()
                    for raw in handle:
                        total += len(raw)
                        line = raw.rstrip(b"\r\n")
                        if not line:
                            continue
                        lines += 1
                        buffer += escape_copy_text(line) + b"\n"
                        if len(buffer) >= COPY_CHUNK:
                            copy.write(bytes(buffer))
                            buffer = bytearray()
                    if buffer:
                        copy.write(bytes(buffer))
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("drop table public.bench_bare_copy")
        conn.commit()
    return seconds, total, lines


@contextmanager
def bench_database(server: DbSettings, name: str = "qc_bench") -> Iterator[DbSettings]:
    """A fresh database for the benchmark, dropped afterwards."""
    with psycopg.connect(server.conninfo(database="postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield server.with_database(name)
    finally:
        with psycopg.connect(server.conninfo(database="postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def bench_run_dir(size: str, regenerate: bool = False) -> tuple[Path, float | None]:
    """The run for a preset: S is the bundled real run; M and L are generated once and cached."""
    target = SIZES[size]
    if target is None:
        return sample_runs_dir() / "insight_graph" / "test_minimal" / "20260115110810", None
    from quality_compass.synth.generate.options import GenerateOptions
    from quality_compass.synth.generate.run import generate_run

    root = qc_home() / "bench" / "runs" / f"{size}-{BENCH_SEED}"
    if regenerate and root.exists():
        shutil.rmtree(root)
    cached = read_cache_marker(root)
    if cached:
        return cached[0], None
    if root.exists():
        shutil.rmtree(root)
    result = generate_run(
        GenerateOptions(
            out_dir=root, target_size=target, seed=BENCH_SEED, graph="bench", overwrite=True
        )
    )
    write_cache_marker(root, [result.run_dir])
    return result.run_dir, result.seconds


def bench_size(
    size: str,
    server: DbSettings,
    *,
    with_dbt: bool = True,
    regenerate: bool = False,
    log: Callable[[str], None] = print,
) -> SizeResult:
    run_dir, generated = bench_run_dir(size, regenerate)
    files = jsonl_files(run_dir)
    all_bytes = inventory(run_dir).total_bytes
    jsonl_bytes = sum(f.stat().st_size for f in files)
    result = SizeResult(size=size, run_dir=str(run_dir), jsonl_bytes=jsonl_bytes, jsonl_lines=0)
    if generated is not None:
        written = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
        result.generated_seconds = round(generated, 2)
        result.generate_mb_s = round(written / 1e6 / generated, 1)
    with bench_database(server) as db:
        log(f"[{size}] bare COPY of {jsonl_bytes / 1e6:.0f} MB of JSONL …")
        seconds, _, lines = bare_copy(db, files)
        result.jsonl_lines = lines
        result.bare_copy_seconds = round(seconds, 2)
        result.bare_copy_mb_s = round(jsonl_bytes / 1e6 / seconds, 1)
        log(f"[{size}] qc load …")
        with PeakRss() as rss:
            started = time.perf_counter()
            report = load_run(run_dir, db, LoadOptions())
            load_seconds = time.perf_counter() - started
        result.load_seconds = round(load_seconds, 2)
        result.load_mb_s = round(all_bytes / 1e6 / load_seconds, 1)
        result.load_vs_bare = round(load_seconds / seconds, 3)
        result.load_peak_rss_mb = round(rss.peak / 2**20, 1)
        result.load_rows = report.rows
        if with_dbt:
            log(f"[{size}] dbt seed + build …")
            target = qc_home() / "bench" / f"target-{size}"
            run_dbt(["seed"], db, stream=False, target_path=target)
            build = run_dbt(["build"], db, stream=False, check=False, target_path=target)
            result.dbt_build_seconds = round(build.seconds, 2)
            result.dbt_status = build.statuses()
            timings = [
                (str(r.get("unique_id", "")).split(".")[-1], float(r.get("execution_time") or 0.0))
                for r in (build.run_results or {}).get("results", [])
                if str(r.get("unique_id", "")).startswith("model.")
            ]
            result.dbt_model_seconds = round(sum(t for _, t in timings), 2)
            result.dbt_slowest_models = [
                (name, round(t, 2)) for name, t in sorted(timings, key=lambda x: -x[1])[:8]
            ]
            result.dbt_seconds_per_mb = round(build.seconds / (jsonl_bytes / 1e6), 4)
            result.load_build_vs_bare = round((load_seconds + build.seconds) / seconds, 3)
            if not build.ok:
                log(f"[{size}] warning: dbt build failed:\n{build.output[-3000:]}")
            else:
                log(f"[{size}] qc report …")
                measure_bench_report(result, db, target)
    return result


def measure_bench_report(result: SizeResult, db: DbSettings, target: Path) -> None:
    """Size and build time of the run's HTML report (``qc report``, default bounds)."""
    from quality_compass.report.writer import measure_report

    figures = measure_report(db, out_dir=qc_home() / "bench" / "reports", target_path=target)
    result.report_bytes = figures["bytes"]
    result.report_seconds = figures["seconds"]
    result.report_steps = figures["steps"]


@dataclass(frozen=True)
class HistoryOptions:
    """The history scenario of ``qc bench --history`` (``bench_history``)."""

    runs: int = HISTORY_RUNS
    size: int = HISTORY_SIZE
    rounds: int = 1


def run_bench(
    sizes: list[str],
    server: DbSettings,
    *,
    with_dbt: bool = True,
    regenerate: bool = False,
    results_dir: Path | None = None,
    update_docs: bool = True,
    history: HistoryOptions | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    for size in sizes:
        if size not in SIZES:
            raise QcError(f"unknown size {size!r}; choose from {', '.join(SIZES)}", exit_code=2)
    if history is not None and (history.runs < 2 or history.rounds < 1):
        raise QcError("--history-runs must be at least 2 and --history-rounds at least 1", 2)
    server_version = ping(server)
    results = [
        bench_size(s, server, with_dbt=with_dbt, regenerate=regenerate, log=log) for s in sizes
    ]
    payload: dict[str, Any] = {
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {**machine(), "postgresql": server_version, "embedded": server.embedded},
        "results": [asdict(r) for r in results],
    }
    if history is not None:
        scenario = bench_history(
            server,
            bench_database,
            runs=history.runs,
            size=history.size,
            seed=BENCH_SEED,
            rounds=history.rounds,
            regenerate=regenerate,
            log=log,
        )
        payload["history"] = asdict(scenario)
    by_size = {r.size: r for r in results}
    if "M" in by_size and "L" in by_size:
        m, big = by_size["M"], by_size["L"]
        payload["growth_M_to_L"] = {
            "bytes_ratio": round(big.jsonl_bytes / m.jsonl_bytes, 2),
            "load_seconds_per_mb_ratio": round(
                (big.load_seconds / big.jsonl_bytes) / (m.load_seconds / m.jsonl_bytes), 3
            ),
            "dbt_seconds_per_mb_ratio": (
                round(big.dbt_seconds_per_mb / m.dbt_seconds_per_mb, 3)
                if big.dbt_seconds_per_mb and m.dbt_seconds_per_mb
                else None
            ),
        }
        if m.dbt_model_seconds and big.dbt_model_seconds:
            # Wall time includes dbt's fixed cost (parsing, ~450 nodes, hooks); the time
            # spent inside the models is the part that must grow linearly with the data.
            payload["growth_M_to_L"]["dbt_model_seconds_per_mb_ratio"] = round(
                (big.dbt_model_seconds / big.jsonl_bytes) / (m.dbt_model_seconds / m.jsonl_bytes), 3
            )
    results_dir = results_dir or backend_dir().parent / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / f"{payload['timestamp'].replace(':', '')}.json"
    out.write_text(json.dumps(payload, indent=2) + "\n")
    payload["results_file"] = str(out)
    if update_docs:
        update_performance_doc(payload)
    return payload


def render_markdown(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    lines = [
        f"Latest `qc bench` run: {payload['timestamp']} "
        f"(results file `bench/results/{Path(payload.get('results_file', 'x')).name}`).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM; Python {m['python']}; "
        f"PostgreSQL {m['postgresql']} ({'embedded' if m['embedded'] else 'external'}).",
    ]
    if payload["results"]:
        lines += _sizes_markdown(payload)
    if payload.get("history"):
        lines += history_markdown(payload["history"])
    return "\n".join(lines)


def _sizes_markdown(payload: dict[str, Any]) -> list[str]:
    """The single-run presets: the table, growth M -> L, report and slowest models."""
    lines = [
        "",
        "| size | JSONL MB | lines | bare COPY s | qc load s | load / bare | load MB/s | peak RSS MB "
        "| dbt build s | models s | dbt s per MB | load + build / bare | generate MB/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in payload["results"]:
        lines.append(
            f"| {r['size']} | {r['jsonl_bytes'] / 1e6:.1f} | {r['jsonl_lines']:,} | {r['bare_copy_seconds']} "
            f"| {r['load_seconds']} | {r['load_vs_bare']}× | {r['load_mb_s']} | {r['load_peak_rss_mb']} "
            f"| {r['dbt_build_seconds'] if r['dbt_build_seconds'] is not None else '–'} "
            f"| {r.get('dbt_model_seconds') if r.get('dbt_model_seconds') is not None else '–'} "
            f"| {r['dbt_seconds_per_mb'] if r['dbt_seconds_per_mb'] is not None else '–'} "
            f"| {_times(r.get('load_build_vs_bare'))} "
            f"| {r['generate_mb_s'] if r['generate_mb_s'] is not None else '(cached)'} |"
        )
    growth = payload.get("growth_M_to_L")
    if growth:
        lines += [
            "",
            f"Growth M → L: {growth['bytes_ratio']}× the bytes; cost per MB ×{growth['load_seconds_per_mb_ratio']} "
            f"for the loader and ×{growth['dbt_seconds_per_mb_ratio']} for `dbt build` (1.0 = flat).",
        ]
        if "dbt_model_seconds_per_mb_ratio" in growth:
            lines.append(
                f"Time inside the dbt models (sum of model execution times, without dbt's fixed cost): "
                f"cost per MB ×{growth['dbt_model_seconds_per_mb_ratio']} from M to L."
            )
    reports = [r for r in payload["results"] if r.get("report_bytes") is not None]
    if reports:
        figures = "; ".join(
            f"{r['size']} {r['report_bytes'] / 1e6:.2f} MB in {r['report_seconds']} s"
            for r in reports
        )
        lines += [
            "",
            f"`qc report` of the run (default bounds; target < 10 MB, < 30 s): {figures}.",
        ]
    for r in payload["results"]:
        if r["dbt_slowest_models"]:
            models = ", ".join(f"{name} {t} s" for name, t in r["dbt_slowest_models"][:5])
            lines += ["", f"Slowest models at {r['size']}: {models}."]
    return lines


def _times(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio}×"


def update_performance_doc(payload: dict[str, Any], doc: Path | None = None) -> Path:
    doc = doc or backend_dir().parent / "docs" / "performance.md"
    block = f"{RESULTS_MARKER_START}\n{render_markdown(payload)}\n{RESULTS_MARKER_END}"
    if doc.exists():
        text = doc.read_text()
        if RESULTS_MARKER_START in text and RESULTS_MARKER_END in text:
            text = re.sub(
                re.escape(RESULTS_MARKER_START) + ".*?" + re.escape(RESULTS_MARKER_END),
                lambda _: block,
                text,
                flags=re.S,
            )
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
    else:
        text = "# Performance\n\n" + block + "\n"
    doc.write_text(text)
    return doc
