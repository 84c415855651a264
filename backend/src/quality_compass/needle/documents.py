"""Reading a run's small JSON documents (§4) and the facts the loader takes from them.

Every reader here is lenient: a missing or unreadable document gives None (the loader
reports it elsewhere), because these facts are provenance, never required to load.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from quality_compass.needle.conventions import BOM, parse_timestamp
from quality_compass.needle.layout import METADATA_BUNDLE, RUN_MANIFEST
from quality_compass.needle.run_files import open_regular


def read_json_document(path: Path) -> Any:
    """Parse a small metadata document; None when absent or unparsable (the load reports it).

    Anything that is not a regular file (a FIFO, a device) raises ``UnsafeRunFile`` instead
    of being read: it could block forever or never end.
    """
    try:
        with open_regular(path) as handle:
            return orjson.loads(handle.read().removeprefix(BOM))
    except (OSError, orjson.JSONDecodeError):
        return None


def run_started_at(run_dir: Path) -> datetime | None:
    """``run_manifest.started_at``, parsed leniently."""
    manifest = read_json_document(run_dir / RUN_MANIFEST)
    started = manifest.get("started_at") if isinstance(manifest, dict) else None
    return parse_timestamp(started.strip()) if isinstance(started, str) else None


def taxonomy_bundle(run_dir: Path) -> dict[str, Any]:
    """``metadata_bundle.json`` as an object ({} when absent or not an object)."""
    bundle = read_json_document(run_dir / METADATA_BUNDLE)
    return bundle if isinstance(bundle, dict) else {}


def taxonomy_dimensions(run_dir: Path) -> set[str] | None:
    """Group-by type ids of the run's taxonomy (metadata_bundle.json), if readable."""
    types = taxonomy_bundle(run_dir).get("group_by_types")
    ids = {t["id"] for t in types or [] if isinstance(t, dict) and isinstance(t.get("id"), str)}
    return ids or None


def taxonomy_hash(run_dir: Path) -> str | None:
    value = taxonomy_bundle(run_dir).get("taxonomy_hash")
    return str(value) if value is not None else None
