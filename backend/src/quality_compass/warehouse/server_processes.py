"""The embedded server's processes: running its programs, finding and ending its postgres processes.

A server's processes are recognised by their working directory: the postmaster ``chdir``s
to the data directory, and every backend it forks inherits it. That identifies the
processes of one data directory even after a SIGKILL of the postmaster left them orphaned,
and never matches another server's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from quality_compass.errors import EmbeddedServerError
from quality_compass.warehouse.server_account import ServerAccount


def run_program(
    bin_dir: Path, program: str, args: list[str], account: ServerAccount, timeout: float
) -> str:
    """Run a PostgreSQL program as the server account; its output, or EmbeddedServerError."""
    command = [str(bin_dir / program), *args]
    # Output goes to a file, not a pipe: pg_ctl's detached postmaster would keep a pipe open
    # and make us wait for ever.
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
                check=False,
                **account.process_options(),  # type: ignore[call-overload]
            )
        except subprocess.TimeoutExpired:
            raise EmbeddedServerError(f"{program} did not finish within {timeout:.0f} s") from None
        out.seek(0)
        output = out.read()
    if result.returncode != 0:
        raise EmbeddedServerError(f"{program} failed (exit {result.returncode}): {output.strip()}")
    return output


def is_server_process(pid: int, data_dir: Path) -> bool:
    """Whether ``pid`` is a live (not zombie) postgres process working in ``data_dir``."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if "postgres" not in proc.name():
            return False
        return Path(proc.cwd()).resolve() == data_dir
    except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError):
        return False


def server_processes(folder: Path, inside: bool = False) -> list[psutil.Process]:
    """Live postgres processes working in ``folder`` (or, with ``inside``, below it)."""
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if "postgres" not in (proc.info["name"] or ""):
                continue
            cwd = Path(proc.cwd()).resolve()
        except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError):
            continue
        if cwd == folder or (inside and cwd.is_relative_to(folder)):
            found.append(proc)
    return found


def kill_server_processes(folder: Path, inside: bool = False, timeout: float = 10) -> list[int]:
    """SIGKILL the postgres processes of ``folder``; wait for them; the pids still alive."""
    for proc in server_processes(folder, inside):
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    deadline = time.monotonic() + timeout
    while True:
        alive = server_processes(folder, inside)
        if not alive or time.monotonic() > deadline:
            return [proc.pid for proc in alive]
        for proc in alive:  # e.g. forked after the first round
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        time.sleep(0.1)


def kill_tree(pid: int) -> None:
    """End a postmaster that did not stop: SIGQUIT (its children follow), then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGQUIT)
    wait_gone(pid, timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid):
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        time.sleep(0.1)
