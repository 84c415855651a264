"""The run's index files, written last: ``results/index.json`` (§5.1), the contribution
index and run arguments (§6.1, §6.2), the classification index and manifest (§7.1, §7.2).
"""

from __future__ import annotations

import json
from typing import Any

from quality_compass.needle.layout import (
    CLASSIFICATION_DIR,
    CLASSIFICATION_INDEX,
    CLASSIFICATION_MANIFEST,
    CONTRIBUTION_DIR,
    CONTRIBUTION_INDEX,
    CONTRIBUTION_RUN_ARGS,
    RESULTS_INDEX,
    node_result_path,
)
from quality_compass.needle.methods import AGGREGATE_METHODS, TREND_METHODS
from quality_compass.synth.generate.clock import CONTRIBUTION_STAGE, TASK_SLOT
from quality_compass.synth.generate.files import RunFiles
from quality_compass.synth.generate.json_text import pretty_json
from quality_compass.synth.generate.node_header import dataset_path, node_summary
from quality_compass.synth.generate.plan import RunPlan


class IndexFiles:
    """Writes the indexes from what the node tasks reported."""

    def __init__(self, plan: RunPlan, files: RunFiles) -> None:
        self.plan = plan
        self.files = files

    def write(
        self,
        artifacts: dict[str, list[tuple[str, str, int]]],
        distribution: dict[str, int],
        severities: list[int],
    ) -> None:
        self._write_results_index()
        self._write_contribution_index(artifacts)
        self._write_classification_index(distribution, severities)

    def _write_results_index(self) -> None:
        plan = self.plan
        index_nodes = [
            {
                "canonical_node_id": node.id,
                "dataset_path": dataset_path(node),
                "metric_id": node.metric_id,
                "node_id": node.id,
                "result_path": node_result_path(node.id),
                "statistical_methods": list(TREND_METHODS if node.temporal else AGGREGATE_METHODS),
                "summary": node_summary(plan, node),
            }
            for node in plan.graph.nodes
        ]
        started = plan.clock.seconds_iso(plan.clock.started)
        self.files.write_text(
            RESULTS_INDEX,
            pretty_json(
                {"created_at": started, "nodes": index_nodes, "run_id": plan.run_id},
                sort_keys=True,
            ),
        )

    def _write_contribution_index(self, artifacts: dict[str, list[tuple[str, str, int]]]) -> None:
        plan, clock = self.plan, self.plan.clock
        contrib_at = clock.at(CONTRIBUTION_STAGE + TASK_SLOT * len(plan.agg_ids) + 2.134928)
        artifacts_root = f"{plan.prod_root}/{CONTRIBUTION_DIR}"
        parents = [
            _parent_entry(plan, node_id, sorted(artifacts.get(node_id, []), key=lambda a: a[1]))
            for node_id in (node.id for node in plan.graph.nodes)
        ]
        self.files.write_text(
            CONTRIBUTION_INDEX,
            pretty_json(
                {
                    "run_id": plan.run_id,
                    "generated_at": clock.z_iso(contrib_at),
                    "artifacts_root": artifacts_root,
                    "parents": parents,
                }
            ),
        )
        metrics = [*plan.metric_ids, "simple_zscore", "robust_zscore", *plan.taxonomy.metrics]
        self.files.write_text(
            CONTRIBUTION_RUN_ARGS,
            pretty_json(
                {
                    "command": (
                        "python -m analytics.contribution.cli compute --run-dir "
                        f"{plan.prod_root} --output-format jsonl --workers 4"
                    ),
                    "generated_at": clock.micro_iso(contrib_at),
                    "run_directory": plan.prod_root,
                    "artifacts_dir": artifacts_root,
                    "metrics": list(dict.fromkeys(metrics)),
                    "output_formats": ["jsonl"],
                    "parent_node_ids": [n.id for n in plan.graph.nodes],
                    "parallel_workers": 4,
                }
            ),
        )

    def _write_classification_index(
        self, distribution: dict[str, int], severities: list[int]
    ) -> None:
        plan, clock = self.plan, self.plan.clock
        total = len(severities)
        done = CONTRIBUTION_STAGE + TASK_SLOT * 2 * len(plan.agg_ids) + 12.287751
        severity_stats = {
            "min": min(severities) if total else 0,
            "max": max(severities) if total else 0,
            "mean": (sum(severities) / total) if total else 0.0,
        }
        self.files.write_text(
            CLASSIFICATION_INDEX,
            json.dumps(
                {
                    "run_id": plan.run_id,
                    "classification_version": "simplified_v1",
                    "total_entities": total,
                    "signal_type_distribution": distribution,
                    "severity_stats": severity_stats,
                    "generated_at": clock.micro_iso(clock.at(done)),
                },
                separators=(",", ":"),
            ),
        )
        self.files.write_text(
            CLASSIFICATION_MANIFEST,
            pretty_json(
                {
                    "run_id": plan.run_id,
                    # Real runs write an offset *and* a Z here (§2.2); so do we.
                    "generated_at": clock.micro_iso(clock.at(done + 0.188)) + "Z",
                    "run_dir": plan.prod_root,
                    "output_dir": f"{plan.prod_root}/{CLASSIFICATION_DIR}",
                    "node_filter": None,
                    "total_entities": total,
                    "signal_type_distribution": distribution,
                }
            ),
        )


def _parent_entry(
    plan: RunPlan, node_id: str, artifacts: list[tuple[str, str, int]]
) -> dict[str, Any]:
    """One ``parents[]`` entry of the contribution index (every node, with or without files)."""
    metrics_map: dict[str, str] = {}
    for metric, name, _ in artifacts:
        metrics_map[metric] = name
    return {
        "parent_node_id": node_id,
        "parent_node_file": f"{plan.prod_root}/{node_result_path(node_id)}",
        "metrics": metrics_map,
        "metric_artifacts": [
            {
                "metric_id": metric,
                "artifact_path": name,
                "row_count": rows,
                "output_format": "jsonl",
            }
            for metric, name, rows in artifacts
        ],
        "child_rows": sum(a[2] for a in artifacts),
    }
