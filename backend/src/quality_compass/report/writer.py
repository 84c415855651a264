"""Write a run's report to a file: the entry points of ``qc report``, ``qc pipeline --report``,
``qc demo`` and the benchmark."""

from __future__ import annotations

import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quality_compass.errors import QcError
from quality_compass.paths import qc_home
from quality_compass.report.build import ReportOptions, build_report_data
from quality_compass.report.render import render_html
from quality_compass.warehouse.settings import DbSettings


@dataclass
class ReportResult:
    path: Path
    run_id: str
    graph_name: str | None
    bytes: int
    seconds: float
    signals: int
    timings: dict[str, float] = field(default_factory=dict)


def default_report_path(run_id: str, graph_name: str | None = None) -> Path:
    """``backend/.qc/reports/<graph>_<run_id>.html`` (git-ignored)."""
    name = f"{graph_name}_{run_id}" if graph_name else run_id
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return qc_home() / "reports" / f"{safe}.html"


def write_report(
    settings: DbSettings,
    options: ReportOptions | None = None,
    out: Path | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> ReportResult:
    """Build the report of one run (default: the newest) and write it to ``out``."""
    started = time.perf_counter()
    data = build_report_data(settings, options, log=log)
    html = render_html(data)
    run: dict[str, Any] = data["run"]
    path = out or default_report_path(run["run_id"], run["graph_name"])
    if path.is_dir():
        path = path / default_report_path(run["run_id"], run["graph_name"]).name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise QcError(f"cannot write the report to {path}: {exc.strerror or exc}") from None
    timings = dict(data["timings"])
    seconds = time.perf_counter() - started
    timings["render_and_write"] = round(seconds - timings.get("total", 0.0), 4)
    return ReportResult(
        path=path.resolve(),
        run_id=run["run_id"],
        graph_name=run["graph_name"],
        bytes=len(html.encode("utf-8")),
        seconds=seconds,
        signals=int(data["overview"]["type_by_severity"]["total"]),
        timings=timings,
    )


def open_in_browser(path: Path) -> bool:
    """Open the report in the default browser; False when none is available."""
    return webbrowser.open(path.resolve().as_uri())


def measure_report(
    settings: DbSettings,
    run_id: str | None = None,
    out_dir: Path | None = None,
    target_path: Path | None = None,
) -> dict[str, Any]:
    """Build one report with the default bounds and return its size and time (the
    benchmark's figures): bytes, seconds, signals and the seconds of each step."""
    out = (out_dir or qc_home() / "reports") / f"bench_{run_id or 'newest'}.html"
    options = ReportOptions(run_id=run_id, target_path=target_path)
    result = write_report(settings, options, out)
    return {
        "run_id": result.run_id,
        "bytes": result.bytes,
        "megabytes": round(result.bytes / 1_000_000, 2),
        "seconds": round(result.seconds, 2),
        "signals": result.signals,
        "steps": result.timings,
        "path": str(result.path),
    }
