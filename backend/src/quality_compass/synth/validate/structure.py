"""§9.1 Structure and inventory: the run documents, the graph, the node YAML, the counts.

Reads ``run_manifest.json``, ``run_manifest.semantic.json``, ``metadata_bundle.json``,
``graph.json`` and ``results/index.json``, and records the graph's nodes and edges in the
state for every later check.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from quality_compass.needle.layout import (
    EDGE_YAML_GLOB,
    GRAPH,
    METADATA_BUNDLE,
    NODE_YAML_DIR,
    NODE_YAML_GLOB,
    RESULTS_INDEX,
    RUN_MANIFEST,
    RUN_MANIFEST_SEMANTIC,
)
from quality_compass.needle.vocabulary import AGGREGATE_TIME_PERIOD, DRIFTING_EDGE_TYPES
from quality_compass.synth.validate.state import NodeInfo, RunState


class StructureChecker:
    def __init__(self, state: RunState) -> None:
        self.state = state

    def run(self) -> None:
        state = self.state
        manifest = state.read_json(RUN_MANIFEST)
        semantic = state.read_json(RUN_MANIFEST_SEMANTIC)
        bundle = state.read_json(METADATA_BUNDLE)
        graph = state.read_json(GRAPH)
        index = state.read_json(RESULTS_INDEX)
        state.bundle = bundle if isinstance(bundle, dict) else {}
        self._run_ids(manifest, semantic, index)
        self._taxonomy_and_times(manifest, semantic, bundle, index)
        if isinstance(graph, dict):
            self._graph(graph)
        self._yaml_files()
        if isinstance(index, dict):
            self._index_nodes(index)
        self._counts(manifest, index)

    def _run_ids(self, manifest: Any, semantic: Any, index: Any) -> None:
        state = self.state
        if not re.fullmatch(r"\d{14}", state.run_id):
            # Not a run folder name (e.g. a copy): compare everything with the manifest's id.
            state.warn("1", ".", None, f"run folder name {state.run_id!r} is not a 14-digit run id")
            if isinstance(manifest, dict) and isinstance(manifest.get("run_id"), str):
                state.run_id = manifest["run_id"]
        for rel, doc in (
            (RUN_MANIFEST, manifest),
            (RUN_MANIFEST_SEMANTIC, semantic),
            (RESULTS_INDEX, index),
        ):
            if isinstance(doc, dict):
                state.check_run_id(rel, doc.get("run_id"))

    def _taxonomy_and_times(self, manifest: Any, semantic: Any, bundle: Any, index: Any) -> None:
        """The semantic manifest names this bundle; index and documents carry valid times."""
        state = self.state
        if isinstance(semantic, dict) and state.bundle:
            if semantic.get("taxonomy_hash") != state.bundle.get("taxonomy_hash"):
                state.err(
                    "9.1-3",
                    RUN_MANIFEST_SEMANTIC,
                    None,
                    f"taxonomy_hash {semantic.get('taxonomy_hash')!r} != metadata_bundle "
                    f"{state.bundle.get('taxonomy_hash')!r}",
                )
            if semantic.get("metadata_bundle_version") != state.bundle.get("version"):
                state.err(
                    "9.1-3",
                    RUN_MANIFEST_SEMANTIC,
                    None,
                    f"metadata_bundle_version {semantic.get('metadata_bundle_version')!r} != "
                    f"bundle version {state.bundle.get('version')!r}",
                )
        if (
            isinstance(manifest, dict)
            and isinstance(index, dict)
            and index.get("created_at") != manifest.get("started_at")
        ):
            state.err(
                "5.1",
                RESULTS_INDEX,
                None,
                f"created_at {index.get('created_at')!r} != run_manifest started_at "
                f"{manifest.get('started_at')!r}",
            )
        for rel, doc, key in (
            (RUN_MANIFEST, manifest, "started_at"),
            (RUN_MANIFEST_SEMANTIC, semantic, "generated_at"),
            (METADATA_BUNDLE, bundle, "generated_at"),
        ):
            if isinstance(doc, dict):
                state.check_timestamp(rel, doc.get(key), key)

    def _graph(self, graph: dict[str, Any]) -> None:
        state = self.state
        for node in graph.get("nodes", []):
            group_bys = [g.get("type") for g in node.get("group_bys", [])]
            info = NodeInfo(
                node.get("id"),
                node.get("metric_id"),
                group_bys,
                node.get("time_grain") != AGGREGATE_TIME_PERIOD,
                node.get("group_by_set"),
            )
            state.nodes[info.id] = info
            if state.bundle:
                self._node_in_taxonomy(info)
        edge_types = {e.get("id") for e in state.bundle.get("edge_types", [])}
        for edge in graph.get("edges", []):
            state.edges.append(edge)
            source, target, kind = edge.get("source"), edge.get("target"), edge.get("type")
            if state.bundle and kind not in edge_types:
                if kind in DRIFTING_EDGE_TYPES:
                    state.warn(
                        "10.1",
                        GRAPH,
                        None,
                        f"edge type {kind!r} of {edge.get('id')} is not in this run's taxonomy (known drift)",
                    )
                else:
                    state.err(
                        "9.1-4",
                        GRAPH,
                        None,
                        f"edge type {kind!r} of {edge.get('id')} is not in metadata_bundle.json",
                    )
            if source in state.nodes and target in state.nodes:
                state.nodes[source].children.add((target, kind))
                state.nodes[target].parents.add((source, kind))
            else:
                state.err("9.1-5", GRAPH, None, f"edge {edge.get('id')} joins unknown nodes")

    def _node_in_taxonomy(self, info: NodeInfo) -> None:
        """A graph node's metric, group-by set and dimensions are in the run's taxonomy."""
        state = self.state
        nid = info.id
        metrics = {m.get("metric_id") for m in state.bundle.get("metrics", [])}
        sets = {s.get("id") for s in state.bundle.get("group_by_sets", [])}
        dims = {g.get("id") for g in state.bundle.get("group_by_types", [])}
        if info.metric_id not in metrics:
            state.err(
                "9.1-4",
                GRAPH,
                None,
                f"metric {info.metric_id!r} of {nid} is not in metadata_bundle.json",
            )
        if info.group_by_set not in sets:
            state.err(
                "9.1-4",
                GRAPH,
                None,
                f"group_by_set {info.group_by_set!r} of {nid} is not in metadata_bundle.json",
            )
        for dim in info.dims:
            if dim not in dims:
                state.err(
                    "9.1-4",
                    GRAPH,
                    None,
                    f"group_by type {dim!r} of {nid} is not in metadata_bundle.json",
                )

    def _yaml_files(self) -> None:
        state = self.state
        for path in sorted(state.root.glob(NODE_YAML_GLOB)):
            rel = path.relative_to(state.root).as_posix()
            state.report.files += 1
            text = path.read_text(encoding="utf-8")
            state.report.bytes += len(text)
            if not text.startswith("# ABOUTME:"):
                state.warn("2.1", rel, 1, "YAML does not start with '# ABOUTME:' comments")
            try:
                doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            except yaml.YAMLError as exc:
                state.err("2.1", rel, None, f"invalid YAML: {exc}")
                continue
            if isinstance(doc, dict) and doc.get("id"):
                state.node_yaml[doc["id"]] = doc
                if doc["id"] != path.stem:
                    state.err("9.1-2", rel, None, f"YAML id {doc['id']!r} != file name")
        for nid in state.nodes:
            if nid not in state.node_yaml:
                state.err("9.1-2", NODE_YAML_DIR, None, f"no node YAML for {nid}")

    def _index_nodes(self, index: dict[str, Any]) -> None:
        state = self.state
        for entry in index.get("nodes", []):
            nid = entry.get("canonical_node_id")
            if entry.get("node_id") != nid:
                state.err(
                    "9.1-6",
                    RESULTS_INDEX,
                    None,
                    f"node_id != canonical_node_id for {nid}",
                )
            state.index_methods[nid] = list(entry.get("statistical_methods", []))
            state.index_paths[nid] = entry.get("result_path", "")
            if nid not in state.nodes:
                state.err("9.1-2", RESULTS_INDEX, None, f"node {nid} is not in graph.json")

    def _counts(self, manifest: Any, index: Any) -> None:
        """The manifest's node and edge counts match the graph, the index and the YAML."""
        state = self.state
        counts = {
            "graph.json nodes": len(state.nodes),
            "results/index.json nodes": len(state.index_paths) if isinstance(index, dict) else None,
            "node YAML files": len(state.node_yaml),
        }
        expected = manifest.get("node_count") if isinstance(manifest, dict) else None
        for what, count in counts.items():
            if count is not None and expected is not None and count != expected:
                state.err("9.1-2", RUN_MANIFEST, None, f"node_count {expected} != {count} {what}")
        if isinstance(manifest, dict):
            edge_yaml = len(list(state.root.glob(EDGE_YAML_GLOB)))
            for what, count in (
                ("graph.json edges", len(state.edges)),
                ("edge YAML files", edge_yaml),
            ):
                if manifest.get("edge_count") != count:
                    state.err(
                        "9.1-2",
                        RUN_MANIFEST,
                        None,
                        f"edge_count {manifest.get('edge_count')} != {count} {what}",
                    )
            if manifest.get("run_label") is None:
                state.err("1", RUN_MANIFEST, None, "run_label missing")
