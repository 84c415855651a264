"""Keep the loader's Python work off the core of the server process that parses its COPY.

A load is two busy processes: the loader (parsing and checking every line in Python,
sending COPY data from a worker thread) and the PostgreSQL backend (parsing every line
into ``jsonb``, the bottleneck). Each wakes the other through the socket, and the kernel
tends to run a woken process on the waker's core, so on a machine with few cores the two
keep landing on the same core while another idles. Measured on 2 cores with the 1 GB
``qc bench`` run: 17.2-18.8 s unpinned, 15.6-16.1 s with the backend on one core and the
loader on the others (a bare ``COPY`` of the same lines: 14.4-16.0 s).

So, for the duration of a load's COPY, the backend of the load's connection gets one core
of the loader's set and the loader's thread (and the COPY sender threads it starts) the
others; both are put back afterwards. Only for the embedded server, whose backend is a
local process that ``pg_backend_pid()`` names; never for a remote one, where that pid
means nothing here. Best effort: with one core, without ``sched_setaffinity`` (not Linux),
or when the kernel refuses, the load runs as before. ``QC_LOAD_SEPARATE_CPUS=0`` turns it
off.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg

from quality_compass.warehouse.settings import DbSettings

SWITCH = "QC_LOAD_SEPARATE_CPUS"


@dataclass(frozen=True)
class _Plan:
    backend_pid: int
    backend_before: frozenset[int]
    ours_before: frozenset[int]
    server_cpu: int


def _plan(conn: psycopg.Connection, settings: DbSettings) -> _Plan | None:
    if (
        not settings.embedded
        or os.environ.get(SWITCH, "1") == "0"
        or not hasattr(os, "sched_setaffinity")
    ):
        return None
    ours = frozenset(os.sched_getaffinity(0))
    if len(ours) < 2:
        return None
    pid = conn.info.backend_pid  # no query: a query would open a transaction around the load's
    try:
        if Path(f"/proc/{pid}/comm").read_text().strip() != "postgres":
            return None  # not a local backend after all
        theirs = frozenset(os.sched_getaffinity(pid))
    except OSError:
        return None
    return _Plan(pid, theirs, ours, max(ours))


@contextmanager
def separate_cpus(conn: psycopg.Connection, settings: DbSettings) -> Iterator[bool]:
    """Run the body with the connection's backend and this thread on different cores.

    Yields whether it did. Threads started inside the body inherit this thread's cores.
    """
    plan = _plan(conn, settings)
    applied = False
    if plan is not None:
        try:
            os.sched_setaffinity(plan.backend_pid, {plan.server_cpu})
            os.sched_setaffinity(0, plan.ours_before - {plan.server_cpu})
            applied = True
        except OSError:
            _restore(plan)
    try:
        yield applied
    finally:
        if applied and plan is not None:
            _restore(plan)


def _restore(plan: _Plan) -> None:
    with suppress(OSError):
        os.sched_setaffinity(0, plan.ours_before)
    with suppress(OSError):  # the backend may be gone (connection closed)
        os.sched_setaffinity(plan.backend_pid, plan.backend_before)
