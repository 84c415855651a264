"""§9.6 Classifications: the CSV summary row by row, the JSONL record beside each row, the
index and manifest totals (rules 32-37).

Rows name an aggregate node with a monthly twin (33); their inputs repeat the twin's
statistics (35); severities lie in one range per signal type (34); the JSONL repeats the
CSV (32); the indicators follow the empirical rules (36, ``classification_rules``).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from typing import Any

from quality_compass.needle.layout import (
    CLASSIFICATION_CSV,
    CLASSIFICATION_INDEX,
    CLASSIFICATION_JSONL,
    CLASSIFICATION_MANIFEST,
)
from quality_compass.needle.vocabulary import (
    CLASSIFICATION_INPUTS,
    CSV_FIXED,
    SIGNAL_TYPES,
    TRENDS_TO,
)
from quality_compass.synth.validate.check_numbers import as_float, close, csv_float, csv_int, shown
from quality_compass.synth.validate.classification_rules import check_empirical_rules
from quality_compass.synth.validate.state import NodeInfo, RunState


class ClassificationChecker:
    CSV = CLASSIFICATION_CSV
    JSONL = CLASSIFICATION_JSONL

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.types: Counter[str] = Counter()
        self.severities: list[int] = []
        self.ranges: dict[str, tuple[int, int]] = {}

    def run(self) -> None:
        state = self.state
        index = state.read_json(CLASSIFICATION_INDEX)
        manifest = state.read_json(CLASSIFICATION_MANIFEST)
        for rel, doc in ((CLASSIFICATION_INDEX, index), (CLASSIFICATION_MANIFEST, manifest)):
            if isinstance(doc, dict):
                state.check_run_id(rel, doc.get("run_id"))
                state.check_timestamp(rel, doc.get("generated_at"), "generated_at")
        csv_path = state.root / self.CSV
        if not csv_path.is_file():
            state.err("1", self.CSV, None, "required file missing")
            return
        jsonl_present = (state.root / self.JSONL).is_file()
        if not jsonl_present:
            state.warn(
                "10", self.JSONL, None, "classification JSONL missing (as in the reference runs)"
            )
        rows, jsonl_rows = self._rows(jsonl_present)
        if jsonl_present and jsonl_rows != rows:
            state.err("9.6-32", self.JSONL, None, f"{jsonl_rows} records != {rows} CSV rows")
        self._totals(index, manifest, rows)

    def _rows(self, jsonl_present: bool) -> tuple[int, int]:
        """Check each CSV row, then the JSONL record beside it; returns both counts."""
        state = self.state
        records: Iterator[tuple[int, Any]] = (
            state.read_jsonl(self.JSONL) if jsonl_present else iter(())
        )
        rows = 0
        jsonl_rows = 0
        with open(state.root / self.CSV, encoding="utf-8", newline="") as handle:
            state.report.files += 1
            reader = csv.DictReader(handle)
            dims = [c for c in (reader.fieldnames or []) if c not in CSV_FIXED]
            for row in reader:
                rows += 1
                state.report.lines_read += 1
                self._csv_row(row, dims, rows + 1)
                if jsonl_present:
                    item = next(records, None)
                    if item is None:
                        continue
                    jsonl_rows += 1
                    self._record(item[0], item[1], row)
            if jsonl_present:
                for _ in records:
                    jsonl_rows += 1
        return rows, jsonl_rows

    # -- CSV rows -------------------------------------------------------------------------

    def _csv_row(self, row: dict[str, str], dims: list[str], number: int) -> None:
        state, rel = self.state, self.CSV
        state.check_run_id(rel, row.get("run_id"), number)
        node_id = row.get("node_id", "")
        node = state.nodes.get(node_id)
        if node is None or node.temporal or not any(t == TRENDS_TO for _, t in node.children):
            state.err(
                "9.6-33",
                rel,
                number,
                f"node_id {node_id!r} is not an aggregate node with a trends_to child",
            )
            return
        filled = {d for d in dims if row.get(d)}
        if filled != set(node.dims):
            state.err(
                "9.6-32",
                rel,
                number,
                f"non-empty dimension columns {sorted(filled)} != node dimensions {sorted(node.dims)}",
            )
        if not self._severity(row, number):
            return
        inputs = {name: csv_float(row.get(name)) for name in CLASSIFICATION_INPUTS}
        try:
            period_count = int(row.get("period_count", ""))
        except ValueError:
            period_count = -1
        suppressed = row.get("suppressed") == "True"
        key = tuple(row.get(d, "") for d in node.dims)
        self._twin(node, key, inputs, period_count, number)
        agg = state.agg_store.get(node_id, {}).get(key)
        if agg is not None and agg.suppressed != suppressed:
            state.warn(
                "9.6-37",
                rel,
                number,
                f"suppressed {suppressed} != aggregate z methods suppressed {agg.suppressed}",
            )
        check_empirical_rules(state, rel, row, inputs, period_count, suppressed, number)

    def _severity(self, row: dict[str, str], number: int) -> bool:
        """Signal type, severity and range (32, 34); False when they are not integers."""
        state, rel = self.state, self.CSV
        signal = row.get("signal_type", "")
        if signal not in SIGNAL_TYPES:
            state.err("9.6-32", rel, number, f"unknown signal_type {signal!r}")
        try:
            severity = int(row.get("severity", ""))
            low, high = (
                int(row.get("severity_range_min", "")),
                int(row.get("severity_range_max", "")),
            )
        except ValueError:
            state.err("9.6-34", rel, number, "severity / severity_range are not integers")
            return False
        self.types[signal] += 1
        self.severities.append(severity)
        if not low <= severity <= high:
            state.err(
                "9.6-34", rel, number, f"severity {severity} outside severity_range [{low}, {high}]"
            )
        known = self.ranges.setdefault(signal, (low, high))
        if known != (low, high):
            state.err(
                "9.6-34",
                rel,
                number,
                f"severity_range [{low}, {high}] of {signal} != [{known[0]}, {known[1]}] earlier in the run",
            )
        return True

    def _twin(
        self,
        node: NodeInfo,
        key: tuple[str, ...],
        inputs: dict[str, float],
        period_count: int,
        number: int,
    ) -> None:
        """35: the inputs are the statistics of the entity in the node's monthly twin."""
        state, rel = self.state, self.CSV
        twin_id = next((c for c, t in node.children if t == TRENDS_TO), None)
        twin = state.twin_store.get(twin_id, {}).get(key) if twin_id else None
        if twin_id in state.twin_store and twin is None:
            state.err("9.6-35", rel, number, f"entity {list(key)} not found in the twin {twin_id}")
        if twin is None:
            return
        for name, want in (
            ("aggregate_zscore", twin.mean_simple),
            ("slope_percentile", twin.slope_percentile),
            ("acceleration", twin.acceleration),
            ("zscore_std", twin.zscore_std),
            ("max_abs_deviation", twin.max_abs_deviation),
        ):
            if not close(inputs[name], want):
                state.err(
                    "9.6-35",
                    rel,
                    number,
                    f"{name} {shown(inputs[name])} != twin statistic {shown(want)}",
                )
        if period_count != twin.period_count:
            state.err(
                "9.6-35",
                rel,
                number,
                f"period_count {period_count} != twin period_count {twin.period_count}",
            )

    # -- JSONL records ------------------------------------------------------------------------

    def _record(self, number: int, rec: dict[str, Any] | None, row: dict[str, str]) -> None:
        """32: the JSONL record beside a CSV row repeats it."""
        state, rel = self.state, self.JSONL
        if rec is None:
            return
        state.check_run_id(rel, rec.get("run_id"), number)
        node = state.nodes.get(row.get("node_id", ""))
        if rec.get("node_id") != row.get("node_id"):
            state.err(
                "9.6-32",
                rel,
                number,
                f"node_id {rec.get('node_id')!r} != CSV row {row.get('node_id')!r}",
            )
            return
        raw_key = rec.get("entity_key")
        key: dict[str, Any] = raw_key if isinstance(raw_key, dict) else {}
        if node is not None:
            want = {d: row.get(d, "") for d in node.dims}
            got_key = {d: key.get(d) for d in node.dims}
            if got_key != want:
                state.err("9.6-32", rel, number, f"entity_key {key} != CSV row {want}")
        for name in ("signal_type", "severity", "period_count", "suppressed"):
            got = rec.get(name)
            want_text = row.get(name)
            if str(got) != want_text:
                state.err("9.6-32", rel, number, f"{name} {got!r} != CSV row {want_text!r}")
        severity_range = rec.get("severity_range")
        if severity_range != [
            csv_int(row.get("severity_range_min")),
            csv_int(row.get("severity_range_max")),
        ]:
            state.err("9.6-32", rel, number, f"severity_range {severity_range} != CSV row")
        self._record_numbers(rec, row, number)

    def _record_numbers(self, rec: dict[str, Any], row: dict[str, str], number: int) -> None:
        state, rel = self.state, self.JSONL
        raw_inputs = rec.get("inputs")
        inputs: dict[str, Any] = raw_inputs if isinstance(raw_inputs, dict) else {}
        for name in CLASSIFICATION_INPUTS:
            if not close(as_float(inputs.get(name)), csv_float(row.get(name))):
                state.err(
                    "9.6-32",
                    rel,
                    number,
                    f"inputs.{name} {shown(inputs.get(name))} != CSV row {row.get(name)!r}",
                )
        calc = rec.get("severity_calculation")
        if isinstance(calc, dict):
            final = calc.get("final_severity", calc.get("final"))
            if final is not None and final != rec.get("severity"):
                state.warn(
                    "9.6-34",
                    rel,
                    number,
                    f"severity_calculation final {final} != severity {rec.get('severity')}",
                )

    # -- totals ------------------------------------------------------------------------------

    def _totals(self, index: Any, manifest: Any, rows: int) -> None:
        state = self.state
        for rel, doc in ((CLASSIFICATION_INDEX, index), (CLASSIFICATION_MANIFEST, manifest)):
            if not isinstance(doc, dict):
                continue
            if doc.get("total_entities") != rows:
                state.err(
                    "9.6-32",
                    rel,
                    None,
                    f"total_entities {doc.get('total_entities')} != {rows} CSV rows",
                )
            dist = doc.get("signal_type_distribution") or {}
            if dict(dist) != dict(self.types):
                state.err(
                    "9.6-32",
                    rel,
                    None,
                    f"signal_type_distribution {dict(dist)} != CSV counts {dict(self.types)}",
                )
        if isinstance(index, dict) and self.severities:
            self._severity_stats(index)
        self._expected_total(rows)

    def _severity_stats(self, index: dict[str, Any]) -> None:
        severities = self.severities
        stats = index.get("severity_stats") or {}
        mean = sum(severities) / len(severities)
        if (
            stats.get("min") != min(severities)
            or stats.get("max") != max(severities)
            or not close(as_float(stats.get("mean")), mean)
        ):
            self.state.err(
                "9.6-32",
                CLASSIFICATION_INDEX,
                None,
                f"severity_stats {stats} != CSV min {min(severities)}, max {max(severities)}, mean {shown(mean)}",
            )

    def _expected_total(self, rows: int) -> None:
        """33: one classification per entity of every aggregate node with a twin."""
        state = self.state
        expected = 0
        unknown: list[str] = []
        for nid, node in state.nodes.items():
            if node.temporal or not any(t == TRENDS_TO for _, t in node.children):
                continue
            if nid in state.entity_counts:
                expected += state.entity_counts[nid]
            elif nid in state.contrib_rows:
                expected += state.contrib_rows[nid]
            else:
                unknown.append(nid)
        if unknown:
            state.warn(
                "9.6-33",
                CLASSIFICATION_INDEX,
                None,
                f"cannot verify total_entities: no entity count for {', '.join(sorted(unknown))}",
            )
        elif expected != rows:
            state.err(
                "9.6-33",
                CLASSIFICATION_INDEX,
                None,
                f"{rows} classifications != {expected} entities of aggregate nodes with a trends_to child",
            )
