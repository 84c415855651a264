"""Everything a generated run is derived from, computed once from the options.

The main process and every worker process build the same ``RunPlan`` from the same
options, so a node task's bytes do not depend on where it runs.
"""

from __future__ import annotations

from quality_compass.synth.generate.clock import RunClock, add_months
from quality_compass.synth.generate.graph import build_graph
from quality_compass.synth.generate.options import GenerateOptions, default_run_id
from quality_compass.synth.generate.taxonomy import Taxonomy, resolve_sets
from quality_compass.synth.generate.universe import Universe

#: The peer group every node compares against (as in real runs).
COMPARISON_GROUP = "vizient_qa_amc_2025"
#: Where the engine's container keeps runs and its own files; paths in run documents use it.
RUNS_ROOT = "/data/runs/insight_graph"
APP_ROOT = "/app"


class RunPlan:
    """Run id, clock, graph, periods and universe of one generated run."""

    def __init__(self, options: GenerateOptions, taxonomy: Taxonomy) -> None:
        self.options = options
        self.taxonomy = taxonomy
        self.run_id = options.run_id or default_run_id(options.seed)
        self.clock = RunClock(self.run_id)
        #: The run folder as the engine names it in its documents.
        self.prod_root = f"{RUNS_ROOT}/{options.graph}/{self.run_id}"
        self.metric_ids = taxonomy.metric_ids(options.metrics)
        self.set_ids = resolve_sets(taxonomy, options.group_by_sets)
        self.graph = build_graph(taxonomy, self.metric_ids, self.set_ids)
        self.node_by_id = {n.id: n for n in self.graph.nodes}
        #: One node task per aggregate node, in this order.
        self.agg_ids = [n.id for n in self.graph.nodes if not n.temporal]
        self.months = options.months
        self.periods = [
            add_months(options.end_period, i - options.months + 1) for i in range(options.months)
        ]
        self.dash_periods = [f"{p[:4]}-{p[4:]}" for p in self.periods]
        self.universe = Universe.build(
            options.seed, taxonomy, options.facilities, options.months, options.knobs
        )
        dims_union: set[str] = set()
        for set_id in self.set_ids:
            dims_union.update(taxonomy.sets[set_id])
        #: The dimension columns of the classification CSV.
        self.class_dims = sorted(dims_union)

    def metric_label(self, metric_id: str) -> str:
        """The metric as interpretation texts name it."""
        if metric_id == "losIndex":
            return "LOS index"
        return str(self.taxonomy.metrics[metric_id]["display_name"])

    def short_metric(self, metric_id: str) -> str:
        """The metric as descriptions and rationales name it."""
        if metric_id == "losIndex":
            return "LOS"
        return str(self.taxonomy.metrics[metric_id]["display_name"])
