"""Check a Project Needle run folder against the invariants of ``needle_run_format.md`` §9.

``validate_run(run_dir)`` streams every file once (JSONL line by line; only numeric
per-node arrays such as the values of each facet are kept) and returns a ``Report``:
issues with file, line and rule id (``[9.2-11]`` is rule 11 of section 9.2), plus counts.

Severity policy: rules the spec tags [F], [V] or [C] are errors; [R] and empirical rules
are warnings, as are the known variants of §10 (missing optional files, edge-type drift).
For multi-dimension nodes the *per-facet* reading of the peer statistics is itself [R]
(the real files were never available), so recomputing a facet's statistics from its
entities is a warning there, while the self-consistency of each record (its z-score
against its own peer mean/std, its label against its value, ...) stays an error.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

from quality_compass.errors import QcError
from quality_compass.needle import formulas
from quality_compass.needle.conventions import parse_timestamp
from quality_compass.needle.layout import (
    CLASSIFICATION_CSV,
    CLASSIFICATION_INDEX,
    CLASSIFICATION_JSONL,
    CLASSIFICATION_MANIFEST,
    CONTRIBUTION_INDEX,
    CONTRIBUTION_RUN_ARGS,
    EDGE_YAML_GLOB,
    GRAPH,
    METADATA_BUNDLE,
    NODE_YAML_DIR,
    NODE_YAML_GLOB,
    NODES_DIR,
    RESULTS_INDEX,
    RUN_MANIFEST,
    RUN_MANIFEST_SEMANTIC,
    contribution_path,
    node_result_path,
)
from quality_compass.needle.methods import METHOD_APPLIES, short_method_name
from quality_compass.needle.vocabulary import (
    AGGREGATE_TIME_PERIOD,
    CSV_FIXED,
    DRIFTING_EDGE_TYPES,
    NO_SCORE,
    SIGNAL_TYPES,
)

ERROR = "error"
WARNING = "warning"

_ISSUES_KEPT_PER_RULE = 200


class ValidateError(QcError):
    """The run folder cannot be validated at all (it does not exist)."""

    exit_code = 2


@dataclass
class Issue:
    severity: str
    rule: str
    file: str
    line: int | None
    message: str

    def render(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        tag = f"[{self.rule}]" if self.severity == ERROR else f"[{self.rule}] warning:"
        return f"{where}: {tag} {self.message}"


@dataclass
class Report:
    run_dir: Path
    issues: list[Issue] = field(default_factory=list)
    by_rule: dict[str, list[int]] = field(default_factory=dict)
    files: int = 0
    lines_read: int = 0
    bytes: int = 0

    @property
    def errors(self) -> int:
        return sum(c[0] for c in self.by_rule.values())

    @property
    def warnings(self) -> int:
        return sum(c[1] for c in self.by_rule.values())

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def add(self, severity: str, rule: str, file: str, line: int | None, message: str) -> None:
        counts = self.by_rule.setdefault(rule, [0, 0])
        counts[0 if severity == ERROR else 1] += 1
        if counts[0] + counts[1] <= _ISSUES_KEPT_PER_RULE:
            self.issues.append(Issue(severity, rule, file, line, message))

    def _shown(self, max_errors: int) -> list[Issue]:
        ordered = [i for i in self.issues if i.severity == ERROR] + [
            i for i in self.issues if i.severity == WARNING
        ]
        return ordered if max_errors <= 0 else ordered[:max_errors]

    def lines(self, max_errors: int = 50) -> list[str]:
        """The human report: issues (errors first, capped), then a summary per rule."""
        out = [issue.render() for issue in self._shown(max_errors)]
        hidden = self.errors + self.warnings - len(out)
        if hidden > 0:
            out.append(f"... {hidden} more issue(s) not shown (--max-errors {max_errors})")
        out.append(
            f"checked {self.run_dir}: {self.files} files, {self.lines_read} lines, "
            f"{self.bytes / 1e6:.1f} MB: {self.errors} error(s), {self.warnings} warning(s)"
        )
        if self.by_rule:
            out.append(f"  {'rule':<12} {'errors':>7} {'warnings':>9}")
            for rule in sorted(self.by_rule, key=_rule_sort_key):
                errors, warnings = self.by_rule[rule]
                out.append(f"  {rule:<12} {errors:>7} {warnings:>9}")
        return out

    def to_json(self, max_errors: int = 50) -> str:
        return json.dumps(
            {
                "run_dir": str(self.run_dir),
                "ok": self.ok,
                "files": self.files,
                "lines": self.lines_read,
                "bytes": self.bytes,
                "errors": self.errors,
                "warnings": self.warnings,
                "by_rule": {
                    rule: {"errors": c[0], "warnings": c[1]}
                    for rule, c in sorted(
                        self.by_rule.items(), key=lambda kv: _rule_sort_key(kv[0])
                    )
                },
                "issues": [
                    {
                        "severity": i.severity,
                        "rule": i.rule,
                        "file": i.file,
                        "line": i.line,
                        "message": i.message,
                    }
                    for i in self._shown(max_errors)
                ],
            },
            indent=2,
        )


def _rule_sort_key(rule: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.-]", rule))


def _g(value: Any) -> str:
    """A number for messages (10 significant digits; null for None/NaN)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            return "null"
        return f"{value:.10g}"
    return repr(value)


def _f(value: Any) -> float:
    """Numeric JSON value -> float (NaN for null / non-numbers)."""
    if value is None or isinstance(value, bool):
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    return math.nan


def _close(a: float, b: float, tol: float = 1e-9) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol * max(1.0, abs(b))


# -- per-node collections ------------------------------------------------------------------------


@dataclass
class NodeInfo:
    id: str
    metric_id: str
    dims: list[str]
    temporal: bool
    group_by_set: str
    children: set[tuple[str, str]] = field(default_factory=set)
    parents: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class AggEntity:
    value: float
    simple: float
    robust: float
    encounters: float
    suppressed: bool


@dataclass
class TwinEntity:
    mean_simple: float
    slope_percentile: float
    acceleration: float
    zscore_std: float
    max_abs_deviation: float
    period_count: int


class _Facet:
    """Numbers of one peer group of one node, collected while streaming."""

    def __init__(self) -> None:
        self.lines: list[int] = []
        self.values: list[Any] = []
        self.rows: list[dict[str, Any]] = []


class RunValidator:
    def __init__(self, run_dir: Path) -> None:
        if not run_dir.is_dir():
            raise ValidateError(f"run folder not found: {run_dir}")
        self.root = run_dir
        self.report = Report(run_dir)
        self.run_id = run_dir.name
        self.nodes: dict[str, NodeInfo] = {}
        self.edges: list[dict[str, Any]] = []
        self.node_yaml: dict[str, dict[str, Any]] = {}
        self.index_methods: dict[str, list[str]] = {}
        self.index_paths: dict[str, str] = {}
        self.bundle: dict[str, Any] = {}
        self.agg_store: dict[str, dict[tuple[str, ...], AggEntity]] = {}
        self.twin_store: dict[str, dict[tuple[str, ...], TwinEntity]] = {}
        self.entity_counts: dict[str, int] = {}
        self.contrib_rows: dict[str, int] = {}

    # -- reporting ------------------------------------------------------------------------

    def err(self, rule: str, file: str, line: int | None, message: str) -> None:
        self.report.add(ERROR, rule, file, line, message)

    def warn(self, rule: str, file: str, line: int | None, message: str) -> None:
        self.report.add(WARNING, rule, file, line, message)

    def sev(self, error: bool, rule: str, file: str, line: int | None, message: str) -> None:
        self.report.add(ERROR if error else WARNING, rule, file, line, message)

    # -- file access ------------------------------------------------------------------------

    def _json(self, rel: str, required: bool = True, optional_rule: str = "10") -> Any:
        path = self.root / rel
        if not path.is_file():
            if required:
                self.err("1", rel, None, "required file missing")
            else:
                self.warn(optional_rule, rel, None, "optional file missing")
            return None
        data = path.read_bytes()
        self.report.files += 1
        self.report.bytes += len(data)
        try:
            return json.loads(data)
        except ValueError as exc:
            self.err("2.1", rel, None, f"invalid JSON: {exc}")
            return None

    def _jsonl(self, rel: str) -> Iterator[tuple[int, Any]]:
        """(line number, parsed object) for every non-blank line; reports bad lines."""
        path = self.root / rel
        self.report.files += 1
        last = b""
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                self.report.lines_read += 1
                self.report.bytes += len(raw)
                last = raw
                if not raw.strip():
                    continue
                try:
                    obj = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    self.err("2.1", rel, number, f"invalid JSON line: {exc}")
                    yield number, None
                    continue
                if not isinstance(obj, dict):
                    self.err("2.1", rel, number, "line is not a JSON object")
                    yield number, None
                    continue
                yield number, obj
        if last and not last.endswith(b"\n"):
            self.err("2.1", rel, None, "file does not end with a newline (truncated?)")

    # -- entry point -----------------------------------------------------------------------------

    def run(self) -> Report:
        self._structure()
        if self.nodes:
            self._node_files()
        self._contributions()
        self._classifications()
        return self.report

    # -- 9.1 structure and inventory ------------------------------------------------------------

    def _check_run_id(self, rel: str, value: Any, line: int | None = None) -> None:
        if value != self.run_id:
            self.err("9.1-1", rel, line, f"run_id {value!r} != run folder {self.run_id!r}")

    def _structure(self) -> None:
        manifest = self._json(RUN_MANIFEST)
        semantic = self._json(RUN_MANIFEST_SEMANTIC)
        bundle = self._json(METADATA_BUNDLE)
        graph = self._json(GRAPH)
        index = self._json(RESULTS_INDEX)
        self.bundle = bundle if isinstance(bundle, dict) else {}
        if not re.fullmatch(r"\d{14}", self.run_id):
            # Not a run folder name (e.g. a copy): compare everything with the manifest's id.
            self.warn("1", ".", None, f"run folder name {self.run_id!r} is not a 14-digit run id")
            if isinstance(manifest, dict) and isinstance(manifest.get("run_id"), str):
                self.run_id = manifest["run_id"]
        for rel, doc in (
            (RUN_MANIFEST, manifest),
            (RUN_MANIFEST_SEMANTIC, semantic),
            (RESULTS_INDEX, index),
        ):
            if isinstance(doc, dict):
                self._check_run_id(rel, doc.get("run_id"))
        if isinstance(semantic, dict) and self.bundle:
            if semantic.get("taxonomy_hash") != self.bundle.get("taxonomy_hash"):
                self.err(
                    "9.1-3",
                    RUN_MANIFEST_SEMANTIC,
                    None,
                    f"taxonomy_hash {semantic.get('taxonomy_hash')!r} != metadata_bundle "
                    f"{self.bundle.get('taxonomy_hash')!r}",
                )
            if semantic.get("metadata_bundle_version") != self.bundle.get("version"):
                self.err(
                    "9.1-3",
                    RUN_MANIFEST_SEMANTIC,
                    None,
                    f"metadata_bundle_version {semantic.get('metadata_bundle_version')!r} != "
                    f"bundle version {self.bundle.get('version')!r}",
                )
        if (
            isinstance(manifest, dict)
            and isinstance(index, dict)
            and index.get("created_at") != manifest.get("started_at")
        ):
            self.err(
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
                self._timestamp(rel, doc.get(key), key)
        if isinstance(graph, dict):
            self._graph(graph)
        self._yaml_files()
        if isinstance(index, dict):
            for entry in index.get("nodes", []):
                nid = entry.get("canonical_node_id")
                if entry.get("node_id") != nid:
                    self.err(
                        "9.1-6",
                        RESULTS_INDEX,
                        None,
                        f"node_id != canonical_node_id for {nid}",
                    )
                self.index_methods[nid] = list(entry.get("statistical_methods", []))
                self.index_paths[nid] = entry.get("result_path", "")
                if nid not in self.nodes:
                    self.err("9.1-2", RESULTS_INDEX, None, f"node {nid} is not in graph.json")
        counts = {
            "graph.json nodes": len(self.nodes),
            "results/index.json nodes": len(self.index_paths) if isinstance(index, dict) else None,
            "node YAML files": len(self.node_yaml),
        }
        expected = manifest.get("node_count") if isinstance(manifest, dict) else None
        for what, count in counts.items():
            if count is not None and expected is not None and count != expected:
                self.err("9.1-2", RUN_MANIFEST, None, f"node_count {expected} != {count} {what}")
        if isinstance(manifest, dict):
            edge_yaml = len(list(self.root.glob(EDGE_YAML_GLOB)))
            for what, count in (
                ("graph.json edges", len(self.edges)),
                ("edge YAML files", edge_yaml),
            ):
                if manifest.get("edge_count") != count:
                    self.err(
                        "9.1-2",
                        RUN_MANIFEST,
                        None,
                        f"edge_count {manifest.get('edge_count')} != {count} {what}",
                    )
            if manifest.get("run_label") is None:
                self.err("1", RUN_MANIFEST, None, "run_label missing")

    def _timestamp(self, rel: str, value: Any, key: str) -> None:
        """ISO timestamps in any of the observed styles (spec 2.2), parsed leniently."""
        if not isinstance(value, str) or parse_timestamp(value) is None:
            self.warn("2.2", rel, None, f"{key} {value!r} is not an ISO-8601 timestamp")

    def _graph(self, graph: dict[str, Any]) -> None:
        metrics = {m.get("metric_id") for m in self.bundle.get("metrics", [])}
        edge_types = {e.get("id") for e in self.bundle.get("edge_types", [])}
        sets = {s.get("id") for s in self.bundle.get("group_by_sets", [])}
        dims = {g.get("id") for g in self.bundle.get("group_by_types", [])}
        for node in graph.get("nodes", []):
            nid = node.get("id")
            group_bys = [g.get("type") for g in node.get("group_bys", [])]
            info = NodeInfo(
                nid,
                node.get("metric_id"),
                group_bys,
                node.get("time_grain") != AGGREGATE_TIME_PERIOD,
                node.get("group_by_set"),
            )
            self.nodes[nid] = info
            if self.bundle:
                if info.metric_id not in metrics:
                    self.err(
                        "9.1-4",
                        GRAPH,
                        None,
                        f"metric {info.metric_id!r} of {nid} is not in metadata_bundle.json",
                    )
                if info.group_by_set not in sets:
                    self.err(
                        "9.1-4",
                        GRAPH,
                        None,
                        f"group_by_set {info.group_by_set!r} of {nid} is not in metadata_bundle.json",
                    )
                for dim in group_bys:
                    if dim not in dims:
                        self.err(
                            "9.1-4",
                            GRAPH,
                            None,
                            f"group_by type {dim!r} of {nid} is not in metadata_bundle.json",
                        )
        for edge in graph.get("edges", []):
            self.edges.append(edge)
            source, target, kind = edge.get("source"), edge.get("target"), edge.get("type")
            if self.bundle and kind not in edge_types:
                if kind in DRIFTING_EDGE_TYPES:
                    self.warn(
                        "10.1",
                        GRAPH,
                        None,
                        f"edge type {kind!r} of {edge.get('id')} is not in this run's taxonomy (known drift)",
                    )
                else:
                    self.err(
                        "9.1-4",
                        GRAPH,
                        None,
                        f"edge type {kind!r} of {edge.get('id')} is not in metadata_bundle.json",
                    )
            if source in self.nodes and target in self.nodes:
                self.nodes[source].children.add((target, kind))
                self.nodes[target].parents.add((source, kind))
            else:
                self.err("9.1-5", GRAPH, None, f"edge {edge.get('id')} joins unknown nodes")

    def _yaml_files(self) -> None:
        for path in sorted(self.root.glob(NODE_YAML_GLOB)):
            rel = path.relative_to(self.root).as_posix()
            self.report.files += 1
            text = path.read_text(encoding="utf-8")
            self.report.bytes += len(text)
            if not text.startswith("# ABOUTME:"):
                self.warn("2.1", rel, 1, "YAML does not start with '# ABOUTME:' comments")
            try:
                doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            except yaml.YAMLError as exc:
                self.err("2.1", rel, None, f"invalid YAML: {exc}")
                continue
            if isinstance(doc, dict) and doc.get("id"):
                self.node_yaml[doc["id"]] = doc
                if doc["id"] != path.stem:
                    self.err("9.1-2", rel, None, f"YAML id {doc['id']!r} != file name")
        for nid in self.nodes:
            if nid not in self.node_yaml:
                self.err("9.1-2", NODE_YAML_DIR, None, f"no node YAML for {nid}")

    # -- node result files ---------------------------------------------------------------------

    def _node_files(self) -> None:
        folder = self.root / NODES_DIR
        if not folder.is_dir():
            self.err("9.1-2", NODES_DIR, None, "folder missing: no node result files")
            return
        present = {p.name for p in folder.glob("*.jsonl")}
        for name in sorted(present):
            if name[: -len(".jsonl")] not in self.nodes:
                self.err(
                    "9.1-2",
                    f"{NODES_DIR}/{name}",
                    None,
                    "result file of a node that is not in graph.json",
                )
        for nid in sorted(self.nodes):
            info = self.nodes[nid]
            rel = node_result_path(nid)
            expected_path = self.index_paths.get(nid)
            if expected_path is not None and expected_path != rel:
                self.err("9.1-6", RESULTS_INDEX, None, f"result_path {expected_path!r} != {rel!r}")
            if f"{nid}.jsonl" not in present:
                if len(info.dims) > 1:
                    self.warn(
                        "10",
                        rel,
                        None,
                        "multi-dimension node result file missing (as in the reference runs)",
                    )
                else:
                    self.err("9.1-2", rel, None, "node result file missing")
                continue
            NodeChecker(self, info, rel).run()

    # -- 9.5 contributions ------------------------------------------------------------------------

    def _contributions(self) -> None:
        rel_index = CONTRIBUTION_INDEX
        index = self._json(rel_index)
        if not isinstance(index, dict):
            return
        self._check_run_id(rel_index, index.get("run_id"))
        self._timestamp(rel_index, index.get("generated_at"), "generated_at")
        listed = [p.get("parent_node_id") for p in index.get("parents", [])]
        missing = sorted(set(self.nodes) - set(listed))
        if missing:
            self.err("6.1", rel_index, None, f"parents[] lacks nodes: {', '.join(missing)}")
        for parent in index.get("parents", []):
            pid = parent.get("parent_node_id")
            artifacts = parent.get("metric_artifacts", [])
            total = sum(int(a.get("row_count", 0)) for a in artifacts)
            if parent.get("child_rows") != total:
                self.err(
                    "9.5-30",
                    rel_index,
                    None,
                    f"{pid}: child_rows {parent.get('child_rows')} != sum of row_count {total}",
                )
            for artifact in artifacts:
                name = artifact.get("artifact_path", "")
                rel = contribution_path(name)
                child_id, _, rest = name.partition(".")
                metric = rest[: -len(".jsonl")] if rest.endswith(".jsonl") else rest
                if child_id in self.nodes:
                    self.contrib_rows.setdefault(child_id, int(artifact.get("row_count", 0)))
                if artifact.get("metric_id") != metric:
                    self.err(
                        "9.5-30",
                        rel_index,
                        None,
                        f"artifact {name}: metric_id {artifact.get('metric_id')!r} != file suffix {metric!r}",
                    )
                if not (self.root / rel).is_file():
                    self.warn(
                        "10", rel, None, "contribution file missing (as in the reference runs)"
                    )
                    continue
                ContributionChecker(
                    self, rel, pid, child_id, metric, int(artifact.get("row_count", -1))
                ).run()
        run_args = self.root / CONTRIBUTION_RUN_ARGS
        if run_args.is_file():
            self._json(CONTRIBUTION_RUN_ARGS)

    # -- 9.6 classifications -------------------------------------------------------------------------

    def _classifications(self) -> None:
        ClassificationChecker(self).run()


# -- node checker -------------------------------------------------------------------------------------


class NodeChecker:
    def __init__(self, owner: RunValidator, info: NodeInfo, rel: str) -> None:
        self.v = owner
        self.info = info
        self.rel = rel
        self.single = len(info.dims) == 1
        yaml_doc = owner.node_yaml.get(info.id, {})
        contract = (yaml_doc.get("multi_method_contract") or {}).get("methods") or []
        self.yaml_methods = {m.get("id"): m for m in contract if isinstance(m, dict)}
        self.per_period_cols: list[str] = [
            str(c.get("id"))
            for c in yaml_doc.get("metadata_columns", []) or []
            if isinstance(c, dict) and c.get("aggregation") == "per_period"
        ]
        self.header: dict[str, Any] = {}
        self.facets: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {}
        self.header_counts: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {}
        self.methods: list[str] = []
        self.groups: dict[tuple[str, ...], _Facet] = defaultdict(_Facet)
        self.periods: list[str] = []
        self.start = self.end = ""

    def err(self, rule: str, line: int | None, message: str) -> None:
        self.v.err(rule, self.rel, line, message)

    def warn(self, rule: str, line: int | None, message: str) -> None:
        self.v.warn(rule, self.rel, line, message)

    def sev(self, error: bool, rule: str, line: int | None, message: str) -> None:
        self.v.sev(error, rule, self.rel, line, message)

    def run(self) -> None:
        count = 0
        seen: set[tuple[str, ...]] = set()
        header_count: int | None = None
        first = True
        for number, obj in self.v._jsonl(self.rel):
            if first:
                first = False
                if obj is None:
                    self.err("9.1-6", number, "line 1 is not a valid node header; file skipped")
                    return
                header_count = self._header(obj, number)
                continue
            count += 1
            if obj is None:
                continue
            self._entity(obj, number, seen)
        if header_count is not None and header_count != count:
            self.err("9.1-6", 1, f"entity_results_count {header_count} != {count} entity lines")
        self.v.entity_counts[self.info.id] = count
        self._facet_checks()

    # -- header -------------------------------------------------------------------------------

    def _header(self, obj: dict[str, Any], number: int) -> int | None:
        info = self.info
        self.header = obj
        if obj.get("type") != "node_metadata":
            self.err("9.1-6", number, f"type {obj.get('type')!r} != 'node_metadata'")
        if obj.get("canonical_node_id") != info.id:
            self.err(
                "9.1-6",
                number,
                f"canonical_node_id {obj.get('canonical_node_id')!r} != file stem {info.id!r}",
            )
        if obj.get("metric_id") != info.metric_id:
            self.err(
                "9.1-8",
                number,
                f"metric_id {obj.get('metric_id')!r} != graph metric {info.metric_id!r}",
            )
        children = {
            (c.get("canonical_child_node_id"), c.get("edge_type"))
            for c in obj.get("canonical_child_node_ids", [])
        }
        parents = {
            (c.get("canonical_parent_node_id"), c.get("edge_type"))
            for c in obj.get("canonical_parent_node_ids", [])
        }
        if children != info.children:
            self.err(
                "9.1-5",
                number,
                f"canonical_child_node_ids {sorted(children)} != graph edges {sorted(info.children)}",
            )
        if parents != info.parents:
            self.err(
                "9.1-5",
                number,
                f"canonical_parent_node_ids {sorted(parents)} != graph edges {sorted(info.parents)}",
            )
        methods = [m.get("statistical_method") for m in obj.get("statistical_methods", [])]
        self.methods = methods
        index_methods = self.v.index_methods.get(info.id)
        if index_methods is not None and index_methods != methods:
            self.err(
                "9.1-8",
                number,
                f"statistical_methods {methods} != results/index.json {index_methods}",
            )
        for method in obj.get("statistical_methods", []):
            gs = ((method.get("summary") or {}).get("global_statistics")) or {}
            facets: dict[tuple[str, ...], dict[str, Any]] = {}
            counts: dict[tuple[str, ...], dict[str, Any]] = {}
            for facet in gs.get("facets", []) or []:
                values = facet.get("facet_values") or {}
                key = tuple(str(values.get(d)) for d in info.dims[1:])
                facets[key] = facet.get("method_statistics") or {}
                counts[key] = facet.get("facet_counts") or {}
            self.facets[short_method_name(method.get("statistical_method", ""))] = facets
            self.header_counts[short_method_name(method.get("statistical_method", ""))] = counts
            trends = gs.get("percentile_trends")
            if trends is not None:
                self.header["_percentile_trends"] = trends
        if info.temporal:
            ctx = (obj.get("summary") or {}).get("temporal_context") or {}
            self.start = str(ctx.get("start_period", ""))
            self.end = str(ctx.get("end_period", ""))
        count = obj.get("entity_results_count")
        return count if isinstance(count, int) else None

    # -- entity lines ---------------------------------------------------------------------------

    def _entity(self, obj: dict[str, Any], number: int, seen: set[tuple[str, ...]]) -> None:
        info = self.info
        entity = obj.get("entity")
        if not isinstance(entity, list):
            self.err("9.1-7", number, "entity is not an array")
            return
        ids = [e.get("id") for e in entity if isinstance(e, dict)]
        if ids != info.dims:
            self.err("9.1-7", number, f"entity ids {ids} != node group_bys {info.dims}")
            return
        if any(e.get("dataset_field") != e.get("id") for e in entity):
            self.err("9.1-7", number, "entity dataset_field != id")
        key = tuple(str(e.get("value")) for e in entity)
        if key in seen:
            self.err("9.1-7", number, f"duplicate entity {list(key)}")
            return
        seen.add(key)
        metric = obj.get("metric")
        if not isinstance(metric, list) or not metric or not isinstance(metric[0], dict):
            self.err("9.1-9", number, "metric is not a non-empty array")
            return
        m0 = metric[0]
        if (m0.get("metadata") or {}).get("metric_id") != info.metric_id:
            self.err(
                "9.1-8",
                number,
                f"metric[0].metadata.metric_id {(m0.get('metadata') or {}).get('metric_id')!r} != {info.metric_id!r}",
            )
        methods = obj.get("statistical_methods")
        if not isinstance(methods, list):
            self.err("9.1-9", number, "statistical_methods is not an array")
            return
        names = [m.get("statistical_method") for m in methods if isinstance(m, dict)]
        if names != self.methods:
            self.err("9.1-8", number, f"statistical_methods {names} != header {self.methods}")
        by_short = {
            short_method_name(m.get("statistical_method", "")): m
            for m in methods
            if isinstance(m, dict)
        }
        for method in methods:
            if isinstance(method, dict):
                self._anomalies(method, number)
        facet_key = key[1:]
        group = self.groups[facet_key]
        raw_meta = obj.get("metadata")
        metadata: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        if info.temporal:
            self._temporal_entity(m0, metadata, by_short, number, key, group)
        else:
            self._aggregate_entity(m0, metadata, by_short, number, key, group)

    def _anomalies(self, method: dict[str, Any], number: int) -> None:
        method_id = method.get("statistical_method", "")
        short = short_method_name(method_id)
        raw_stats = method.get("statistics")
        statistics: dict[str, Any] = raw_stats if isinstance(raw_stats, dict) else {}
        suppressed = statistics.get("suppressed") is True
        yaml_method = self.yaml_methods.get(method_id)
        for profile in method.get("anomalies", []) or []:
            if yaml_method and profile.get("anomaly_profile") != yaml_method.get("anomaly_profile"):
                self.err(
                    "9.4-24",
                    number,
                    f"anomaly_profile {profile.get('anomaly_profile')!r} != node YAML {yaml_method.get('anomaly_profile')!r}",
                )
            for item in profile.get("methods", []) or []:
                applies = item.get("applies_to")
                if applies not in METHOD_APPLIES.get(short, set()):
                    self.err(
                        "9.4-22", number, f"applies_to {applies!r} is not valid for {method_id}"
                    )
                    continue
                value = item.get("statistic_value")
                stat = statistics.get(applies)
                if not _close(_f(value), _f(stat)):
                    self.err(
                        "9.4-22",
                        number,
                        f"{applies} statistic_value {_g(value)} != statistics.{applies} {_g(stat)}",
                    )
                label = item.get("anomaly")
                bounds = (
                    formulas.PERCENTILE_BOUNDS
                    if applies == "slope_percentile"
                    else formulas.Z_BOUNDS
                )
                fv = _f(value)
                expected = formulas.tier_label(fv, bounds)
                if label != expected:
                    on_bound = applies == "slope_percentile" and fv in bounds
                    legacy = label in {"high", "low"}
                    if not (on_bound or legacy):
                        self.err(
                            "9.4-23",
                            number,
                            f"{applies} anomaly {label!r} != tier({_g(value)}) = {expected!r}",
                        )
                template = (item.get("interpretation") or {}).get("template_id", "")
                if not str(template).endswith(f"__{label}"):
                    self.err(
                        "9.4-24",
                        number,
                        f"interpretation.template_id {template!r} does not end with '__{label}'",
                    )
                if yaml_method is not None:
                    allowed = yaml_method.get("anomaly_methods") or [
                        yaml_method.get("anomaly_method")
                    ]
                    if item.get("anomaly_method") not in allowed:
                        self.err(
                            "9.4-24",
                            number,
                            f"anomaly_method {item.get('anomaly_method')!r} not in node YAML anomaly_methods",
                        )
                if suppressed and not (label == NO_SCORE or value is None):
                    self.err(
                        "9.4-25",
                        number,
                        f"{applies} is suppressed but anomaly is {label!r} with statistic_value {_g(value)}",
                    )

    def _aggregate_entity(
        self,
        m0: dict[str, Any],
        metadata: dict[str, Any],
        methods: dict[str, dict[str, Any]],
        number: int,
        key: tuple[str, ...],
        group: _Facet,
    ) -> None:
        value = m0.get("values")
        if isinstance(value, bool) or not isinstance(value, (int, float, type(None))):
            self.err("9.1-9", number, "aggregate metric[0].values is not a number")
            return
        simple = (methods.get("simple_zscore") or {}).get("statistics") or {}
        robust = (methods.get("robust_zscore") or {}).get("statistics") or {}
        peer_simple = ((methods.get("simple_zscore") or {}).get("runtime") or {}).get(
            "anomaly_statistics"
        ) or {}
        peer_robust = ((methods.get("robust_zscore") or {}).get("runtime") or {}).get(
            "anomaly_statistics"
        ) or {}
        row: dict[str, Any] = {
            "value": _f(value),
            "z": _f(simple.get("simple_zscore")),
            "peer_mean": _f(simple.get("peer_mean")),
            "peer_std": _f(simple.get("peer_std")),
            "pr": _f(simple.get("percentile_rank")),
            "s_sup": simple.get("suppressed") is True,
            "r": _f(robust.get("robust_zscore")),
            "r_sup": robust.get("suppressed") is True,
            "peer_count_s": peer_simple.get("peer_count"),
            "peer_count_r": peer_robust.get("peer_count"),
        }
        group.lines.append(number)
        group.values.append(row["value"])
        group.rows.append(row)
        self.v.agg_store.setdefault(self.info.id, {})[key] = AggEntity(
            row["value"],
            row["z"],
            row["r"],
            _f(metadata.get("encounters")),
            bool(row["s_sup"] or row["r_sup"]),
        )

    def _temporal_entity(
        self,
        m0: dict[str, Any],
        metadata: dict[str, Any],
        methods: dict[str, dict[str, Any]],
        number: int,
        key: tuple[str, ...],
        group: _Facet,
    ) -> None:
        values = m0.get("values")
        timeline = values.get("timeline") if isinstance(values, dict) else None
        runtime = m0.get("temporal_runtime")
        if not isinstance(timeline, list) or not isinstance(runtime, dict):
            self.err(
                "9.1-9",
                number,
                "temporal node needs metric[0].values.timeline and temporal_runtime",
            )
            return
        periods = [str(p.get("period")) for p in timeline]
        series = [_f(p.get("value")) for p in timeline]
        if not self.periods:
            self.periods = periods
        # 15: timeline periods
        if any(not re.fullmatch(r"\d{6}", p) for p in periods) or periods != sorted(set(periods)):
            self.err(
                "9.3-15",
                number,
                f"timeline periods are not strictly increasing YYYYMM: {periods[:3]}...",
            )
        elif self.start and (periods[0] < self.start or periods[-1] > self.end):
            self.err(
                "9.3-15",
                number,
                f"timeline {periods[0]}..{periods[-1]} outside {self.start}..{self.end}",
            )
        if periods != self.periods:
            self.warn("9.3-15", number, "timeline periods differ from the node's first entity")
        observed = sum(1 for s in series if not math.isnan(s))
        n = len(series)
        if runtime.get("observed_count") is not None and runtime.get("missing_count") is not None:
            if runtime["observed_count"] + runtime["missing_count"] != n:
                self.err(
                    "9.3-15",
                    number,
                    f"observed_count + missing_count = {runtime['observed_count'] + runtime['missing_count']} != {n} periods",
                )
            if runtime["observed_count"] != observed:
                self.warn(
                    "9.3-15",
                    number,
                    f"observed_count {runtime['observed_count']} != {observed} non-null timeline values",
                )
            if n and not _close(_f(runtime.get("coverage_ratio")), runtime["observed_count"] / n):
                self.warn(
                    "9.3-15",
                    number,
                    f"coverage_ratio {_g(runtime.get('coverage_ratio'))} != observed_count / periods",
                )
        ts = (methods.get("trending_simple_zscore") or {}).get("statistics") or {}
        tr = (methods.get("trending_robust_zscore") or {}).get("statistics") or {}
        sl = (methods.get("slope_percentile") or {}).get("statistics") or {}
        zs = self._z_array(ts, "simple", n, number)
        zr = self._z_array(tr, "robust", n, number)
        latest = f"{periods[-1][:4]}-{periods[-1][4:]}" if periods else ""
        for name, block in (("trending_simple_zscore", ts), ("trending_robust_zscore", tr)):
            if block and block.get("latest_period") != latest:
                self.err(
                    "9.3-17",
                    number,
                    f"{name} latest_period {block.get('latest_period')!r} != {latest!r}",
                )
        # 19: slope statistics of this series
        slope = _f(sl.get("slope"))
        if sl:
            self._slope_checks(sl, series, observed, number)
        # 21: per-period metadata
        self._per_period(metadata, periods, number)
        twin = TwinEntity(
            _f(ts.get("mean_simple_zscore")),
            _f(sl.get("slope_percentile")),
            _f(sl.get("acceleration")),
            math.nan,  # zscore_std and max_abs_deviation: filled per facet, vectorised
            math.nan,
            sl["period_count"] if isinstance(sl.get("period_count"), int) else observed,
        )
        if zs is not None and len(zs) != n:
            present = [z for z in zs if not math.isnan(z)]
            if present:
                twin.zscore_std = float(np.std(present))
                twin.max_abs_deviation = max(abs(z) for z in present)
        self.v.twin_store.setdefault(self.info.id, {})[key] = twin
        group.lines.append(number)
        group.values.append(series)
        group.rows.append(
            {
                "zs": zs,
                "zr": zr,
                "ts_sup": ts.get("suppressed") is True,
                "tr_sup": tr.get("suppressed") is True,
                "mean_s": _f(ts.get("mean_simple_zscore")),
                "mean_r": _f(tr.get("mean_robust_zscore")),
                "pr_s": _f(ts.get("percentile_rank")),
                "pr_r": _f(tr.get("percentile_rank")),
                "peer_median": _f(tr.get("peer_median")),
                "peer_mad": _f(tr.get("peer_mad")),
                "slope": slope,
                "accel": _f(sl.get("acceleration")),
                "twin": twin,
                "slope_pr": _f(sl.get("percentile_rank")),
                "sl_sup": sl.get("suppressed") is True,
            }
        )

    def _z_array(self, block: dict[str, Any], kind: str, n: int, number: int) -> list[float] | None:
        if not block:
            return None
        name = f"per_period_{kind}_zscores"
        raw = block.get(name)
        if not isinstance(raw, list):
            self.err("9.3-16", number, f"{name} missing")
            return None
        zs = [_f(z) for z in raw]
        if len(zs) != n:
            self.err("9.3-16", number, f"len({name}) {len(zs)} != {n} timeline periods")
            return zs
        latest = _f(block.get(f"latest_{kind}_zscore"))
        if zs and not _close(latest, zs[-1]):
            self.err(
                "9.3-16", number, f"latest_{kind}_zscore {_g(latest)} != last element {_g(zs[-1])}"
            )
        present = [z for z in zs if not math.isnan(z)]
        mean = _f(block.get(f"mean_{kind}_zscore"))
        expected = sum(present) / len(present) if present else math.nan
        if not _close(mean, expected):
            self.err(
                "9.3-16",
                number,
                f"mean_{kind}_zscore {_g(mean)} != mean(per_period_{kind}_zscores) = {_g(expected)}",
            )
        return zs

    def _slope_checks(
        self, sl: dict[str, Any], series: list[float], observed: int, number: int
    ) -> None:
        slope = _f(sl.get("slope"))
        suppressed = sl.get("suppressed") is True
        if observed < formulas.MIN_SLOPE_PERIODS and not math.isnan(slope):
            self.warn(
                "9.3-19",
                number,
                f"slope {_g(slope)} present with {observed} observed periods (< {formulas.MIN_SLOPE_PERIODS})",
            )
        if suppressed and not math.isnan(slope):
            self.err("9.4-25", number, "slope method suppressed but slope is not null")
        if not math.isnan(slope):
            if not _close(_f(sl.get("slope_weighted")), slope):
                self.warn(
                    "9.3-19",
                    number,
                    f"slope_weighted {_g(sl.get('slope_weighted'))} != slope {_g(slope)}",
                )
            direction = sl.get("trend_direction")
            if (slope > 0 and direction != "increasing") or (
                slope < 0 and direction != "decreasing"
            ):
                self.err(
                    "9.3-19", number, f"trend_direction {direction!r} != sign(slope {_g(slope)})"
                )
        accel = _f(sl.get("acceleration"))
        complete = observed == len(series)
        if not math.isnan(accel) and not (complete and len(series) >= 4):
            self.warn("9.3-19", number, "acceleration present for an incomplete series")
        momentum = sl.get("momentum")
        if (
            momentum is not None
            and not math.isnan(accel)
            and (momentum == "gaining") != (accel > 0)
        ):
            self.err("9.3-19", number, f"momentum {momentum!r} but acceleration {_g(accel)}")
        delta = _f(sl.get("end_start_delta"))
        if not math.isnan(delta):
            obs = [s for s in series if not math.isnan(s)]
            if len(obs) >= 4:
                expected = (obs[-1] + obs[-2]) / 2 - (obs[0] + obs[1]) / 2
                if not _close(delta, expected):
                    self.sev(
                        complete,
                        "9.3-19",
                        number,
                        f"end_start_delta {_g(delta)} != mean(last 2) - mean(first 2) = {_g(expected)}",
                    )
        if not _close(_f(sl.get("slope_percentile")), _f(sl.get("percentile_rank"))):
            self.err(
                "9.3-19",
                number,
                f"slope_percentile {_g(sl.get('slope_percentile'))} != percentile_rank {_g(sl.get('percentile_rank'))}",
            )
        pct = _f(sl.get("slope_percentile"))
        if not math.isnan(pct) and not 0.0 <= pct <= 100.0:
            self.err("9.3-19", number, f"slope_percentile {_g(pct)} outside [0, 100]")

    def _per_period(self, metadata: dict[str, Any], periods: list[str], number: int) -> None:
        per_period = metadata.get("per_period")
        for column in self.per_period_cols:
            if not isinstance(per_period, dict) or column not in per_period:
                self.err(
                    "9.3-21",
                    number,
                    f"metadata.per_period.{column} missing (aggregation per_period)",
                )
                continue
            items = per_period[column]
            got = [str(p.get("period", "")).replace("-", "") for p in items]
            if got != periods:
                self.err("9.3-21", number, f"per_period.{column} periods != timeline periods")
            total = sum(_f(p.get("value")) for p in items if p.get("value") is not None)
            top = _f(metadata.get(column))
            if not _close(top, total):
                self.err(
                    "9.3-21",
                    number,
                    f"metadata.{column} {_g(top)} != sum of per_period values {_g(total)}",
                )

    # -- facet-level checks -----------------------------------------------------------------------

    def _facet_checks(self) -> None:
        if self.info.temporal:
            self._temporal_facets()
        else:
            self._aggregate_facets()

    def _facet_label(self, facet_key: tuple[Any, ...]) -> str:
        """facet_values as the header writes them: the non-facility dimensions."""
        return "{}" if not facet_key else str(dict(zip(self.info.dims[1:], facet_key, strict=True)))

    def _aggregate_facets(self) -> None:
        simple_h = self.facets.get("simple_zscore", {})
        robust_h = self.facets.get("robust_zscore", {})
        counts_h = self.header_counts.get("simple_zscore", {})
        exact = self.single  # per-facet recomputation is [R] for multi-dimension nodes
        for facet_key, group in self.groups.items():
            label = self._facet_label(facet_key)
            hs = simple_h.get(facet_key)
            hr = robust_h.get(facet_key)
            if hs is None or hr is None:
                self.err("9.2-10", 1, f"no header facet for facet_values {label}")
                continue
            x = np.array(group.values, dtype=np.float64)
            x = x[~np.isnan(x)]
            n = int(x.size)
            count_h = (counts_h.get(facet_key) or {}).get("entity_count")
            if count_h != len(group.values):
                self.sev(
                    exact,
                    "9.2-14",
                    1,
                    f"facet {label}: entity_count {count_h} != {len(group.values)} entities",
                )
            min_peer = hs.get("min_peer_count", formulas.AGGREGATE_MIN_PEER_COUNT)
            if n:
                mean, std = float(np.mean(x)), formulas.population_std(x)
                median, mad = float(np.median(x)), formulas.scaled_mad(x)
                checks = (
                    (
                        "global_metric_mean",
                        hs.get("global_metric_mean"),
                        mean,
                        "mean of the facet's values",
                    ),
                    (
                        "global_metric_std",
                        hs.get("global_metric_std"),
                        std,
                        "population std (ddof=0) of the facet's values",
                    ),
                    (
                        "global_metric_median",
                        hr.get("global_metric_median"),
                        median,
                        "median of the facet's values",
                    ),
                    ("global_mad", hr.get("global_mad"), mad, "1.4826 * MAD of the facet's values"),
                )
                for name, got, want, what in checks:
                    if got is not None and not _close(_f(got), want):
                        rule = (
                            "9.2-12" if name in {"global_metric_median", "global_mad"} else "9.2-10"
                        )
                        self.sev(
                            exact,
                            rule,
                            1,
                            f"facet {label}: {name} {_g(got)} != {what} = {_g(want)}",
                        )
            ranks = formulas.midpoint_percentiles(np.array(group.values, dtype=np.float64))
            std_floor = _f(hs.get("std_floor"))
            mad_floor = _f(hr.get("mad_floor"))
            h_mean, h_std = _f(hs.get("global_metric_mean")), _f(hs.get("global_metric_std"))
            h_med, h_mad = _f(hr.get("global_metric_median")), _f(hr.get("global_mad"))
            for line, row, rank in zip(group.lines, group.rows, ranks.tolist(), strict=True):
                for name in ("peer_count_s", "peer_count_r"):
                    if row[name] is not None and row[name] != count_h:
                        self.err(
                            "9.2-14",
                            line,
                            f"peer_count {row[name]} != facet entity_count {count_h}",
                        )
                        break
                should = count_h is not None and count_h < min_peer
                if should and not row["s_sup"]:
                    self.warn(
                        "9.2-14",
                        line,
                        f"facet entity_count {count_h} < min_peer_count {min_peer} but not suppressed",
                    )
                if row["s_sup"] or math.isnan(row["value"]):
                    continue
                v = row["value"]
                if not _close(row["peer_mean"], h_mean) or not _close(row["peer_std"], h_std):
                    self.err(
                        "9.2-10",
                        line,
                        f"peer_mean/peer_std {_g(row['peer_mean'])}/{_g(row['peer_std'])} != facet global_metric_mean/std {_g(h_mean)}/{_g(h_std)}",
                    )
                denom = max(row["peer_std"], std_floor if not math.isnan(std_floor) else 0.0)
                want = (v - row["peer_mean"]) / denom if denom else math.nan
                if not _close(row["z"], want):
                    self.err(
                        "9.2-11",
                        line,
                        f"simple_zscore {_g(row['z'])} != (value - peer_mean)/max(peer_std, std_floor) = {_g(want)}",
                    )
                if not row["r_sup"]:
                    denom_r = max(h_mad, mad_floor if not math.isnan(mad_floor) else 0.0)
                    want_r = (v - h_med) / denom_r if denom_r else math.nan
                    if not _close(row["r"], want_r):
                        self.err(
                            "9.2-12",
                            line,
                            f"robust_zscore {_g(row['r'])} != (value - global_metric_median)/max(global_mad, mad_floor) = {_g(want_r)}",
                        )
                if not 0.0 <= row["pr"] <= 100.0:
                    self.err("9.2-13", line, f"percentile_rank {_g(row['pr'])} outside [0, 100]")
                elif not _close(row["pr"], rank):
                    self.sev(
                        exact,
                        "9.2-13",
                        line,
                        f"percentile_rank {_g(row['pr'])} != midpoint percentile within the facet = {_g(rank)}",
                    )

    def _temporal_facets(self) -> None:
        simple_h = self.facets.get("trending_simple_zscore", {})
        robust_h = self.facets.get("trending_robust_zscore", {})
        counts_h = self.header_counts.get("trending_simple_zscore", {})
        exact = self.single
        all_values: list[list[float]] = []
        for facet_key, group in self.groups.items():
            label = self._facet_label(facet_key)
            hs = simple_h.get(facet_key)
            hr = robust_h.get(facet_key)
            if hs is None or hr is None:
                self.err("9.3-16", 1, f"no header facet for facet_values {label}")
                continue
            width = len(self.periods)
            rows_ok = [i for i, v in enumerate(group.values) if len(v) == width]
            if not rows_ok:
                continue
            matrix = np.array([group.values[i] for i in rows_ok], dtype=np.float64)
            all_values.extend(group.values[i] for i in rows_ok)
            flat = matrix[~np.isnan(matrix)]
            count_h = counts_h.get(facet_key) or {}
            if count_h.get("entity_count") != len(group.values):
                self.sev(
                    exact,
                    "9.3-16",
                    1,
                    f"facet {label}: entity_count {count_h.get('entity_count')} != {len(group.values)} entities",
                )
            if count_h.get("record_count") is not None and count_h.get("record_count") != int(
                flat.size
            ):
                self.warn(
                    "9.3-16",
                    1,
                    f"facet {label}: record_count {count_h.get('record_count')} != {flat.size} observed values",
                )
            if flat.size:
                checks = (
                    ("global_metric_mean", hs.get("global_metric_mean"), float(np.mean(flat))),
                    (
                        "global_metric_std",
                        hs.get("global_metric_std"),
                        formulas.population_std(flat),
                    ),
                    (
                        "global_metric_median",
                        hr.get("global_metric_median"),
                        float(np.median(flat)),
                    ),
                    ("global_mad", hr.get("global_mad"), formulas.scaled_mad(flat)),
                )
                for name, got, want in checks:
                    if got is not None and not _close(_f(got), want):
                        self.sev(
                            exact,
                            "9.3-16",
                            1,
                            f"facet {label}: {name} {_g(got)} != over all entity x period values = {_g(want)}",
                        )
            std_floor = _f(hs.get("std_floor"))
            std_floor = 0.0 if math.isnan(std_floor) else std_floor
            mad_floor = _f(hr.get("mad_floor"))
            mad_floor = 0.0 if math.isnan(mad_floor) else mad_floor
            _, means, stds = formulas.column_moments(matrix)
            medians, mads = formulas.column_median_mad(matrix)
            with np.errstate(invalid="ignore", divide="ignore"):
                want_s = (matrix - means) / np.maximum(stds, std_floor)
                want_r = (matrix - medians) / np.maximum(mads, mad_floor)
            rows = [group.rows[i] for i in rows_ok]
            lines = [group.lines[i] for i in rows_ok]
            mean_s = np.array([r["mean_s"] for r in rows])
            mean_r = np.array([r["mean_r"] for r in rows])
            slopes = np.array([r["slope"] for r in rows])
            slope_want = formulas.ols_slopes(matrix)
            accel_want = formulas.accelerations(matrix)
            self._fill_twins(rows, width)
            pr_s_want = formulas.midpoint_percentiles(mean_s)
            pr_r_want = formulas.midpoint_percentiles(mean_r)
            pr_sl_want = formulas.midpoint_percentiles(slopes)
            for j, (line, row) in enumerate(zip(lines, rows, strict=True)):
                for kind, got_arr, want_arr, sup in (
                    ("simple", row["zs"], want_s[j], row["ts_sup"]),
                    ("robust", row["zr"], want_r[j], row["tr_sup"]),
                ):
                    if sup or got_arr is None or len(got_arr) != width:
                        continue
                    for t, (got, want) in enumerate(zip(got_arr, want_arr.tolist(), strict=True)):
                        if not _close(got, want):
                            formula = (
                                "(v - period mean)/max(period std, std_floor)"
                                if kind == "simple"
                                else "(v - period median)/max(1.4826*period MAD, mad_floor)"
                            )
                            self.sev(
                                exact,
                                "9.3-16",
                                line,
                                f"per_period_{kind}_zscores[{t}] {_g(got)} != {formula} = {_g(want)}",
                            )
                            break
                if not math.isnan(row["slope"]) and not _close(row["slope"], slope_want[j]):
                    self.err(
                        "9.3-19",
                        line,
                        f"slope {_g(row['slope'])} != OLS(value ~ period index) = {_g(slope_want[j])}",
                    )
                if (
                    not math.isnan(row["accel"])
                    and not math.isnan(accel_want[j])
                    and not _close(row["accel"], accel_want[j])
                ):
                    self.err(
                        "9.3-19",
                        line,
                        f"acceleration {_g(row['accel'])} != slope(2nd half) - slope(1st half) = {_g(accel_want[j])}",
                    )
                if not row["ts_sup"] and not _close(row["pr_s"], pr_s_want[j]):
                    self.sev(
                        exact,
                        "9.3-18",
                        line,
                        f"trending simple percentile_rank {_g(row['pr_s'])} != midpoint percentile of mean_simple_zscore = {_g(pr_s_want[j])}",
                    )
                if not row["tr_sup"] and not _close(row["pr_r"], pr_r_want[j]):
                    self.sev(
                        exact,
                        "9.3-18",
                        line,
                        f"trending robust percentile_rank {_g(row['pr_r'])} != midpoint percentile of mean_robust_zscore = {_g(pr_r_want[j])}",
                    )
                if not math.isnan(row["slope"]) and not _close(row["slope_pr"], pr_sl_want[j]):
                    self.sev(
                        exact,
                        "9.3-19",
                        line,
                        f"slope percentile_rank {_g(row['slope_pr'])} != midpoint percentile of slope = {_g(pr_sl_want[j])}",
                    )
                if not row["tr_sup"] and width:
                    if not _close(row["peer_median"], medians[-1]):
                        self.sev(
                            exact,
                            "9.3-17",
                            line,
                            f"peer_median {_g(row['peer_median'])} != latest period median = {_g(medians[-1])}",
                        )
                    if not _close(row["peer_mad"], mads[-1]):
                        self.sev(
                            exact,
                            "9.3-17",
                            line,
                            f"peer_mad {_g(row['peer_mad'])} != latest period 1.4826*MAD = {_g(mads[-1])}",
                        )
                if not row["ts_sup"] and row["zs"] is not None and len(row["zs"]) == width:
                    values = group.values[rows_ok[j]]
                    for t in range(width):
                        if math.isnan(values[t]) != math.isnan(row["zs"][t]):
                            self.err(
                                "9.3-16",
                                line,
                                f"per_period_simple_zscores[{t}] must be null exactly where the timeline value is null",
                            )
                            break
        self._percentile_trends(all_values)

    @staticmethod
    def _fill_twins(rows: list[dict[str, Any]], width: int) -> None:
        """Population std and max |z| of each entity's per-period simple z-scores."""
        usable = [r for r in rows if r["zs"] is not None and len(r["zs"]) == width]
        if not usable or not width:
            return
        zs = np.array([r["zs"] for r in usable], dtype=np.float64)
        present = ~np.isnan(zs)
        counts = present.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(present, zs, 0.0).sum(axis=1) / counts
            dev = np.where(present, zs - means[:, None], 0.0)
            std = np.sqrt((dev * dev).sum(axis=1) / counts)
            top = np.where(present, np.abs(zs), -np.inf).max(axis=1)
        for row, s_value, m_value, n in zip(
            usable, std.tolist(), top.tolist(), counts.tolist(), strict=True
        ):
            if n:
                row["twin"].zscore_std = s_value
                row["twin"].max_abs_deviation = m_value

    def _percentile_trends(self, all_values: list[list[float]]) -> None:
        trends = self.header.get("_percentile_trends")
        if trends is None or not all_values:
            return
        periods = [str(p) for p in trends.get("periods", [])]
        width = len(periods)
        if periods != self.periods:
            self.err("9.3-20", 1, "percentile_trends.periods != timeline periods")
            return
        names = ("p10", "p25", "p50", "p75", "p90")
        arrays: dict[str, list[float]] = {}
        for name in (*names, "sample_sizes"):
            arr = trends.get(name)
            if not isinstance(arr, list) or len(arr) != width:
                self.err("9.3-20", 1, f"percentile_trends.{name} length != {width} periods")
                return
            arrays[name] = [_f(x) for x in arr]
        for t in range(width):
            column = [arrays[n][t] for n in names]
            present = [c for c in column if not math.isnan(c)]
            if any(b < a - 1e-12 for a, b in itertools.pairwise(present)):
                self.err(
                    "9.3-20",
                    1,
                    f"percentile_trends not ordered p10 <= ... <= p90 in period {periods[t]}",
                )
        matrix = np.array(all_values, dtype=np.float64)
        counts = (~np.isnan(matrix)).sum(axis=0)
        gappy = bool(np.isnan(matrix).any())
        one_facet = len(self.groups) == 1
        wanted = formulas.numpy_percentiles(matrix, [10, 25, 50, 75, 90])
        for t in range(width):
            if arrays["sample_sizes"][t] != counts[t]:
                self.sev(
                    not gappy,
                    "9.3-20",
                    1,
                    f"percentile_trends.sample_sizes[{t}] {_g(arrays['sample_sizes'][t])} != {int(counts[t])} non-null values",
                )
                break
        for i, name in enumerate(names):
            for t in range(width):
                got = arrays[name][t]
                if not math.isnan(got) and not _close(got, wanted[i, t]):
                    self.sev(
                        one_facet,
                        "9.3-20",
                        1,
                        f"percentile_trends.{name}[{t}] {_g(got)} != numpy linear percentile = {_g(wanted[i, t])}",
                    )
                    break
        if one_facet:
            for row, line in zip(
                self.groups[next(iter(self.groups))].rows,
                self.groups[next(iter(self.groups))].lines,
                strict=True,
            ):
                p50 = arrays["p50"][-1]  # null when the period's percentiles are suppressed
                if (
                    not row["tr_sup"]
                    and not math.isnan(p50)
                    and not _close(row["peer_median"], p50)
                ):
                    self.err(
                        "9.3-17",
                        line,
                        f"peer_median {_g(row['peer_median'])} != percentile_trends.p50[-1] {_g(arrays['p50'][-1])}",
                    )
                    break


# -- contributions --------------------------------------------------------------------------------


class ContributionChecker:
    def __init__(
        self,
        owner: RunValidator,
        rel: str,
        parent_id: str,
        child_id: str,
        metric: str,
        row_count: int,
    ) -> None:
        self.v = owner
        self.rel = rel
        self.parent_id = parent_id
        self.child_id = child_id
        self.metric = metric
        self.row_count = row_count

    def err(self, rule: str, line: int | None, message: str) -> None:
        self.v.err(rule, self.rel, line, message)

    def run(self) -> None:
        v = self.v
        parent = v.nodes.get(self.parent_id)
        child = v.nodes.get(self.child_id)
        if parent is None or child is None:
            self.err("9.5-29", None, f"unknown parent {self.parent_id} or child {self.child_id}")
            return
        if (self.child_id, "segments_into") not in parent.children and not any(
            c == self.child_id for c, _ in parent.children
        ):
            self.err("9.5-29", None, f"no graph edge {self.parent_id} -> {self.child_id}")
        parents_store = v.agg_store.get(self.parent_id)
        child_store = v.agg_store.get(self.child_id)
        groups: dict[tuple[Any, ...], list[tuple[int, float, float]]] = defaultdict(list)
        seen: set[tuple[str, ...]] = set()
        count = 0
        for number, rec in v._jsonl(self.rel):
            count += 1
            if rec is None:
                continue
            v._check_run_id(self.rel, rec.get("run_id"), number)
            if rec.get("child_node_id") != self.child_id:
                self.err(
                    "9.5-29",
                    number,
                    f"child_node_id {rec.get('child_node_id')!r} != file prefix {self.child_id!r}",
                )
            if rec.get("parent_node_id") != self.parent_id:
                self.err(
                    "9.5-29",
                    number,
                    f"parent_node_id {rec.get('parent_node_id')!r} != index parent {self.parent_id!r}",
                )
            if rec.get("metric_id") != self.metric:
                self.v.warn(
                    "9.5-30",
                    self.rel,
                    number,
                    f"metric_id {rec.get('metric_id')!r} != file suffix {self.metric!r}",
                )
            pe = rec.get("parent_entity") or {}
            ce = rec.get("child_entity") or {}
            if not isinstance(pe, dict) or not isinstance(ce, dict):
                self.err("9.5-29", number, "parent_entity / child_entity must be objects")
                continue
            if {k: ce.get(k) for k in pe} != pe:
                self.err(
                    "9.5-29",
                    number,
                    f"child_entity {ce} restricted to the parent keys != parent_entity {pe}",
                )
            ckey = tuple(str(ce.get(d)) for d in child.dims)
            pkey = tuple(str(pe.get(d)) for d in parent.dims)
            if ckey in seen:
                self.err("9.5-30", number, f"child entity {ce} appears twice")
            seen.add(ckey)
            weight = _f(rec.get("weight_value"))
            share = _f(rec.get("weight_share"))
            if rec.get("method") == "weighted_mean":
                if not 0.0 <= share <= 1.0:
                    self.err("9.5-26", number, f"weight_share {_g(share)} outside [0, 1]")
                cv, pv = _f(rec.get("child_value")), _f(rec.get("parent_value"))
                raw = _f(rec.get("raw_component"))
                if not math.isnan(cv) and not _close(raw, share * cv):
                    self.err(
                        "9.5-28",
                        number,
                        f"raw_component {_g(raw)} != weight_share*child_value = {_g(share * cv)}",
                    )
                excess = _f(rec.get("excess_over_parent"))
                if (
                    not math.isnan(cv)
                    and not math.isnan(pv)
                    and not _close(excess, share * (cv - pv))
                ):
                    self.err(
                        "9.5-28",
                        number,
                        f"excess_over_parent {_g(excess)} != weight_share*(child_value - parent_value) = {_g(share * (cv - pv))}",
                    )
                groups[(pkey, rec.get("metric_id"))].append((number, weight, share))
            self._node_values(rec, pkey, ckey, parents_store, child_store, number)
        if count != self.row_count:
            self.err("9.5-30", None, f"{count} lines != index row_count {self.row_count}")
        for (pkey, _metric), items in groups.items():
            total_share = sum(s for _, _, s in items)
            if abs(total_share - 1.0) > 1e-6:
                self.err(
                    "9.5-26",
                    items[0][0],
                    f"sum of weight_share for parent {list(pkey)} is {_g(total_share)}, not 1",
                )
            total_weight = sum(w for _, w, _ in items)
            for number, weight, share in items:
                want = weight / total_weight if total_weight else math.nan
                if not _close(share, want):
                    self.err(
                        "9.5-27",
                        number,
                        f"weight_share {_g(share)} != weight_value/sum(weight_value) = {_g(want)}",
                    )
                    break

    def _node_values(
        self,
        rec: dict[str, Any],
        pkey: tuple[str, ...],
        ckey: tuple[str, ...],
        parents: dict[tuple[str, ...], AggEntity] | None,
        children: dict[tuple[str, ...], AggEntity] | None,
        number: int,
    ) -> None:
        p = parents.get(pkey) if parents is not None else None
        c = children.get(ckey) if children is not None else None
        if parents is not None and p is None:
            self.err("9.5-29", number, f"parent entity {list(pkey)} not in {self.parent_id}")
        if children is not None and c is None:
            self.err("9.5-29", number, f"child entity {list(ckey)} not in {self.child_id}")
        if p is None or c is None:
            return
        attr = {"simple_zscore": "simple", "robust_zscore": "robust"}.get(self.metric, "value")
        for name, got, want in (
            ("parent_value", _f(rec.get("parent_value")), getattr(p, attr)),
            ("child_value", _f(rec.get("child_value")), getattr(c, attr)),
            ("weight_value", _f(rec.get("weight_value")), c.encounters),
        ):
            if not _close(got, want):
                self.v.warn(
                    "9.5-31", self.rel, number, f"{name} {_g(got)} != node file value {_g(want)}"
                )


# -- classifications --------------------------------------------------------------------------


class ClassificationChecker:
    CSV = CLASSIFICATION_CSV
    JSONL = CLASSIFICATION_JSONL

    def __init__(self, owner: RunValidator) -> None:
        self.v = owner
        self.types: Counter[str] = Counter()
        self.severities: list[int] = []
        self.ranges: dict[str, tuple[int, int]] = {}

    def run(self) -> None:
        v = self.v
        index = v._json(CLASSIFICATION_INDEX)
        manifest = v._json(CLASSIFICATION_MANIFEST)
        for rel, doc in (
            (CLASSIFICATION_INDEX, index),
            (CLASSIFICATION_MANIFEST, manifest),
        ):
            if isinstance(doc, dict):
                v._check_run_id(rel, doc.get("run_id"))
                v._timestamp(rel, doc.get("generated_at"), "generated_at")
        csv_path = v.root / self.CSV
        if not csv_path.is_file():
            v.err("1", self.CSV, None, "required file missing")
            return
        jsonl_present = (v.root / self.JSONL).is_file()
        if not jsonl_present:
            v.warn(
                "10", self.JSONL, None, "classification JSONL missing (as in the reference runs)"
            )
        records = v._jsonl(self.JSONL) if jsonl_present else iter(())
        rows = 0
        jsonl_rows = 0
        with open(csv_path, encoding="utf-8", newline="") as fh:
            v.report.files += 1
            reader = csv.DictReader(fh)
            dims = [c for c in (reader.fieldnames or []) if c not in CSV_FIXED]
            for row in reader:
                rows += 1
                v.report.lines_read += 1
                number = rows + 1
                self._csv_row(row, dims, number)
                if jsonl_present:
                    item = next(records, None)
                    if item is None:
                        continue
                    jsonl_rows += 1
                    self._record(item[0], item[1], row)
            if jsonl_present:
                for _ in records:
                    jsonl_rows += 1
        if jsonl_present and jsonl_rows != rows:
            v.err("9.6-32", self.JSONL, None, f"{jsonl_rows} records != {rows} CSV rows")
        self._totals(index, manifest, rows)

    def _csv_row(self, row: dict[str, str], dims: list[str], number: int) -> None:
        v = self.v
        rel = self.CSV
        v._check_run_id(rel, row.get("run_id"), number)
        node_id = row.get("node_id", "")
        node = v.nodes.get(node_id)
        if node is None or node.temporal or not any(t == "trends_to" for _, t in node.children):
            v.err(
                "9.6-33",
                rel,
                number,
                f"node_id {node_id!r} is not an aggregate node with a trends_to child",
            )
            return
        filled = {d for d in dims if row.get(d)}
        if filled != set(node.dims):
            v.err(
                "9.6-32",
                rel,
                number,
                f"non-empty dimension columns {sorted(filled)} != node dimensions {sorted(node.dims)}",
            )
        signal = row.get("signal_type", "")
        if signal not in SIGNAL_TYPES:
            v.err("9.6-32", rel, number, f"unknown signal_type {signal!r}")
        try:
            severity = int(row.get("severity", ""))
            low, high = (
                int(row.get("severity_range_min", "")),
                int(row.get("severity_range_max", "")),
            )
        except ValueError:
            v.err("9.6-34", rel, number, "severity / severity_range are not integers")
            return
        self.types[signal] += 1
        self.severities.append(severity)
        if not low <= severity <= high:
            v.err(
                "9.6-34", rel, number, f"severity {severity} outside severity_range [{low}, {high}]"
            )
        known = self.ranges.setdefault(signal, (low, high))
        if known != (low, high):
            v.err(
                "9.6-34",
                rel,
                number,
                f"severity_range [{low}, {high}] of {signal} != [{known[0]}, {known[1]}] earlier in the run",
            )
        inputs = {
            "aggregate_zscore": _csv_num(row.get("aggregate_zscore")),
            "slope_percentile": _csv_num(row.get("slope_percentile")),
            "acceleration": _csv_num(row.get("acceleration")),
            "zscore_std": _csv_num(row.get("zscore_std")),
            "max_abs_deviation": _csv_num(row.get("max_abs_deviation")),
        }
        try:
            period_count = int(row.get("period_count", ""))
        except ValueError:
            period_count = -1
        suppressed = row.get("suppressed") == "True"
        key = tuple(row.get(d, "") for d in node.dims)
        twin_id = next((c for c, t in node.children if t == "trends_to"), None)
        twin = v.twin_store.get(twin_id, {}).get(key) if twin_id else None
        if twin_id in v.twin_store and twin is None:
            v.err("9.6-35", rel, number, f"entity {list(key)} not found in the twin {twin_id}")
        if twin is not None:
            for name, want in (
                ("aggregate_zscore", twin.mean_simple),
                ("slope_percentile", twin.slope_percentile),
                ("acceleration", twin.acceleration),
                ("zscore_std", twin.zscore_std),
                ("max_abs_deviation", twin.max_abs_deviation),
            ):
                if not _close(inputs[name], want):
                    v.err(
                        "9.6-35",
                        rel,
                        number,
                        f"{name} {_g(inputs[name])} != twin statistic {_g(want)}",
                    )
            if period_count != twin.period_count:
                v.err(
                    "9.6-35",
                    rel,
                    number,
                    f"period_count {period_count} != twin period_count {twin.period_count}",
                )
        agg = v.agg_store.get(node_id, {}).get(key)
        if agg is not None and agg.suppressed != suppressed:
            v.warn(
                "9.6-37",
                rel,
                number,
                f"suppressed {suppressed} != aggregate z methods suppressed {agg.suppressed}",
            )
        self._empirical(row, inputs, period_count, suppressed, number)

    def _empirical(
        self,
        row: dict[str, str],
        inputs: dict[str, float],
        period_count: int,
        suppressed: bool,
        number: int,
    ) -> None:
        v = self.v
        rel = self.CSV
        z = inputs["aggregate_zscore"]
        position = row.get("position")
        if not math.isnan(z):
            if z < -1.5:
                want = {"excellent"}
            elif z < -0.5:
                want = {"favorable"}
            elif z <= 0.5:
                want = {"normal"}
            elif z <= 1.0:
                want = {"marginal"}
            elif z <= 1.76:
                want = {"elevated"}
            else:
                want = {"elevated", "severe"}
            if position not in want:
                v.warn(
                    "9.6-36",
                    rel,
                    number,
                    f"position {position!r} but aggregate_zscore {_g(z)} (expected {'/'.join(sorted(want))})",
                )
        sp = inputs["slope_percentile"]
        trend = row.get("trend")
        if math.isnan(sp):
            want_t = {"stable"}
        elif sp < 10:
            want_t = {"rapidly_improving"}
        elif sp == 10:
            want_t = {"rapidly_improving", "improving"}
        elif sp < 30:
            want_t = {"improving"}
        elif sp == 30:
            want_t = {"improving", "stable"}
        elif sp < 70:
            want_t = {"stable"}
        elif sp == 70:
            want_t = {"stable", "worsening"}
        elif sp < 90:
            want_t = {"worsening"}
        elif sp == 90:
            want_t = {"worsening", "rapidly_worsening"}
        else:
            want_t = {"rapidly_worsening"}
        if trend not in want_t:
            v.warn("9.6-36", rel, number, f"trend {trend!r} but slope_percentile {_g(sp)}")
        acc = inputs["acceleration"]
        momentum = row.get("momentum")
        if math.isnan(acc) or abs(acc) < 0.0046:
            want_m = {"neutral"}
        elif acc > 0.0062:
            want_m = {"accelerating"}
        elif acc < -0.0062:
            want_m = {"decelerating"}
        else:
            want_m = {"neutral", "accelerating" if acc > 0 else "decelerating"}
        if momentum not in want_m:
            v.warn("9.6-36", rel, number, f"momentum {momentum!r} but acceleration {_g(acc)}")
        z_std = inputs["zscore_std"]
        if not math.isnan(z_std):
            want_c = "consistent" if z_std < 0.5 else "variable"
            if row.get("consistency") != want_c:
                v.warn(
                    "9.6-36",
                    rel,
                    number,
                    f"consistency {row.get('consistency')!r} but zscore_std {_g(z_std)}",
                )
        signal = row.get("signal_type")
        suspect = suppressed or 0 <= period_count < 3
        if (signal == "suspect_data") != suspect:
            v.warn(
                "9.6-36",
                rel,
                number,
                f"signal_type {signal!r} but suppressed={suppressed}, period_count={period_count}",
            )
        if signal == "suspect_data" and row.get("severity") != "50":
            v.warn("9.6-36", rel, number, f"suspect_data severity {row.get('severity')} != 50")
        if signal == "improving_leader" and not (
            trend in {"improving", "rapidly_improving"} and position in {"normal", "favorable"}
        ):
            v.warn(
                "9.6-36",
                rel,
                number,
                f"improving_leader with trend {trend!r}, position {position!r}",
            )
        if signal == "emerging_risk" and not (
            trend in {"worsening", "rapidly_worsening"} and position in {"normal", "marginal"}
        ):
            v.warn(
                "9.6-36", rel, number, f"emerging_risk with trend {trend!r}, position {position!r}"
            )

    def _record(self, number: int, rec: dict[str, Any] | None, row: dict[str, str]) -> None:
        v = self.v
        rel = self.JSONL
        if rec is None:
            return
        v._check_run_id(rel, rec.get("run_id"), number)
        node = v.nodes.get(row.get("node_id", ""))
        if rec.get("node_id") != row.get("node_id"):
            v.err(
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
                v.err("9.6-32", rel, number, f"entity_key {key} != CSV row {want}")
        for name in ("signal_type", "severity", "period_count", "suppressed"):
            got = rec.get(name)
            want_text = row.get(name)
            if str(got) != want_text:
                v.err("9.6-32", rel, number, f"{name} {got!r} != CSV row {want_text!r}")
        rng = rec.get("severity_range")
        if rng != [
            _csv_int(row.get("severity_range_min")),
            _csv_int(row.get("severity_range_max")),
        ]:
            v.err("9.6-32", rel, number, f"severity_range {rng} != CSV row")
        raw_inputs = rec.get("inputs")
        inputs: dict[str, Any] = raw_inputs if isinstance(raw_inputs, dict) else {}
        for name in (
            "aggregate_zscore",
            "slope_percentile",
            "acceleration",
            "zscore_std",
            "max_abs_deviation",
        ):
            if not _close(_f(inputs.get(name)), _csv_num(row.get(name))):
                v.err(
                    "9.6-32",
                    rel,
                    number,
                    f"inputs.{name} {_g(inputs.get(name))} != CSV row {row.get(name)!r}",
                )
        calc = rec.get("severity_calculation")
        if isinstance(calc, dict):
            final = calc.get("final_severity", calc.get("final"))
            if final is not None and final != rec.get("severity"):
                v.warn(
                    "9.6-34",
                    rel,
                    number,
                    f"severity_calculation final {final} != severity {rec.get('severity')}",
                )

    def _totals(self, index: Any, manifest: Any, rows: int) -> None:
        v = self.v
        for rel, doc in (
            (CLASSIFICATION_INDEX, index),
            (CLASSIFICATION_MANIFEST, manifest),
        ):
            if not isinstance(doc, dict):
                continue
            if doc.get("total_entities") != rows:
                v.err(
                    "9.6-32",
                    rel,
                    None,
                    f"total_entities {doc.get('total_entities')} != {rows} CSV rows",
                )
            dist = doc.get("signal_type_distribution") or {}
            if dict(dist) != dict(self.types):
                v.err(
                    "9.6-32",
                    rel,
                    None,
                    f"signal_type_distribution {dict(dist)} != CSV counts {dict(self.types)}",
                )
        if isinstance(index, dict) and self.severities:
            sev = index.get("severity_stats") or {}
            mean = sum(self.severities) / len(self.severities)
            if (
                sev.get("min") != min(self.severities)
                or sev.get("max") != max(self.severities)
                or not _close(_f(sev.get("mean")), mean)
            ):
                v.err(
                    "9.6-32",
                    CLASSIFICATION_INDEX,
                    None,
                    f"severity_stats {sev} != CSV min {min(self.severities)}, max {max(self.severities)}, mean {_g(mean)}",
                )
        expected = 0
        unknown: list[str] = []
        for nid, node in v.nodes.items():
            if node.temporal or not any(t == "trends_to" for _, t in node.children):
                continue
            if nid in v.entity_counts:
                expected += v.entity_counts[nid]
            elif nid in v.contrib_rows:
                expected += v.contrib_rows[nid]
            else:
                unknown.append(nid)
        if unknown:
            v.warn(
                "9.6-33",
                CLASSIFICATION_INDEX,
                None,
                f"cannot verify total_entities: no entity count for {', '.join(sorted(unknown))}",
            )
        elif expected != rows:
            v.err(
                "9.6-33",
                CLASSIFICATION_INDEX,
                None,
                f"{rows} classifications != {expected} entities of aggregate nodes with a trends_to child",
            )


def _csv_num(text: str | None) -> float:
    if text is None or text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def _csv_int(text: str | None) -> int | None:
    try:
        return int(text or "")
    except ValueError:
        return None


def validate_run(run_dir: Path) -> Report:
    """Validate one run folder; never raises for bad content (only for a missing folder)."""
    return RunValidator(run_dir).run()
