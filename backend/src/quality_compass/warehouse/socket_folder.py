"""The folder that holds the embedded server's unix socket: private, and never adopted.

Only the checkout's owner and the server account may reach the socket, so its folder is
owned by the server account with mode 0700. It is ``<qc_home>/run`` when that path is short
enough for a unix socket (the kernel's limit is 107 bytes). Otherwise qc creates a folder
with a random name in /tmp (``mkdtemp``: it never reuses a path someone else made) and
records it in ``<qc_home>/socket_dir``; later starts reuse the recorded folder only while
it is still a real folder of the server account that nobody else may open.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from quality_compass.errors import EmbeddedServerError
from quality_compass.warehouse.server_account import ServerAccount

# Longest path the kernel accepts for a unix socket is 107 bytes; keep a margin.
MAX_SOCKET_PATH = 100
RECORD_NAME = "socket_dir"
TEMPORARY_ROOT = Path("/tmp")
TEMPORARY_PREFIX = "qc-pg-"


def _preferred(home: Path, port: int) -> Path | None:
    preferred = home / "run"
    if len(str(preferred / f".s.PGSQL.{port}")) <= MAX_SOCKET_PATH:
        return preferred
    return None


def _recorded(home: Path) -> Path | None:
    try:
        text = (home / RECORD_NAME).read_text().strip()
    except (FileNotFoundError, PermissionError, NotADirectoryError):
        return None
    path = Path(text)
    if path.parent != TEMPORARY_ROOT or not path.name.startswith(TEMPORARY_PREFIX):
        return None
    return path


def socket_folder(home: Path, port: int) -> Path:
    """Where clients find the socket (the folder itself is made by ``claim_socket_folder``).

    A long ``home`` with no recorded folder yet gives the too-long ``<home>/run``: nothing
    listens there, and libpq says the path is too long.
    """
    return _preferred(home, port) or _recorded(home) or home / "run"


def claim_socket_folder(home: Path, port: int, account: ServerAccount) -> Path:
    """Make (or re-check) the private socket folder before the server starts."""
    preferred = _preferred(home, port)
    if preferred is not None:
        _claim_project_folder(preferred, account)
        return preferred
    recorded = _recorded(home)
    if recorded is not None and _is_private_to(recorded, account):
        return recorded
    created = Path(tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=TEMPORARY_ROOT))
    account.give(created, 0o700)
    record = home / RECORD_NAME
    staging = home / f".{RECORD_NAME}.{os.getpid()}"
    staging.write_text(f"{created}\n")
    staging.chmod(0o600)
    staging.replace(record)
    return created


def release_socket_folder(home: Path, account: ServerAccount) -> list[Path]:
    """What ``qc db destroy`` deletes for the socket of ``home``.

    The record, and the /tmp folder it names while that is still the server account's
    private folder (anything else there is someone else's and stays).
    """
    paths = []
    recorded = _recorded(home)
    if recorded is not None and _is_private_to(recorded, account):
        paths.append(recorded)
    if (home / RECORD_NAME).exists():
        paths.append(home / RECORD_NAME)
    return paths


def _claim_project_folder(folder: Path, account: ServerAccount) -> None:
    """``<home>/run``: create it, or take it over only when it is ours or the server's."""
    try:
        info = folder.lstat()
    except FileNotFoundError:
        folder.mkdir(mode=0o700)
        account.give(folder, 0o700)
        return
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise EmbeddedServerError(
            f"{folder} is not a plain folder (a link or a file); qc keeps the database "
            "socket there and will not follow or replace it. Remove it and start again."
        )
    if info.st_uid not in (account.uid, os.geteuid()):
        raise EmbeddedServerError(
            f"{folder} belongs to another user (uid {info.st_uid}); qc keeps the database "
            "socket there and will not adopt a folder someone else created. Remove it and "
            "start again."
        )
    account.give(folder, 0o700)


def _is_private_to(folder: Path, account: ServerAccount) -> bool:
    with contextlib.suppress(OSError):
        info = folder.lstat()
        return (
            stat.S_ISDIR(info.st_mode)
            and not stat.S_ISLNK(info.st_mode)
            and info.st_uid == account.uid
            and info.st_mode & 0o077 == 0
        )
    return False
