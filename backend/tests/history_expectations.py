"""What fct_signal_history must hold for a series of run folders, computed from their files.

Nothing here reads the database or reuses dbt, the loader or the generator: the manifests
and the classification JSONL/CSV are read with the standard library (through
``mart_expectations``) and the history rules (docs/architecture/incremental.md) are
re-implemented in plain Python, run after run, so a test compares two independent
computations:

- a signal is an unsuppressed classification; its identity across runs is (graph name,
  canonical node id, entity without systemName compared as a whole, metric id);
- a run's graph is run_manifest.semantic.json ``graph_name``, else run_manifest.json
  ``run_label``, else the parent folder's name; its detected_at is run_manifest.json
  ``started_at`` (a timestamp without offset counts as UTC);
- the previous run of R is the newest run of R's graph detected strictly before R; among
  several runs detected at that same moment, the greatest run id;
- statuses, streaks and resolved rows as in the model's header.

``expected_history(run_dirs)`` returns one row per (run_id, canonical_node_id, entity,
metric_id); ``run_dirs`` are the folders loaded, in any order.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mart_expectations import (
    FACILITY,
    EntityKey,
    _read_classifications,
    entity_hash,
    entity_key,
    surrogate_key,
)

#: (canonical_node_id, entity, metric_id) - the identity within a graph
SignalKey = tuple[str, EntityKey, str]
#: (run_id, canonical_node_id, entity, metric_id) - a row of the mart
HistoryKey = tuple[str, str, EntityKey, str]
#: The mart's columns: the key's four and the values of ``expected_history`` rows.
HISTORY_COLUMNS = (
    "run_id",
    "canonical_node_id",
    "entity_key",
    "metric_id",
    "graph_name",
    "facility_id",
    "signal_id",
    "signal_type",
    "signal_severity",
    "change_status",
    "previous_run_id",
    "previous_signal_type",
    "previous_signal_severity",
    "severity_change",
    "consecutive_runs",
    "first_detected_run_id",
    "detected_at",
)


@dataclass(frozen=True)
class Signal:
    facility_id: str
    signal_type: str
    signal_severity: int


@dataclass
class SeriesRun:
    run_id: str
    graph_name: str
    detected_at: datetime
    signals: dict[SignalKey, Signal] = field(default_factory=dict)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None


def _timestamp(text: str) -> datetime:
    cleaned = text[:-1] + "+00:00" if text.endswith("Z") else text
    if re.search(r"[+-]\d\d:\d\d\+00:00$", cleaned):
        cleaned = cleaned[: -len("+00:00")]  # the malformed '+00:00Z' of real runs
    moment = datetime.fromisoformat(cleaned)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_series_run(run_dir: Path) -> SeriesRun:
    semantic = _json(run_dir / "run_manifest.semantic.json")
    manifest = _json(run_dir / "run_manifest.json")
    graph_name = run_dir.parent.name
    for document, key in ((semantic, "graph_name"), (manifest, "run_label")):
        if isinstance(document, dict) and isinstance(document.get(key), str) and document[key]:
            graph_name = document[key]
            break
    started = manifest.get("started_at") if isinstance(manifest, dict) else None
    if not isinstance(started, str):
        raise ValueError(f"{run_dir}: run_manifest.json has no started_at; give the run one")
    run = SeriesRun(run_id=run_dir.name, graph_name=graph_name, detected_at=_timestamp(started))
    for classification in _read_classifications(run_dir / "analysis" / "classification"):
        if classification["suppressed"]:
            continue
        entity = classification["entity"]
        key = (classification["node_id"], entity_key(entity), classification["metric_id"])
        run.signals[key] = Signal(
            facility_id=entity[FACILITY],
            signal_type=classification["signal_type"],
            signal_severity=int(classification["severity"]),
        )
    return run


def previous_runs(runs: list[SeriesRun]) -> dict[str, str | None]:
    """The previous run of every run (see the module docstring)."""
    by_graph: dict[str, list[SeriesRun]] = defaultdict(list)
    for run in runs:
        by_graph[run.graph_name].append(run)
    previous: dict[str, str | None] = {}
    for graph_runs in by_graph.values():
        for run in graph_runs:
            earlier = [other for other in graph_runs if other.detected_at < run.detected_at]
            if not earlier:
                previous[run.run_id] = None
                continue
            newest = max(other.detected_at for other in earlier)
            # byte order of the UTF-8 run ids = code point order of the strings
            previous[run.run_id] = max(
                other.run_id for other in earlier if other.detected_at == newest
            )
    return previous


@dataclass(frozen=True)
class _Streak:
    consecutive_runs: int
    first_detected_run_id: str


def expected_history(run_dirs: list[Path]) -> dict[HistoryKey, dict[str, Any]]:
    runs = [read_series_run(run_dir) for run_dir in run_dirs]
    by_id = {run.run_id: run for run in runs}
    previous = previous_runs(runs)
    streaks: dict[str, dict[SignalKey, _Streak]] = {}

    def streaks_of(run_id: str) -> dict[SignalKey, _Streak]:
        """Each signal's streak up to this run (computed once, earlier runs first)."""
        if run_id in streaks:
            return streaks[run_id]
        run = by_id[run_id]
        before = previous[run_id]
        earlier = streaks_of(before) if before is not None else {}
        streaks[run_id] = {
            key: (
                _Streak(earlier[key].consecutive_runs + 1, earlier[key].first_detected_run_id)
                if key in earlier
                else _Streak(1, run_id)
            )
            for key in run.signals
        }
        return streaks[run_id]

    rows: dict[HistoryKey, dict[str, Any]] = {}
    for run in runs:
        before_id = previous[run.run_id]
        before = by_id[before_id] if before_id is not None else None
        before_signals = before.signals if before is not None else {}
        before_streaks = streaks_of(before_id) if before_id is not None else {}
        current_streaks = streaks_of(run.run_id)
        for key in set(run.signals) | set(before_signals):
            node_id, entity, metric_id = key
            now = run.signals.get(key)
            then = before_signals.get(key)
            if now is None:
                assert then is not None
                status = "resolved"
            elif then is None:
                status = "new"
            elif now.signal_type != then.signal_type:
                status = "type_changed"
            elif now.signal_severity > then.signal_severity:
                status = "escalated"
            elif now.signal_severity < then.signal_severity:
                status = "deescalated"
            else:
                status = "persisting"
            shown = now if now is not None else then
            assert shown is not None
            streak = current_streaks[key] if now is not None else before_streaks[key]
            entity_md5 = entity_hash(dict(entity))
            rows[(run.run_id, node_id, entity, metric_id)] = {
                "entity_key": entity_md5,
                "signal_id": (
                    surrogate_key(run.run_id, node_id, entity_md5, metric_id)
                    if now is not None
                    else None
                ),
                "graph_name": run.graph_name,
                "facility_id": shown.facility_id,
                "has_signal": now is not None,
                "signal_type": shown.signal_type,
                "signal_severity": shown.signal_severity,
                "change_status": status,
                "previous_run_id": before_id,
                "previous_signal_type": then.signal_type if then else None,
                "previous_signal_severity": then.signal_severity if then else None,
                "severity_change": (
                    now.signal_severity - then.signal_severity if now and then else None
                ),
                "consecutive_runs": streak.consecutive_runs if now is not None else 0,
                "first_detected_run_id": streak.first_detected_run_id,
                "detected_at": run.detected_at,
            }
    return rows
