"""``RunWriter``: one run folder, written by a few writers in a fixed order.

1. ``ConfigFiles`` — manifests, taxonomy bundle, graph, graph source YAML;
2. one *node task* per aggregate node (``write_task``): ``NodeFiles`` writes the node and
   its monthly twin, ``ClassificationFiles`` its classification rows into part files,
   ``ContributionFiles`` the contribution files where it is a ``segments_into`` child;
3. ``ClassificationFiles.concatenate_parts`` joins the parts in node order;
4. ``IndexFiles`` — the indexes, from what the tasks reported.

Tasks depend only on (options, node), so they run in parallel worker processes and the
bytes do not depend on the worker count.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from quality_compass.needle.vocabulary import SEGMENTS_INTO, TRENDS_TO
from quality_compass.synth.generate.classification_files import ClassificationFiles
from quality_compass.synth.generate.computation import NodeComputation
from quality_compass.synth.generate.config_files import ConfigFiles
from quality_compass.synth.generate.contribution_files import ContributionFiles
from quality_compass.synth.generate.files import RunFiles, TaskResult
from quality_compass.synth.generate.index_files import IndexFiles
from quality_compass.synth.generate.node_files import NodeFiles
from quality_compass.synth.generate.options import GenerateOptions, GenerateResult
from quality_compass.synth.generate.peer_stats import trend_stats
from quality_compass.synth.generate.plan import RunPlan
from quality_compass.synth.generate.taxonomy import Taxonomy
from quality_compass.synth.generate.universe import THIN_EXTRA_DIM


def _run_task(
    options: GenerateOptions, taxonomy: Taxonomy, run_dir: Path, index: int, agg_id: str
) -> TaskResult:
    """Worker entry point: one aggregate node, its temporal twin, its contributions."""
    return RunWriter(options, taxonomy, run_dir).write_task(index, agg_id)


class RunWriter:
    """Writes one run folder; call ``write()`` once."""

    def __init__(self, options: GenerateOptions, taxonomy: Taxonomy, run_dir: Path) -> None:
        self.plan = RunPlan(options, taxonomy)
        self.run_dir = run_dir
        self.computation = NodeComputation(self.plan.universe, options.series_step)
        #: What the main process writes itself, plus every task once merged.
        self.tally = TaskResult(-1)
        self.files = RunFiles(run_dir, self.tally)

    def write(self) -> GenerateResult:
        started = time.perf_counter()
        plan = self.plan
        self.run_dir.mkdir(parents=True, exist_ok=True)
        ConfigFiles(plan, self.files).write()
        tasks = sorted(self._run_tasks(), key=lambda t: t.index)
        artifacts: dict[str, list[tuple[str, str, int]]] = {}
        distribution: dict[str, int] = {}
        severities: list[int] = []
        for task in tasks:
            self._add_counts(task)
            for parent, items in task.artifacts.items():
                artifacts.setdefault(parent, []).extend(items)
            for kind, count in task.distribution.items():
                distribution[kind] = distribution.get(kind, 0) + count
            severities.extend(task.severities)
        ClassificationFiles(plan, self.files).concatenate_parts(len(tasks))
        IndexFiles(plan, self.files).write(artifacts, distribution, severities)
        tally = self.tally
        return GenerateResult(
            self.run_dir,
            plan.run_id,
            self.computation.facilities_present(),
            len(plan.graph.nodes),
            len(plan.graph.edges),
            files=tally.files,
            jsonl_bytes=tally.jsonl_bytes,
            total_bytes=tally.total_bytes,
            entity_lines=tally.entity_lines,
            contribution_lines=tally.contribution_lines,
            classification_lines=tally.classification_lines,
            signal_types=dict(distribution),
            seconds=time.perf_counter() - started,
        )

    def write_task(self, index: int, agg_id: str) -> TaskResult:
        """Write one aggregate node, its temporal twin, contributions and classifications."""
        plan = self.plan
        task = TaskResult(index)
        files = RunFiles(self.run_dir, task)
        agg = plan.node_by_id[agg_id]
        trend_node = next(e.target for e in plan.graph.children(agg) if e.type == TRENDS_TO)
        node = self.computation.compute(agg)
        trends = trend_stats(node.values, node.facet, node.facet_names)
        node_files = NodeFiles(plan, files, task)
        node_files.write_trend(trend_node, node.entities, node.values, trends)
        node_files.write_aggregate(agg, node.entities, node.aggregate)
        ClassificationFiles(plan, files).write_part(
            agg, node.entities, trends, node.aggregate, task
        )
        contributions = ContributionFiles(plan, files, task)
        for edge in plan.graph.parents(agg):
            if edge.type == SEGMENTS_INTO:
                parent_entities, parent_stats = self.computation.aggregate_of(edge.source)
                contributions.write(
                    edge, parent_entities, parent_stats, node.entities, node.aggregate
                )
        return task

    def _add_counts(self, task: TaskResult) -> None:
        tally = self.tally
        tally.files += task.files
        tally.jsonl_bytes += task.jsonl_bytes
        tally.total_bytes += task.total_bytes
        tally.entity_lines += task.entity_lines
        tally.contribution_lines += task.contribution_lines
        tally.classification_lines += task.classification_lines

    def _workers(self) -> int:
        wanted = self.plan.options.workers or min(2, os.cpu_count() or 1)
        return max(1, min(wanted, len(self.plan.agg_ids)))

    def _run_tasks(self) -> list[TaskResult]:
        plan = self.plan
        workers = self._workers()
        if workers == 1:
            return [self.write_task(i, agg_id) for i, agg_id in enumerate(plan.agg_ids)]
        # Largest nodes first, so that two workers finish at about the same time.
        order = sorted(
            range(len(plan.agg_ids)),
            key=lambda i: -self._expected_entities(plan.node_by_id[plan.agg_ids[i]].set_id),
        )
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [
                pool.submit(
                    _run_task, plan.options, plan.taxonomy, self.run_dir, i, plan.agg_ids[i]
                )
                for i in order
            ]
            return [f.result() for f in futures]

    def _expected_entities(self, set_id: str) -> float:
        dims = self.plan.taxonomy.sets[set_id]
        universe = self.plan.universe
        count = float(universe.n)
        for dim in dims[1:]:
            count *= float(universe.presence(dim).mean()) * len(universe.codes(dim))
        return count * (THIN_EXTRA_DIM ** max(0, len(dims) - 2))
