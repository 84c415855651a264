"""The taxonomy a generated run is built from (the bundled ``metadata_bundle.json``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from quality_compass.needle.vocabulary import FACILITY_DIM
from quality_compass.synth.generate.options import GenerateError


@dataclass
class Taxonomy:
    bundle: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    dim_codes: dict[str, list[str]]
    sets: dict[str, list[str]]
    edge_types: set[str]

    @classmethod
    def load(cls) -> Taxonomy:
        text = resources.files("quality_compass").joinpath("data/metadata_bundle.json").read_text()
        bundle = json.loads(text)
        return cls(
            bundle=bundle,
            metrics={m["metric_id"]: m for m in bundle["metrics"]},
            dim_codes={
                g["id"]: [v["code"] for v in g["allowed_values"]] for g in bundle["group_by_types"]
            },
            sets={s["id"]: list(s["allowed_dimensions"][0]) for s in bundle["group_by_sets"]},
            edge_types={e["id"] for e in bundle["edge_types"]},
        )

    def metric_ids(self, count: int) -> list[str]:
        """The first ``count`` taxonomy metrics, ``losIndex`` first (the real runs' metric)."""
        ordered = sorted(self.metrics, key=lambda m: (m != "losIndex", m))
        if not 1 <= count <= len(ordered):
            raise GenerateError(f"--metrics must be between 1 and {len(ordered)}, got {count}")
        return ordered[:count]

    def snapshot(self, generated_at: str) -> dict[str, Any]:
        """The metadata bundle of a run, with a content hash like the engine's."""
        body = {k: v for k, v in self.bundle.items() if k not in {"generated_at", "taxonomy_hash"}}
        digest = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()[:16]
        out: dict[str, Any] = {
            "version": self.bundle["version"],
            "generated_at": generated_at,
            "taxonomy_hash": digest,
        }
        out.update({k: v for k, v in body.items() if k != "version"})
        return out


def resolve_sets(taxonomy: Taxonomy, requested: Iterable[str]) -> list[str]:
    """Validate group-by set ids; ``facility_base`` is always included (it is the root)."""
    chosen = ["facility_base"]
    for raw in requested:
        set_id = raw.strip()
        if not set_id or set_id in chosen:
            continue
        if set_id not in taxonomy.sets:
            known = ", ".join(sorted(taxonomy.sets))
            raise GenerateError(f"unknown group-by set {set_id!r}; the taxonomy has: {known}")
        dims = taxonomy.sets[set_id]
        if dims[0] != FACILITY_DIM or any(not taxonomy.dim_codes.get(d) for d in dims[1:]):
            raise GenerateError(
                f"group-by set {set_id!r} needs dimensions with allowed values; {dims} has none"
            )
        if len(dims) > 3:
            raise GenerateError(f"group-by set {set_id!r} has more than 3 dimensions")
        chosen.append(set_id)
    return chosen
