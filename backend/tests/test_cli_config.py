"""Configuration errors and the CLI surface: one clear line, a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from quality_compass import __version__
from quality_compass.errors import ConfigError
from quality_compass.warehouse.settings import external_settings


def _qc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DBT_POSTGRES_")}
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "quality_compass", *args],
        capture_output=True,
        text=True,
        env=base,
        timeout=120,
    )


def test_version() -> None:
    result = _qc("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"qc (quality-compass) {__version__}"


@pytest.mark.parametrize(
    "command",
    [[], ["db"], ["demo"], ["db", "start"], ["db", "stop"], ["db", "status"], ["db", "env"]],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = _qc(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: qc" in result.stdout


def test_bad_port_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="DBT_POSTGRES_PORT must be an integer, got 'abc'"):
        external_settings({"DBT_POSTGRES_HOST": "db.example", "DBT_POSTGRES_PORT": "abc"})
    result = _qc("db", "env", env={"DBT_POSTGRES_HOST": "db.example", "DBT_POSTGRES_PORT": "abc"})
    assert result.returncode == 2
    assert result.stderr.strip() == "error: DBT_POSTGRES_PORT must be an integer, got 'abc'"


def test_external_settings_defaults() -> None:
    assert external_settings({}) is None
    settings = external_settings({"DBT_POSTGRES_HOST": "db.example"})
    assert settings is not None
    assert (settings.host, settings.port, settings.user, settings.database) == (
        "db.example",
        5432,
        "postgres",
        "quality_compass",
    )
    assert settings.dbt_env()["DBT_POSTGRES_DATABASE"] == "quality_compass"


def test_unreachable_external_server_names_host_and_port() -> None:
    # Port 1 on loopback refuses connections at once.
    result = _qc("demo", env={"DBT_POSTGRES_HOST": "127.0.0.1", "DBT_POSTGRES_PORT": "1"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "error: cannot connect to PostgreSQL at 127.0.0.1:1 (database 'quality_compass'"
    )
    assert "Traceback" not in result.stderr
