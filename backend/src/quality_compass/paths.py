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
