"""Run folders: finding them and taking inventory of what they hold.

A run lives at ``<runs_root>/<graph_name>/<run_id>/``. The folder name is the run key
(``run_id``); manifests that disagree are reported, not trusted
(``docs/reference/needle_run_format.md`` §2.2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quality_compass.errors import QcError
from quality_compass.needle.documents import read_json_document
from quality_compass.needle.layout import (
    CLASSIFICATION_CSV,
    CLASSIFICATION_JSONL,
    CONTRIBUTION_DIR,
    DOCUMENTS,
    EXPECTED_DOCUMENTS,
    NODES_DIR,
    RUN_ID_PATTERN,
)


class RunNotFound(QcError):
    exit_code = 2


@dataclass(frozen=True)
class RunFile:
    """One file the loader reads."""

    kind: str  # node | legacy_node | contribution | classification_jsonl | classification_csv | document
    path: Path
    rel: str
    size: int
    document_type: str | None = None
    expected_rows: int | None = (
        None  # declared by an index (contribution row_count, classification total)
    )


@dataclass
class RunInventory:
    run_dir: Path
    run_id: str
    graph_name: str
    files: list[RunFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def of_kind(self, *kinds: str) -> list[RunFile]:
        return [f for f in self.files if f.kind in kinds]


def _is_run_folder(path: Path) -> bool:
    return (path / NODES_DIR).is_dir()


def find_latest(graph_dir: Path) -> Path:
    """The newest run under a graph folder: the greatest 14-digit folder with results/nodes/.

    Folders with other names count only when no 14-digit one exists.
    """
    if not graph_dir.is_dir():
        raise RunNotFound(f"graph folder not found: {graph_dir}")
    candidates = [p for p in graph_dir.iterdir() if p.is_dir() and _is_run_folder(p)]
    if not candidates:
        raise RunNotFound(f"no run folder (a folder containing {NODES_DIR}/) under {graph_dir}")
    standard = [p for p in candidates if RUN_ID_PATTERN.match(p.name)]
    return max(standard or candidates, key=lambda p: p.name)


def resolve_run_dir(
    run_dir: Path | None,
    runs_root: Path | None = None,
    insight_graph_run: str | None = None,
    latest: bool = False,
) -> Path:
    """Turn the CLI's ways of naming a run into one run folder.

    * ``RUN_DIR`` — the run folder itself (with ``latest``: a graph folder).
    * ``--runs-root ROOT --insight-graph-run GRAPH/RUN_ID`` (env ``RUNS_ROOT``,
      ``INSIGHT_GRAPH_RUN``), the seed's form; with ``latest`` the value may be just GRAPH.
    """
    if run_dir is None:
        runs_root = runs_root or (
            Path(os.environ["RUNS_ROOT"]) if os.environ.get("RUNS_ROOT") else None
        )
        insight_graph_run = insight_graph_run or os.environ.get("INSIGHT_GRAPH_RUN")
        if runs_root is None or not insight_graph_run:
            raise QcError(
                "name a run: `qc load RUN_DIR`, or `--runs-root ROOT --insight-graph-run GRAPH/RUN_ID` "
                "(or the RUNS_ROOT and INSIGHT_GRAPH_RUN variables)",
                exit_code=2,
            )
        target = runs_root / insight_graph_run.strip("/")
        if latest:
            graph_dir = target if not _is_run_folder(target) else target.parent
            return find_latest(graph_dir)
        run_dir = target
    elif latest:
        return find_latest(run_dir)
    if not run_dir.exists():
        raise RunNotFound(f"run folder not found: {run_dir}")
    if not run_dir.is_dir():
        raise RunNotFound(f"not a folder: {run_dir}")
    if not (run_dir / NODES_DIR).is_dir():
        raise RunNotFound(f"not a Project Needle run: {run_dir} has no {NODES_DIR}/ folder")
    return run_dir


def _file(kind: str, path: Path, run_dir: Path, **extra: Any) -> RunFile:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise QcError(f"cannot read {path}: {exc.strerror}") from None
    if not os.access(path, os.R_OK):
        raise QcError(f"cannot read {path}: permission denied")
    return RunFile(
        kind=kind, path=path, rel=path.relative_to(run_dir).as_posix(), size=size, **extra
    )


def _refuse_unreadable(folder: Path, run_dir: Path) -> None:
    """A data file that exists but cannot be opened (broken link, not a regular file) is an error."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.suffix in (".jsonl", ".json") and not entry.is_file():
            reason = "broken symbolic link" if entry.is_symlink() else "not a regular file"
            raise QcError(f"cannot read {entry.relative_to(run_dir).as_posix()}: {reason}")


def inventory(run_dir: Path) -> RunInventory:
    """List the files of a run folder that the loader reads, and what is missing."""
    run_dir = run_dir.resolve()
    found = RunInventory(run_dir=run_dir, run_id=run_dir.name, graph_name=run_dir.parent.name)
    _add_documents(found)
    _name_graph(found)
    nodes_dir = run_dir / NODES_DIR
    _refuse_unreadable(nodes_dir, run_dir)
    _refuse_unreadable(run_dir / CONTRIBUTION_DIR, run_dir)
    _add_node_files(found, nodes_dir)
    _add_contribution_files(found)
    _add_classification_file(found)
    return found


def _add_documents(found: RunInventory) -> None:
    for document_type, rel in DOCUMENTS.items():
        path = found.run_dir / rel
        if path.is_file():
            found.files.append(_file("document", path, found.run_dir, document_type=document_type))
        elif document_type in EXPECTED_DOCUMENTS:
            found.warnings.append(f"{rel}: missing (document not loaded)")


def _name_graph(found: RunInventory) -> None:
    """The graph name from the manifests (else the parent folder); check the manifest's run id."""
    semantic = read_json_document(found.run_dir / DOCUMENTS["run_manifest_semantic"])
    manifest = read_json_document(found.run_dir / DOCUMENTS["run_manifest"])
    for doc, key in ((semantic, "graph_name"), (manifest, "run_label")):
        if isinstance(doc, dict) and isinstance(doc.get(key), str) and doc[key]:
            found.graph_name = doc[key]
            break
    if isinstance(manifest, dict) and manifest.get("run_id") not in (None, found.run_id):
        found.warnings.append(
            f"run_manifest.json: run_id {manifest.get('run_id')!r} differs from the folder name; "
            f"the folder name {found.run_id!r} is used as the run key"
        )


def _add_node_files(found: RunInventory, nodes_dir: Path) -> None:
    """Node results: sharded JSONL, or the legacy unsharded JSON when there is no JSONL."""
    run_dir = found.run_dir
    jsonl = sorted(p for p in nodes_dir.iterdir() if p.is_file() and p.suffix == ".jsonl")
    if jsonl:
        found.files.extend(_file("node", p, run_dir) for p in jsonl)
    else:
        legacy = sorted(p for p in nodes_dir.iterdir() if p.is_file() and p.suffix == ".json")
        if not legacy:
            raise QcError(
                f"{NODES_DIR}/ in {run_dir} holds no node result files (*.jsonl or legacy *.json)"
            )
        found.files.extend(_file("legacy_node", p, run_dir) for p in legacy)
        found.warnings.append(
            f"{NODES_DIR}/: legacy unsharded layout (*.json with embedded entity_results)"
        )
    present = {p.stem for p in nodes_dir.iterdir() if p.is_file()}
    index = read_json_document(run_dir / DOCUMENTS["results_index"])
    if isinstance(index, dict) and isinstance(index.get("nodes"), list):
        for node in index["nodes"]:
            if not isinstance(node, dict):
                continue
            node_id = node.get("canonical_node_id") or node.get("node_id")
            if isinstance(node_id, str) and node_id not in present:
                found.warnings.append(
                    f"{NODES_DIR}/{node_id}.jsonl: listed in results/index.json but missing (node not loaded)"
                )


def _declared_contribution_rows(run_dir: Path) -> dict[str, int]:
    """File name -> row_count declared by the contribution index (-1: not an integer)."""
    declared: dict[str, int] = {}
    contribution_index = read_json_document(run_dir / DOCUMENTS["contribution_index"])
    if isinstance(contribution_index, dict) and isinstance(contribution_index.get("parents"), list):
        for parent in contribution_index["parents"]:
            artifacts = parent.get("metric_artifacts") if isinstance(parent, dict) else None
            for artifact in artifacts if isinstance(artifacts, list) else []:
                if isinstance(artifact, dict) and isinstance(artifact.get("artifact_path"), str):
                    name = Path(artifact["artifact_path"]).name
                    rows = artifact.get("row_count")
                    declared[name] = (
                        rows if isinstance(rows, int) and not isinstance(rows, bool) else -1
                    )
    return declared


def _add_contribution_files(found: RunInventory) -> None:
    """Contributions: every *.jsonl at the top of analysis/contribution/."""
    run_dir = found.run_dir
    contribution_dir = run_dir / CONTRIBUTION_DIR
    declared = _declared_contribution_rows(run_dir)
    present = (
        sorted(p for p in contribution_dir.iterdir() if p.is_file() and p.suffix == ".jsonl")
        if contribution_dir.is_dir()
        else []
    )
    for path in present:
        rows = declared.get(path.name)
        found.files.append(
            _file("contribution", path, run_dir, expected_rows=rows if rows and rows >= 0 else None)
        )
    missing = sorted(set(declared) - {p.name for p in present})
    if missing:
        found.warnings.append(
            f"{CONTRIBUTION_DIR}/: {len(missing)} contribution file(s) listed in index.json are missing "
            f"(e.g. {missing[0]}); contributions of those not loaded"
        )


def _add_classification_file(found: RunInventory) -> None:
    """Classifications: the JSONL, else the CSV summary mapped to the same shape."""
    run_dir = found.run_dir
    class_index = read_json_document(run_dir / DOCUMENTS["classification_index"])
    total = class_index.get("total_entities") if isinstance(class_index, dict) else None
    total = total if isinstance(total, int) and not isinstance(total, bool) else None
    jsonl_path = run_dir / CLASSIFICATION_JSONL
    csv_path = run_dir / CLASSIFICATION_CSV
    if jsonl_path.is_file():
        found.files.append(_file("classification_jsonl", jsonl_path, run_dir, expected_rows=total))
    elif csv_path.is_file():
        found.files.append(_file("classification_csv", csv_path, run_dir, expected_rows=total))
        found.warnings.append(
            f"{CLASSIFICATION_JSONL}: missing; classifications loaded from classification_summary.csv "
            "(no reasoning, severity calculation or tiers)"
        )
    else:
        found.warnings.append(
            f"{CLASSIFICATION_JSONL} and classification_summary.csv: missing (no classifications)"
        )
