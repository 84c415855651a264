"""The embedded PostgreSQL lifecycle, on a private data directory per test module."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from quality_compass.errors import EmbeddedServerError
from quality_compass.warehouse.embedded import EmbeddedPostgres

pytestmark = pytest.mark.server  # starts servers of its own: not in the fast subset


@pytest.fixture(scope="module")
def server(server_homes: Callable[[str], Path]) -> Iterator[EmbeddedPostgres]:
    instance = EmbeddedPostgres(server_homes("lifecycle"))
    yield instance
    instance.stop()


def _qc(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_POSTGRES_")}
    env["QC_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "quality_compass", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )


def _ping(server: EmbeddedPostgres, database: str = "quality_compass") -> int:
    with psycopg.connect(server.settings(database).conninfo()) as conn:
        row = conn.execute("select pg_backend_pid()").fetchone()
        assert row is not None
        return int(row[0])


def test_start_initialises_and_creates_database(server: EmbeddedPostgres) -> None:
    settings = server.start()
    status = server.status()
    assert status.running and status.initialized
    assert status.version is not None and status.version.startswith("PostgreSQL 18")
    assert settings.embedded and settings.database == "quality_compass"
    assert _ping(server) > 0


def test_second_start_reuses_running_server(server: EmbeddedPostgres) -> None:
    server.start()
    first = server.status().pid
    server.start()
    assert server.status().pid == first
    # Another process (a second `qc` command) sees and reuses the same server.
    result = _qc(server.home, "db", "start")
    assert result.returncode == 0, result.stderr
    assert f"running (pid {first})" in result.stdout


def test_env_exports_the_embedded_connection(server: EmbeddedPostgres) -> None:
    server.start()
    result = _qc(server.home, "db", "env")
    assert result.returncode == 0, result.stderr
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in result.stdout.splitlines()
        if line.startswith("export ")
    )
    assert exports["DBT_POSTGRES_HOST"] == str(server.socket_dir)
    assert exports["DBT_POSTGRES_PORT"] == "5432"
    assert exports["DBT_POSTGRES_DATABASE"] == "quality_compass"
    assert "unset DBT_POSTGRES_SSLMODE" in result.stdout
    # The raw layer exists before any load, so dbt can build (empty) models right away.
    with psycopg.connect(server.settings().conninfo()) as conn:
        tables = {
            r[0]
            for r in conn.execute("select tablename from pg_tables where schemaname = 'public'")
        }
    assert {"raw_node_results", "raw_entity_results", "raw_loads", "raw_runs"} <= tables


def test_stop_then_status_reports_stopped(server: EmbeddedPostgres) -> None:
    server.start()
    pid = server.status().pid
    assert server.stop() is True
    assert not server.status().running
    assert pid is not None and not _alive(pid)
    assert server.stop() is False
    result = _qc(server.home, "db", "status")
    assert result.returncode == 3
    assert "stopped" in result.stdout
    # And it comes back with the data intact.
    server.start()
    assert _ping(server) > 0


def test_restart_after_killed_server(server: EmbeddedPostgres) -> None:
    server.start()
    with psycopg.connect(server.settings().conninfo(), autocommit=True) as conn:
        conn.execute("create table if not exists survivor (id int)")
        conn.execute("insert into survivor values (42)")
    pid = server.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _wait_dead(pid)
    assert not server.status().running
    started = time.monotonic()
    result = _qc(server.home, "db", "start")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60
    assert server.status().running and server.status().pid != pid
    with psycopg.connect(server.settings().conninfo()) as conn:
        assert conn.execute("select id from survivor").fetchall() == [(42,)]


def test_start_waits_for_a_running_server_that_is_slow_to_answer(
    server: EmbeddedPostgres,
) -> None:
    """Under heavy load (or in crash recovery) a live server may not answer within the 3 s
    connect timeout: start must wait for it, not run a second postmaster on its data."""
    server.start()
    pid = server.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    resume = threading.Timer(4.5, os.kill, (pid, signal.SIGCONT))
    resume.start()
    try:
        server.start()
    finally:
        resume.cancel()
        os.kill(pid, signal.SIGCONT)
    assert server.status().pid == pid
    assert _ping(server) > 0


def test_failed_start_shows_what_the_server_logged_then(server: EmbeddedPostgres) -> None:
    server.stop()
    conf = server.data_dir / "postgresql.conf"
    original = conf.read_bytes()
    conf.write_bytes(original + b"\nwork_mem = 'lots'\n")
    try:
        with pytest.raises(EmbeddedServerError) as raised:
            server.start()
    finally:
        conf.write_bytes(original)
    message = str(raised.value)
    assert f"{server.log_file} (this start" in message
    assert 'invalid value for parameter "work_mem": "lots"' in message
    # Only this start's lines: none from the earlier (successful) starts.
    assert "ready to accept connections" not in message
    server.start()
    assert _ping(server) > 0


def test_stale_pid_file_from_another_process_is_recovered(server: EmbeddedPostgres) -> None:
    server.stop()
    # A crash can leave a postmaster.pid whose pid now belongs to an unrelated process.
    pid_file = server.data_dir / "postmaster.pid"
    pid_file.write_text(
        f"{os.getpid()}\n{server.data_dir}\n0\n5432\n{server.socket_dir}\n\n0 0\nready\n"
    )
    (server.socket_dir / ".s.PGSQL.5432.lock").write_text(f"{os.getpid()}\n")
    assert not server.status().running
    server.start()
    assert server.status().running
    assert _ping(server) > 0


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_dead(pid: int) -> None:
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_destroy_deletes_the_data_to_start_from_nothing(server: EmbeddedPostgres) -> None:
    server.start()
    with psycopg.connect(server.settings().conninfo(), autocommit=True) as conn:
        conn.execute("create table if not exists survivor (id int)")
    refused = _qc(server.home, "db", "destroy")  # no --yes, no terminal: nothing happens
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    assert server.status().running
    result = _qc(server.home, "db", "destroy", "--yes")
    assert result.returncode == 0, result.stderr
    for path in (server.data_dir, server.log_file, server.home / "run"):
        assert f"deleted {path}" in result.stdout
        assert not path.exists()
    assert not server.status().running
    assert (server.home / "db.lock").exists()  # the rest of QC_HOME stays
    server.start()
    with psycopg.connect(server.settings().conninfo()) as conn:
        assert conn.execute("select to_regclass('survivor')").fetchone() == (None,)
