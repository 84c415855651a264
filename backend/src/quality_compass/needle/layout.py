"""Where things sit in a run folder (§1): ``<runs_root>/<graph_name>/<run_id>/...``.

Paths are relative to the run folder, with forward slashes, as the loader stores them in
``file_path`` and as the validator names files in its messages.
"""

from __future__ import annotations

import re

#: A run folder's name: its run id, ``YYYYMMDDHHMMSS`` (§2.2).
RUN_ID_PATTERN = re.compile(r"^\d{14}$")
#: What the loader accepts as a run id (the folder name): the format treats the id as an
#: opaque key (§2.2), so any short ASCII name of letters, digits, '.', '_' and '-' that
#: starts with a letter or digit. It never holds a quote, a backslash, a space, a slash or
#: a control character, so it is safe in file names, SQL literals and terminal output.
VALID_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

RUN_MANIFEST = "run_manifest.json"
RUN_MANIFEST_SEMANTIC = "run_manifest.semantic.json"
METADATA_BUNDLE = "metadata_bundle.json"
GRAPH = "graph.json"

RESULTS_INDEX = "results/index.json"
NODES_DIR = "results/nodes"

CONTRIBUTION_DIR = "analysis/contribution"
CONTRIBUTION_INDEX = f"{CONTRIBUTION_DIR}/index.json"
CONTRIBUTION_RUN_ARGS = f"{CONTRIBUTION_DIR}/manifests/cli/run_args.json"

CLASSIFICATION_DIR = "analysis/classification"
CLASSIFICATION_INDEX = f"{CLASSIFICATION_DIR}/index.json"
CLASSIFICATION_MANIFEST = f"{CLASSIFICATION_DIR}/manifest.json"
CLASSIFICATION_JSONL = f"{CLASSIFICATION_DIR}/classifications.jsonl"
CLASSIFICATION_CSV = f"{CLASSIFICATION_DIR}/classification_summary.csv"

#: Graph source YAML (§4.5): one file per node and per edge.
NODE_YAML_DIR = "nodes"
NODE_YAML_GLOB = "nodes/*/base/*/*.yaml"
EDGE_YAML_GLOB = "edges/*/base/*/*.yaml"

#: document_type (as stored in ``raw_run_documents``) -> path.
DOCUMENTS: dict[str, str] = {
    "run_manifest": RUN_MANIFEST,
    "run_manifest_semantic": RUN_MANIFEST_SEMANTIC,
    "metadata_bundle": METADATA_BUNDLE,
    "graph": GRAPH,
    "results_index": RESULTS_INDEX,
    "classification_index": CLASSIFICATION_INDEX,
    "classification_manifest": CLASSIFICATION_MANIFEST,
    "contribution_index": CONTRIBUTION_INDEX,
    "contribution_run_args": CONTRIBUTION_RUN_ARGS,
}
#: Documents every producer writes; their absence is worth a warning.
EXPECTED_DOCUMENTS = (
    "run_manifest",
    "run_manifest_semantic",
    "metadata_bundle",
    "graph",
    "results_index",
    "classification_index",
    "contribution_index",
)


def node_result_path(canonical_node_id: str) -> str:
    """``results/nodes/<canonical_node_id>.jsonl`` (§5.2)."""
    return f"{NODES_DIR}/{canonical_node_id}.jsonl"


def contribution_file_name(child_node_id: str, metric: str) -> str:
    """``<child_node_id>.<metric>.jsonl`` (§6.3), inside ``analysis/contribution/``."""
    return f"{child_node_id}.{metric}.jsonl"


def contribution_path(file_name: str) -> str:
    return f"{CONTRIBUTION_DIR}/{file_name}"


def split_contribution_name(file_name: str) -> tuple[str, str]:
    """``<child_node_id>.<metric>.jsonl`` -> (child_node_id, metric)."""
    stem = file_name.removesuffix(".jsonl")
    child, _, metric = stem.rpartition(".")
    return (child, metric) if child else (stem, "")
