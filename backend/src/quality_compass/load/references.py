"""What one line may say about the others: entity keys, uniqueness and references in a run.

staging's data tests of severity ``error`` hold keys to be unique (one entity per node,
one classification per entity and metric, one contribution per parent-child pair, one
statistics record per method) and references to exist (a classification's or a
contribution's node in ``graph.json``; its entity among the node's entity lines when that
node file is loaded; an edge's end points among the graph's nodes). The loader checks them
while it streams the run, so a line that would fail such a test is refused with its
file and line.

Entity keys follow ``macros/entity_keys.sql``: the entity as ``{dimension: value as text}``
(one value per dimension, the last one wins as in ``jsonb_object_agg``) without the
display-only dimensions (``NON_KEY_DIMENSIONS``, dbt var ``non_key_dimensions``). The node
file's ``[{id, value}]`` array and the ``{id: value}`` objects of classifications and
contributions give the same key for the same entity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from quality_compass.load.contract_checks import violation_text
from quality_compass.load.contract_fast import CONTRACT
from quality_compass.needle.vocabulary import FACILITY_DIM

#: dbt var ``non_key_dimensions``: carried along for display, not part of an entity key.
NON_KEY_DIMENSIONS = frozenset({"systemName"})

EntityKey = tuple[tuple[str, str | None], ...]


def as_text(value: Any) -> str | None:
    """A JSON value as ``->>`` / ``jsonb_each_text`` render it (containers: any stable text)."""
    if type(value) is str or value is None:  # the common case first
        return value
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return repr(value)


def key_of_pairs(pairs: Iterable[tuple[str, Any]]) -> EntityKey:
    """The entity key of ``(dimension, value)`` pairs (later pairs win, as in SQL)."""
    canonical = {dimension: as_text(value) for dimension, value in pairs}
    return tuple(sorted(item for item in canonical.items() if item[0] not in NON_KEY_DIMENSIONS))


def key_of_array(entity: list[dict[str, Any]]) -> EntityKey:
    """The key of a node line's ``entity`` array (elements already checked to be objects)."""
    return key_of_pairs((element["id"], element.get("value")) for element in entity)


def key_of_object(entity: dict[str, Any]) -> EntityKey:
    """The key of a ``{dimension: value}`` entity object."""
    return key_of_pairs(entity.items())


def facility_reason(key: EntityKey, where: str) -> str | None:
    """The facility dimension must have a value: every fact is about one facility (§2.5)."""
    for dimension, value in key:
        if dimension == FACILITY_DIM:
            return None if value is not None else f"{where}: {FACILITY_DIM} must not be null"
    return f"{where}: the entity has no {FACILITY_DIM} (every entity names its facility)"


def show_key(key: EntityKey) -> str:
    return ", ".join(f"{dimension}={value}" for dimension, value in key) or "{}"


class DependentReason(str):
    """The reason a line cannot load because a line it refers to was rejected.

    Such a line is not a reject of its own (it is not counted, so one bad entity line does
    not turn into a reject per classification of that entity): it is left out of the load
    and summed up in a warning.
    """


@dataclass
class NodeKeys:
    """The entity keys of one loaded node file."""

    accepted: set[int] = field(default_factory=set)
    #: Some line of the file was rejected (or the file is short): which entity it was meant
    #: to hold is unknowable, so a reference to an unknown entity of this node depends on it.
    incomplete: bool = False


@dataclass
class RunReferences:
    """Keys seen so far in one run, and the references later lines are checked against."""

    #: Node ids of graph.json (None: no readable graph.json, node references unchecked).
    graph_nodes: frozenset[str] | None = None
    #: Entity keys of every node file loaded so far (node id -> its keys).
    entities: dict[str, NodeKeys] = field(default_factory=dict)
    classifications: set[int] = field(default_factory=set)
    contributions: set[int] = field(default_factory=set)

    @classmethod
    def from_graph(cls, graph: Any) -> RunReferences:
        nodes = graph.get("nodes") if isinstance(graph, dict) else None
        if not isinstance(nodes, list):
            return cls()
        return cls(
            graph_nodes=frozenset(
                node["id"]
                for node in nodes
                if isinstance(node, dict) and isinstance(node.get("id"), str)
            )
        )

    def node_reason(self, node_id: str, field_name: str) -> str | None:
        """A node a line names must be a node of graph.json."""
        if self.graph_nodes is None or node_id in self.graph_nodes:
            return None
        return f'{field_name}: node "{node_id}" is not a node of graph.json'

    def entity_reason(self, node_id: str, key: EntityKey, field_name: str) -> str | None:
        """An entity a line names must be an entity of that node, when its file is loaded."""
        known = self.entities.get(node_id)
        hashed = hash(key)
        if known is None or hashed in known.accepted:
            return None
        if known.incomplete:
            return DependentReason(
                f"{field_name}: entity {show_key(key)} of node {node_id} is not among its "
                "loaded lines, and lines of that node were rejected"
            )
        return (
            f"{field_name}: entity {show_key(key)} is not an entity of node "
            f'"{node_id}" (results/nodes/{node_id}.jsonl)'
        )

    def node_file(self, node_id: str) -> NodeKeys:
        """The keys of a node file being read (created empty)."""
        return self.entities.setdefault(node_id, NodeKeys())


# -- the checks the scanner calls (after a line passed its own checks) ----------------------


def new_entity_reason(obj: dict[str, Any], keys: NodeKeys) -> str | None:
    """An entity line: it names its facility, and its key is new in the node file."""
    key = key_of_array(obj["entity"])
    reason = facility_reason(key, "entity")
    if reason:
        return reason
    hashed = hash(key)
    if hashed in keys.accepted:
        return f"duplicate entity key {show_key(key)}"
    keys.accepted.add(hashed)
    return None


def _child_entity(obj: dict[str, Any]) -> dict[str, Any]:
    """``coalesce(nullif(child_entity, '{}'), dataset_row_locator -> 'key')`` of staging."""
    child = obj.get("child_entity")
    if type(child) is dict and child:
        return child
    locator = obj.get("dataset_row_locator")
    located = locator.get("key") if type(locator) is dict else None
    return located if type(located) is dict else {}


def contribution_references(obj: dict[str, Any], references: RunReferences) -> str | None:
    """A contribution's nodes are graph nodes, its entities exist, its key is new."""
    parent_node, child_node = obj["parent_node_id"], obj["child_node_id"]
    parent = key_of_object(obj["parent_entity"])
    child = key_of_object(_child_entity(obj))
    reason = (
        references.node_reason(parent_node, "parent_node_id")
        or references.node_reason(child_node, "child_node_id")
        or facility_reason(parent, "parent_entity")
        or references.entity_reason(parent_node, parent, "parent_entity")
        or references.entity_reason(child_node, child, "child_entity")
    )
    if reason:
        return reason
    hashed = hash((parent_node, parent, child_node, child, obj["metric_id"]))
    if hashed in references.contributions:
        return (
            f"a second contribution of child entity {show_key(child)} to parent entity "
            f"{show_key(parent)} of {parent_node} for {obj['metric_id']}"
        )
    references.contributions.add(hashed)
    return None


def classification_references(obj: dict[str, Any], references: RunReferences) -> str | None:
    """A classification's node is a graph node, its entity exists, its key is new."""
    node_id = obj["node_id"]
    key = key_of_object(obj["entity_key"])
    reason = (
        references.node_reason(node_id, "node_id")
        or facility_reason(key, "entity_key")
        or references.entity_reason(node_id, key, "entity_key")
    )
    if reason:
        return reason
    hashed = hash((node_id, key, obj["metric_id"]))
    if hashed in references.classifications:
        return (
            f"a second classification of entity {show_key(key)} of {node_id} for {obj['metric_id']}"
        )
    references.classifications.add(hashed)
    return None


def document_reason(document_type: str | None, document: dict[str, Any]) -> str | None:
    """A document staging reads field by field keeps the contract; graph edges join nodes."""
    checker = CONTRACT.documents.get(document_type or "")
    reason = violation_text(checker(document)) if checker else None
    if reason or document_type != "graph":
        return reason
    return _graph_edges_reason(document)


def _graph_edges_reason(graph: dict[str, Any]) -> str | None:
    """Every edge joins two nodes of the graph, and no edge is listed twice."""
    listed, edges = graph.get("nodes"), graph.get("edges")
    nodes = {node["id"] for node in listed} if type(listed) is list else set()
    seen: set[tuple[str, str, str]] = set()
    for index, edge in enumerate(edges if type(edges) is list else []):
        for end in ("source", "target"):
            if edge[end] not in nodes:
                return f'edges[{index}].{end}: node "{edge[end]}" is not in nodes[]'
        key = (edge["source"], edge["target"], edge["type"])
        if key in seen:
            return f"edges[{index}]: a second {edge['type']} edge from {key[0]} to {key[1]}"
        seen.add(key)
    return None
