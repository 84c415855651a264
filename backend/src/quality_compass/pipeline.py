"""End-to-end jobs: ``qc demo`` and ``qc pipeline``."""

from __future__ import annotations

from rich.console import Console

from quality_compass.db import ping, resolve_settings
from quality_compass.dbt_runner import run_dbt


def run_demo(console: Console) -> None:
    """Start the database and build the dbt project on it."""
    settings = resolve_settings()
    ping(settings)
    console.print(f"[bold]database[/]: {settings.database} at {settings.where}")
    run_dbt(["debug"], settings)
    run_dbt(["build"], settings)
