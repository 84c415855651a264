"""Where things live: the checkout's folders that ``qc`` reads and writes."""

from __future__ import annotations

import os
from pathlib import Path


def backend_dir() -> Path:
    """The ``backend/`` folder of the checkout (holds pyproject.toml and dbt/)."""
    env = os.environ.get("QC_BACKEND_DIR")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "dbt").is_dir():
            return parent
    # Installed outside a checkout: fall back to the working directory.
    return Path.cwd()


def dbt_project_dir() -> Path:
    return backend_dir() / "dbt"


def qc_home() -> Path:
    """State owned by ``qc`` (embedded server data, caches). Git-ignored."""
    env = os.environ.get("QC_HOME")
    if env:
        return Path(env).resolve()
    return backend_dir() / ".qc"


def sample_runs_dir() -> Path:
    """Real Project Needle runs bundled with the product (used by ``qc demo`` and tests)."""
    return backend_dir() / "sample_runs"


def write_cache_marker(root: Path, run_dirs: list[Path]) -> None:
    """Mark a generated cache folder complete: its run folders, relative to ``root`` (so the
    cache survives a move of the checkout or of ``QC_HOME``)."""
    (root / ".complete").write_text(
        "".join(f"{run_dir.relative_to(root)}\n" for run_dir in run_dirs)
    )


def read_cache_marker(root: Path) -> list[Path] | None:
    """The run folders of a complete cache, or None when it must be (re)generated: no marker,
    or a run folder that is no longer there."""
    marker = root / ".complete"
    if not marker.is_file():
        return None
    run_dirs = [root / line for line in marker.read_text().splitlines() if line]
    return run_dirs if run_dirs and all(run_dir.is_dir() for run_dir in run_dirs) else None
