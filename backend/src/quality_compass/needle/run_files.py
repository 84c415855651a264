"""Which paths of a run folder may be read, and opening them safely.

A run folder comes from elsewhere (a producer, a copy, a download), so the loader trusts
its content only as data: it reads regular files that lie inside the run folder and
nothing else.

* A symbolic link (a file's or a folder's) is followed only when its target stays inside
  the run folder; one that leads outside, or nowhere, is an error.
* Anything that is not a regular file (FIFO, socket, device, folder) is an error, detected
  with ``lstat``/``stat`` before it is opened, so a FIFO can never block a load.
* Files are opened with ``O_NONBLOCK`` and ``O_NOFOLLOW`` on the resolved path, and the
  open file must be the very file that was inspected (same device and inode): a file
  swapped for a FIFO or a link between inventory and reading is refused too.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from quality_compass.errors import QcError

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class UnsafeRunFile(QcError):
    """A path in a run folder that the loader refuses to read."""


@dataclass(frozen=True)
class FileIdentity:
    """The regular file a run path leads to: where it really is and which inode it is."""

    real_path: Path
    device: int
    inode: int
    size: int


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _display(path: Path, run_dir: Path) -> str:
    try:
        return path.relative_to(run_dir).as_posix()
    except ValueError:
        return str(path)


def inspect_run_path(path: Path, run_dir: Path) -> FileIdentity | None:
    """The regular file ``path`` (inside ``run_dir``) leads to; None when nothing is there.

    Raises ``UnsafeRunFile`` for a link that leaves the run folder or leads nowhere, a link
    loop, and anything that is not a regular file. ``run_dir`` must be resolved.
    """
    name = _display(path, run_dir)
    try:
        own = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnsafeRunFile(f"cannot read {name}: {exc.strerror}") from None
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        if stat.S_ISLNK(own.st_mode):
            raise UnsafeRunFile(f"cannot read {name}: broken symbolic link") from None
        return None  # a parent folder is a dangling link: nothing there
    except (OSError, RuntimeError) as exc:  # ELOOP (3.11 raises RuntimeError for loops)
        raise UnsafeRunFile(f"cannot read {name}: {exc}") from None
    if not real.is_relative_to(run_dir):
        raise UnsafeRunFile(
            f"refusing {name}: it is a symbolic link (or lies in a linked folder) that leads "
            f"outside the run folder, to {real}"
        )
    target = real.stat()
    if not stat.S_ISREG(target.st_mode):
        raise UnsafeRunFile(f"refusing {name}: {_kind(target.st_mode)}, not a regular file")
    return FileIdentity(real, target.st_dev, target.st_ino, target.st_size)


def open_identified(identity: FileIdentity, name: str) -> BinaryIO:
    """Open the file ``identity`` describes for reading; refuse it if it is no longer that file."""
    try:
        descriptor = os.open(identity.real_path, _OPEN_FLAGS)
    except OSError as exc:
        raise QcError(f"cannot read {name}: {exc.strerror}") from None
    try:
        opened = os.fstat(descriptor)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (
            identity.device,
            identity.inode,
        ):
            raise UnsafeRunFile(f"refusing {name}: the file changed while the run was being read")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def open_run_file(path: Path, rel: str, identity: FileIdentity | None) -> BinaryIO:
    """Open a run file the inventory inspected (``identity``), else any regular file."""
    if identity is not None:
        return open_identified(identity, rel)
    try:
        return open_regular(path)
    except OSError as exc:
        raise QcError(f"cannot read {rel}: {exc.strerror}") from None


def open_regular(path: Path) -> BinaryIO:
    """Open a file for reading only if it is a regular file (never blocks on a FIFO).

    Raises FileNotFoundError/OSError as ``open`` does, ``UnsafeRunFile`` for anything that
    is not a regular file (checked before opening, and again on the open descriptor).
    """
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise UnsafeRunFile(f"refusing {path}: {_kind(mode)}, not a regular file")
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise UnsafeRunFile(f"refusing {path}: {_kind(mode)}, not a regular file")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
