"""``analysis/classification/``: one classification per aggregate entity (§7).

Each node task writes its rows into two part files (JSONL and CSV); the main process
joins them in node order into ``classifications.jsonl`` and
``classification_summary.csv``. The inputs come from the entity's monthly twin (§7):
``aggregate_zscore`` is the twin's mean simple z, plus its slope percentile,
acceleration, and the spread and peak of its per-period simple z-scores.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from typing import Any

import numpy as np

from quality_compass.needle.layout import (
    CLASSIFICATION_CSV,
    CLASSIFICATION_DIR,
    CLASSIFICATION_JSONL,
)
from quality_compass.needle.vocabulary import CSV_FIXED
from quality_compass.synth.generate.classify import SEVERITY_RANGES, Classification, classify
from quality_compass.synth.generate.clock import CONTRIBUTION_STAGE, TASK_SLOT
from quality_compass.synth.generate.entities import EntitySet
from quality_compass.synth.generate.files import BUFFER, CHUNK_LINES, RunFiles, TaskResult
from quality_compass.synth.generate.graph import NodeSpec
from quality_compass.synth.generate.json_text import csv_number, json_numbers, json_string
from quality_compass.synth.generate.peer_stats import AggregateStats, TrendStats
from quality_compass.synth.generate.plan import RunPlan
from quality_compass.synth.generate.universe import FloatArray

#: The CSV columns after run_id, node_id, metric_id and the dimension columns.
CSV_HEADER_TAIL = CSV_FIXED[3:]


def part_path(index: int, suffix: str) -> str:
    """A node task's part file (``jsonl`` or ``csv``), joined and removed at the end."""
    return f"{CLASSIFICATION_DIR}/.part-{index:05d}.{suffix}"


@dataclass(frozen=True)
class _Inputs:
    """The classification inputs of a node's entities, as floats and as JSON text."""

    zscore: list[float]
    slope_percentile: list[float]
    acceleration: list[float]
    zscore_std: list[float]
    max_abs_deviation: list[float]
    text: list[list[str]]  # per input, per entity

    @classmethod
    def of(cls, trends: TrendStats) -> _Inputs:
        z_std, max_dev = _spread_and_peak(trends.simple_z)
        columns: tuple[FloatArray, ...] = (
            trends.mean_simple_z,
            trends.slope_percentile,
            trends.acceleration,
            z_std,
            max_dev,
        )
        return cls(
            zscore=trends.mean_simple_z.tolist(),
            slope_percentile=trends.slope_percentile.tolist(),
            acceleration=trends.acceleration.tolist(),
            zscore_std=z_std.tolist(),
            max_abs_deviation=max_dev.tolist(),
            text=[json_numbers(c) for c in columns],
        )


def _spread_and_peak(z: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per entity: population std and max |value| of its per-period z-scores (NaN if none)."""
    with np.errstate(invalid="ignore", all="ignore"):
        present = ~np.isnan(z)
        counts = present.sum(axis=1)
        filled = np.where(present, z, 0.0)
        means = filled.sum(axis=1) / np.maximum(counts, 1)
        dev = np.where(present, z - means[:, None], 0.0)
        z_std = np.where(
            counts > 0, np.sqrt((dev * dev).sum(axis=1) / np.maximum(counts, 1)), np.nan
        )
        max_dev = np.where(counts > 0, np.abs(filled).max(axis=1), np.nan)
    return z_std, max_dev


class ClassificationFiles:
    """Writes classification rows, per task into part files, then joins the parts."""

    def __init__(self, plan: RunPlan, files: RunFiles) -> None:
        self.plan = plan
        self.files = files

    def write_part(
        self,
        node: NodeSpec,
        entities: EntitySet,
        trends: TrendStats,
        aggregate: AggregateStats,
        task: TaskResult,
    ) -> None:
        """Classification rows of one aggregate node into the task's part files."""
        size = entities.size
        inputs = _Inputs.of(trends)
        suppressed = aggregate.suppressed.tolist()
        observations = trends.observations.tolist()
        base = CONTRIBUTION_STAGE + TASK_SLOT * (len(self.plan.agg_ids) + task.index) + 10.0
        stamps = self.plan.clock.series(base, size, 23, "+00:00")
        dim_positions = [node.dims.index(d) if d in node.dims else -1 for d in self.plan.class_dims]
        lines: list[str] = []
        task.classification_lines += size
        with (
            self.files.open_text(part_path(task.index, "jsonl"), count=False) as out,
            open(
                self.files.path(part_path(task.index, "csv")),
                "w",
                encoding="utf-8",
                newline="",
                buffering=BUFFER,
            ) as csv_out,
        ):
            writer = csv.writer(csv_out, lineterminator="\n")
            for i in range(size):
                verdict = classify(
                    inputs.zscore[i],
                    inputs.slope_percentile[i],
                    inputs.acceleration[i],
                    inputs.zscore_std[i],
                    inputs.max_abs_deviation[i],
                    observations[i],
                    suppressed[i],
                )
                kind = verdict.signal_type
                task.distribution[kind] = task.distribution.get(kind, 0) + 1
                task.severities.append(verdict.severity)
                row = (node, verdict, inputs, i, suppressed[i], observations[i], stamps[i])
                lines.append(self._json_line(entities.key_json[i], *row))
                writer.writerow(self._csv_row(entities.keys[i], dim_positions, *row))
                if len(lines) >= CHUNK_LINES:
                    out.write("".join(lines))
                    lines.clear()
            out.write("".join(lines))

    def _json_line(
        self,
        key_json: str,
        node: NodeSpec,
        verdict: Classification,
        inputs: _Inputs,
        i: int,
        suppressed: bool,
        period_count: int,
        stamp: str,
    ) -> str:
        low, high = SEVERITY_RANGES[verdict.signal_type]
        z, slope_pct, accel, z_std, max_dev = (column[i] for column in inputs.text)
        refinements = ",".join(
            f'{{"factor":"{f}","adjustment":{a},"reason":{json_string(r)}}}'
            for f, a, r in verdict.refinements
        )
        return (
            f'{{"run_id":"{self.plan.run_id}","node_id":"{node.id}","metric_id":"{node.metric_id}",'
            f'"entity_key":{key_json},"signal_type":"{verdict.signal_type}",'
            f'"severity":{verdict.severity},"severity_range":[{low},{high}],"inputs":{{'
            f'"aggregate_zscore":{z},"slope_percentile":{slope_pct},'
            f'"acceleration":{accel},"zscore_std":{z_std},'
            f'"max_abs_deviation":{max_dev}}},"derived_indicators":{{'
            f'"position":"{verdict.position}","trend":"{verdict.trend}","momentum":"{verdict.momentum}",'
            f'"consistency":"{verdict.consistency}",'
            f'"has_spike":{"true" if verdict.has_spike else "false"}}},'
            f'"classification_reasoning":{json_string(verdict.reasoning)},"severity_calculation":{{'
            f'"base_severity":{verdict.base},"refinements":[{refinements}],'
            f'"final_severity":{verdict.severity}}},'
            f'"suppressed":{"true" if suppressed else "false"},"period_count":{period_count},'
            f'"magnitude_tier":null,"trajectory_tier":null,"consistency_tier":null,'
            f'"coefficient_of_variation":null,"timestamp":"{stamp}"}}\n'
        )

    def _csv_row(
        self,
        key: tuple[str, ...],
        dim_positions: list[int],
        node: NodeSpec,
        verdict: Classification,
        inputs: _Inputs,
        i: int,
        suppressed: bool,
        period_count: int,
        stamp: str,
    ) -> list[Any]:
        low, high = SEVERITY_RANGES[verdict.signal_type]
        return [
            self.plan.run_id,
            node.id,
            node.metric_id,
            *(key[p] if p >= 0 else "" for p in dim_positions),
            verdict.signal_type,
            verdict.severity,
            low,
            high,
            csv_number(inputs.zscore[i]),
            csv_number(inputs.slope_percentile[i]),
            csv_number(inputs.acceleration[i]),
            csv_number(inputs.zscore_std[i]),
            csv_number(inputs.max_abs_deviation[i]),
            verdict.position,
            verdict.trend,
            verdict.momentum,
            verdict.consistency,
            verdict.has_spike,
            suppressed,
            period_count,
            stamp,
        ]

    def concatenate_parts(self, count: int) -> None:
        """Classification rows were written per task; join them in node order."""
        header = ["run_id", "node_id", "metric_id", *self.plan.class_dims, *CSV_HEADER_TAIL]
        with (
            open(self.files.path(CLASSIFICATION_JSONL), "wb") as jsonl_out,
            open(self.files.path(CLASSIFICATION_CSV), "wb") as csv_out,
        ):
            csv_out.write((",".join(header) + "\n").encode("utf-8"))
            for index in range(count):
                for rel, out in (
                    (part_path(index, "jsonl"), jsonl_out),
                    (part_path(index, "csv"), csv_out),
                ):
                    part = self.files.run_dir / rel
                    with open(part, "rb") as src:
                        shutil.copyfileobj(src, out, BUFFER)
                    part.unlink()
        self.files.tally.files += 2
        self.files.jsonl_done(CLASSIFICATION_JSONL)
        self.files.tally.total_bytes += (self.files.run_dir / CLASSIFICATION_CSV).stat().st_size
