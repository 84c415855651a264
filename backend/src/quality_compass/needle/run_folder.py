"""Run folders: finding them and taking inventory of what they hold.

A run lives at ``<runs_root>/<graph_name>/<run_id>/``. The folder name is the run key
(``run_id``); manifests that disagree are reported, not trusted
(``docs/reference/needle_run_format.md`` §2.2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
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
    VALID_RUN_ID,
)
from quality_compass.needle.run_files import FileIdentity, inspect_run_path


class RunNotFound(QcError):
    exit_code = 2


class InvalidRunId(QcError):
    """A run folder whose name cannot be a run id."""

    exit_code = 2


def check_run_id(run_id: str) -> str:
    """``run_id`` when it is a valid run id, else ``InvalidRunId`` saying what is allowed."""
    if not VALID_RUN_ID.fullmatch(run_id):
        raise InvalidRunId(
            f"invalid run id {run_id!r} (the run folder's name): a run id is 1 to 128 ASCII "
            "letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(e.g. 20260115110810); rename the folder"
        )
    return run_id


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
    identity: FileIdentity | None = None  # the inspected regular file (needle/run_files.py)


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


def _relative_run_path(insight_graph_run: str) -> Path:
    """``GRAPH/RUN_ID`` as a path that stays under the runs root (no ``..``, not absolute)."""
    relative = Path(insight_graph_run.strip())
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise QcError(
            f"--insight-graph-run {insight_graph_run!r} must name GRAPH/RUN_ID under --runs-root "
            "(a relative path without '..')",
            exit_code=2,
        )
    return relative


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
        target = runs_root / _relative_run_path(insight_graph_run)
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


def _file(kind: str, path: Path, run_dir: Path, **extra: Any) -> RunFile | None:
    """The run file at ``path`` (None when absent); unsafe paths raise (needle/run_files.py)."""
    identity = inspect_run_path(path, run_dir)
    if identity is None:
        return None
    if not os.access(identity.real_path, os.R_OK):
        raise QcError(f"cannot read {path.relative_to(run_dir).as_posix()}: permission denied")
    return RunFile(
        kind=kind,
        path=path,
        rel=path.relative_to(run_dir).as_posix(),
        size=identity.size,
        identity=identity,
        **extra,
    )


def _data_files(folder: Path, run_dir: Path, suffix: str) -> list[RunFile]:
    """Every ``*<suffix>`` entry of a folder as a run file, sorted; unsafe entries raise.

    An entry with the suffix that is not a regular file inside the run folder (a FIFO, a
    folder, a link leading outside or nowhere) is an error, never silently skipped.
    """
    if not folder.is_dir():
        return []
    found: list[RunFile] = []
    for entry in sorted(folder.iterdir()):
        if entry.suffix != suffix:
            continue
        run_file = _file("", entry, run_dir)
        if run_file is not None:
            found.append(run_file)
    return found


def inventory(run_dir: Path) -> RunInventory:
    """List the files of a run folder that the loader reads, and what is missing."""
    run_dir = run_dir.resolve()
    found = RunInventory(
        run_dir=run_dir, run_id=check_run_id(run_dir.name), graph_name=run_dir.parent.name
    )
    _add_documents(found)
    _name_graph(found)
    _add_node_files(found, run_dir / NODES_DIR)
    _add_contribution_files(found)
    _add_classification_file(found)
    return found


def _add_documents(found: RunInventory) -> None:
    for document_type, rel in DOCUMENTS.items():
        document = _file(
            "document", found.run_dir / rel, found.run_dir, document_type=document_type
        )
        if document is not None:
            found.files.append(document)
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
    jsonl = _data_files(nodes_dir, run_dir, ".jsonl")
    legacy = _data_files(nodes_dir, run_dir, ".json")
    if jsonl:
        found.files.extend(replace(f, kind="node") for f in jsonl)
    else:
        if not legacy:
            raise QcError(
                f"{NODES_DIR}/ in {run_dir} holds no node result files (*.jsonl or legacy *.json)"
            )
        found.files.extend(replace(f, kind="legacy_node") for f in legacy)
        found.warnings.append(
            f"{NODES_DIR}/: legacy unsharded layout (*.json with embedded entity_results)"
        )
    present = {f.path.stem for f in jsonl + legacy}
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
    present = _data_files(contribution_dir, run_dir, ".jsonl")
    for run_file in present:
        rows = declared.get(run_file.path.name)
        found.files.append(
            replace(
                run_file,
                kind="contribution",
                expected_rows=rows if rows and rows >= 0 else None,
            )
        )
    missing = sorted(set(declared) - {f.path.name for f in present})
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
    jsonl = _file("classification_jsonl", run_dir / CLASSIFICATION_JSONL, run_dir)
    csv = _file("classification_csv", run_dir / CLASSIFICATION_CSV, run_dir)
    if jsonl is not None:
        found.files.append(replace(jsonl, expected_rows=total))
    elif csv is not None:
        found.files.append(replace(csv, expected_rows=total))
        found.warnings.append(
            f"{CLASSIFICATION_JSONL}: missing; classifications loaded from classification_summary.csv "
            "(no reasoning, severity calculation or tiers)"
        )
    else:
        found.warnings.append(
            f"{CLASSIFICATION_JSONL} and classification_summary.csv: missing (no classifications)"
        )
