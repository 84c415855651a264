"""The OS account that runs the embedded PostgreSQL, and what it may reach.

PostgreSQL refuses to run as root. Started by root, the server runs as the system user
``pgserver`` (created on first use), with that account's own group and no supplementary
groups: it never inherits root's gid 0. Started by anyone else, it runs as that user.

The account must reach the server binaries and the data folder on its own: qc never
changes the permissions of a folder outside the project's own folders to let it in
(docs/architecture/security.md). When it cannot reach the checkout, qc gives it a private
folder of its own outside the project (``warehouse.server_area``).
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from quality_compass.errors import EmbeddedServerError

#: The account the server runs as when qc itself runs as root.
SERVER_USER_AS_ROOT = "pgserver"

# Exit codes of the access probe (a tiny shell script run as the server account).
_HOME_CLOSED = 90
_BINARY_CLOSED = 91
_ACCESS_PROBE = (
    'test -x "$1" || exit 90\n'  # search permission on the data folder and every parent
    'test -z "$2" || "$2" -V >/dev/null 2>&1 || exit 91\n'  # the binary runs (folders, libraries)
)


def account_name(uid: int) -> str:
    """The login name of ``uid`` (what PostgreSQL's peer authentication sees)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@dataclass(frozen=True)
class ServerAccount:
    """Who runs the server process: ``switch`` is True when qc must change user to start it."""

    name: str
    uid: int
    gid: int
    switch: bool

    @classmethod
    def for_this_process(cls, create: bool = False) -> ServerAccount:
        """The account for a server started by this process (``pgserver`` under root).

        With ``create``, the ``pgserver`` system user is created when it does not exist yet;
        without, a missing user is reported as uid/gid -1 (nothing can be owned by it yet).
        """
        uid = os.geteuid()
        if uid != 0:
            return cls(name=account_name(uid), uid=uid, gid=os.getegid(), switch=False)
        try:
            entry = pwd.getpwnam(SERVER_USER_AS_ROOT)
        except KeyError:
            if not create:
                return cls(name=SERVER_USER_AS_ROOT, uid=-1, gid=-1, switch=True)
            _create_system_user(SERVER_USER_AS_ROOT)
            entry = pwd.getpwnam(SERVER_USER_AS_ROOT)
        if entry.pw_uid == 0 or entry.pw_gid == 0:
            raise EmbeddedServerError(
                f"the OS user {entry.pw_name!r} that runs the embedded PostgreSQL has uid or "
                "gid 0 (root's); give it its own user and group, e.g. "
                f"`groupadd {entry.pw_name} && usermod -g {entry.pw_name} {entry.pw_name}`"
            )
        return cls(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid, switch=True)

    def process_options(self) -> dict[str, object]:
        """``subprocess.run`` options that start a program as this account.

        Its own group and no supplementary groups: without ``group``/``extra_groups``
        Python keeps root's gid 0 and root's groups after switching the user.
        """
        if not self.switch:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "cwd": "/"}

    def give(self, path: Path, mode: int) -> None:
        """Make ``path`` (inside the project's folders) this account's, with ``mode``."""
        if self.switch:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)
        path.chmod(mode)

    def can_search(self, folder: Path) -> bool:
        """Whether this account can reach ``folder`` (search permission on it and every parent)."""
        return self._probe(folder, None) == 0

    def can_run(self, server_binary: Path) -> bool:
        """Whether this account can run ``server_binary`` (its folders and libraries reachable)."""
        return self._probe(Path("/"), server_binary) == 0

    def _probe(self, folder: Path, server_binary: Path | None) -> int:
        if not self.switch:
            return 0
        result = subprocess.run(
            ["/bin/sh", "-c", _ACCESS_PROBE, "sh", str(folder), str(server_binary or "")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            **self.process_options(),  # type: ignore[call-overload]
        )
        return int(result.returncode)

    def check_access(self, home: Path, server_binary: Path) -> None:
        """Fail clearly unless this account can reach ``home`` and run ``server_binary``.

        Reached only when qc cannot give the account a place of its own (a server area,
        ``warehouse.server_area``), e.g. for a data folder made before.
        """
        returncode = self._probe(home, server_binary)
        if returncode == _HOME_CLOSED:
            raise EmbeddedServerError(
                f"the embedded PostgreSQL runs as the OS user {self.name!r} (PostgreSQL "
                f"refuses to run as root), and that user cannot reach {home}"
                f"{self.blocker_note(home)}. qc does not change the permissions of folders "
                "outside the project. To keep the data there, make that folder searchable for "
                "that user yourself; to start afresh in a private folder qc makes for it, "
                "delete the data with `qc db destroy --yes`; or run qc as a non-root user."
            )
        if returncode != 0:
            raise EmbeddedServerError(
                f"the embedded PostgreSQL runs as the OS user {self.name!r} (PostgreSQL "
                f"refuses to run as root), and that user cannot run {server_binary}"
                f"{self.blocker_note(server_binary.parent)}. qc does not change the "
                "permissions of the Python environment. Run qc as a non-root user, or install "
                "the environment where that user can reach it."
            )

    def blocker_note(self, target: Path) -> str:
        """`` (the folder /x is closed to it)`` for the first folder it cannot search."""
        for folder in [*reversed(target.parents), target]:
            try:
                info = folder.stat()
            except OSError:
                return ""
            if not self._may_search(info):
                return f" (the folder {folder} is closed to it: mode {stat.filemode(info.st_mode)})"
        return ""

    def _may_search(self, info: os.stat_result) -> bool:
        if info.st_uid == self.uid:
            return bool(info.st_mode & stat.S_IXUSR)
        if info.st_gid == self.gid:
            return bool(info.st_mode & stat.S_IXGRP)
        return bool(info.st_mode & stat.S_IXOTH)


def _create_system_user(name: str) -> None:
    result = subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "-s", "/bin/false", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise EmbeddedServerError(
            f"cannot create the OS user {name!r} that runs the embedded PostgreSQL: "
            f"{result.stderr.strip()}"
        )
