"""The run's configuration files: manifests, taxonomy bundle, graph, graph source YAML.

``run_manifest.json``, ``run_manifest.semantic.json``, ``metadata_bundle.json``,
``graph.json`` (§4.1-4.4), one YAML per node and per edge with the per-metric manifests,
``defaults/facet_family_defaults.yaml`` (§4.5), and ``graphviz/graphviz_condensed.dot``.
"""

from __future__ import annotations

from typing import Any

from quality_compass.needle.layout import (
    GRAPH,
    METADATA_BUNDLE,
    NODES_DIR,
    RESULTS_INDEX,
    RUN_MANIFEST,
    RUN_MANIFEST_SEMANTIC,
)
from quality_compass.synth.generate.files import RunFiles
from quality_compass.synth.generate.json_text import pretty_json
from quality_compass.synth.generate.node_config import (
    description,
    edge_dict,
    entry_point,
    facet_family_defaults,
    graphviz_dot,
    node_yaml,
    yaml_document,
)
from quality_compass.synth.generate.plan import APP_ROOT, RunPlan

_REGENERATED = "Regenerated via insight-graph scaffold apply."


class ConfigFiles:
    """Writes every file of a run that does not depend on the data."""

    def __init__(self, plan: RunPlan, files: RunFiles) -> None:
        self.plan = plan
        self.files = files

    def write(self) -> None:
        self._write_run_documents()
        self._write_graph()
        for node in self.plan.graph.nodes:
            rel = f"nodes/{node.metric_id}/base/{node.set_id}/{node.id}.yaml"
            about = (
                "Auto-generated node; edit the requirements template to regenerate.",
                f"Metric {node.metric_id} ({node.set_id}) via scaffold apply.",
            )
            self.files.write_text(rel, yaml_document(about, node_yaml(self.plan, node)))
        for edge in self.plan.graph.edges:
            rel = f"edges/{edge.source.metric_id}/base/{edge.source.set_id}/{edge.id}.yaml"
            about = (
                "Auto-generated edge definition via insight-graph scaffold.",
                f"Relationship from {edge.source.id} to {edge.target.id}.",
            )
            body = {"schema_version": "0.1.0", **edge_dict(self.plan, edge, sort=False)}
            self.files.write_text(rel, yaml_document(about, body))
        for metric in self.plan.metric_ids:
            self._write_metric_manifests(metric)
        about = (
            "Auto-generated facet family defaults via insight-graph scaffold.",
            "Regenerated from requirements; edit the template to make changes.",
        )
        self.files.write_text(
            "defaults/facet_family_defaults.yaml",
            yaml_document(about, facet_family_defaults(self.plan)),
        )
        if self.plan.options.graphviz:
            self.files.write_text("graphviz/graphviz_condensed.dot", graphviz_dot(self.plan))

    def _write_run_documents(self) -> None:
        """The taxonomy snapshot and both run manifests."""
        plan, clock = self.plan, self.plan.clock
        snapshot = plan.taxonomy.snapshot(clock.micro_iso(clock.at(509.711)))
        self.files.write_text(METADATA_BUNDLE, pretty_json(snapshot))
        manifest = {
            "edge_count": len(plan.graph.edges),
            "edges_directory": f"{plan.prod_root}/edges",
            "node_count": len(plan.graph.nodes),
            "nodes_directory": f"{plan.prod_root}/nodes",
            "output_directory": plan.prod_root,
            "results": {
                "include_legacy_entity_results": False,
                "index_path": RESULTS_INDEX,
                "nodes_directory": NODES_DIR,
                "sharded": True,
            },
            "run_id": plan.run_id,
            "run_label": plan.options.graph,
            "run_root_directory": plan.prod_root,
            "started_at": clock.seconds_iso(clock.started),
            "taxonomy_directory": f"{APP_ROOT}/taxonomy",
        }
        self.files.write_text(RUN_MANIFEST, pretty_json(manifest, sort_keys=True))
        semantic = {
            "run_id": plan.run_id,
            "graph_name": plan.options.graph,
            "requirements_path": f"{APP_ROOT}/fixtures/requirements/{plan.options.graph}.md",
            "taxonomy_hash": snapshot["taxonomy_hash"],
            "generated_at": clock.micro_iso(clock.at(510.0006)),
            "metadata_bundle_version": snapshot["version"],
        }
        self.files.write_text(RUN_MANIFEST_SEMANTIC, pretty_json(semantic))

    def _write_graph(self) -> None:
        plan = self.plan
        graph = {
            "edges": [edge_dict(plan, e, sort=True) for e in plan.graph.edges],
            "nodes": [
                {
                    "description": description(plan, n),
                    "facet_family_id": n.family,
                    "graph_entry_point": entry_point(n),
                    "group_by_set": n.set_id,
                    "group_bys": [{"dataset_field": d, "type": d} for d in n.dims],
                    "id": n.id,
                    "metric_id": n.metric_id,
                    "name": n.id,
                    "time_grain": n.time_grain,
                }
                for n in plan.graph.nodes
            ],
        }
        self.files.write_text(GRAPH, pretty_json(graph, sort_keys=True))

    def _write_metric_manifests(self, metric: str) -> None:
        """``nodes/<metric>/manifests/{base,facets}.yaml`` and ``edges/<metric>/manifests/base.yaml``."""
        plan = self.plan
        nodes_by_set: dict[str, dict[str, list[str]]] = {}
        edges_by_set: dict[str, dict[str, list[str]]] = {}
        for node in plan.graph.nodes:
            if node.metric_id == metric:
                nodes_by_set.setdefault(node.set_id, {"nodes": []})["nodes"].append(node.id)
        for edge in plan.graph.edges:
            if edge.source.metric_id == metric:
                edges_by_set.setdefault(edge.source.set_id, {"edges": []})["edges"].append(edge.id)
        self.files.write_text(
            f"nodes/{metric}/manifests/base.yaml",
            yaml_document(
                ("Auto-generated manifest of nodes grouped by group_by_set.", _REGENERATED),
                dict(sorted(nodes_by_set.items())),
            ),
        )
        self.files.write_text(
            f"edges/{metric}/manifests/base.yaml",
            yaml_document(
                ("Auto-generated manifest of edges grouped by source group_by_set.", _REGENERATED),
                dict(sorted(edges_by_set.items())),
            ),
        )
        families: list[dict[str, Any]] = []
        for set_id in plan.set_ids:
            dims = plan.taxonomy.sets[set_id]
            families.append(
                {
                    "family_id": f"`{metric}__{'_'.join(dims)}`",
                    "facet_type": "_".join(dims[1:]) if len(dims) > 1 else set_id,
                    "facet_dimensions": list(dims[1:]),
                    "group_by_set": set_id,
                    "materialization": "runtime",
                    "nodes": {"aggregate": [], "trend": []},
                }
            )
        families.sort(key=lambda f: f["family_id"])
        self.files.write_text(
            f"nodes/{metric}/manifests/facets.yaml",
            yaml_document(
                (
                    "Auto-generated facet manifest aligning runtime templates with requirements.",
                    _REGENERATED,
                ),
                {"families": families},
            ),
        )
