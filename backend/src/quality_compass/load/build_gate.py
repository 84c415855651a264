"""Loads, drops and dbt builds take turns: a build sees one set of runs from start to end.

dbt-postgres closes its connection after every node, so a lock taken by the build cannot
last the build. The build registers itself instead (``dbt/macros/build_registry.sql``):

* on-run-start inserts a row into ``public.qc_builds`` (invocation id, start time, command,
  target, the session's ``application_name``) while holding
  ``pg_advisory_xact_lock_shared(BUILD_GATE_KEY)``;
* on-run-end deletes it.

A writer that changes the set of runs (a load's swap, ``qc runs drop``, ``--keep-runs``)
calls ``wait_for_builds`` after the swap lock and before it locks the parent tables: it
takes ``pg_advisory_xact_lock(BUILD_GATE_KEY)`` — from then until its commit no build can
register, so no build starts half-way through the change — and waits while a registered
build is alive, saying which. Builds that registered before it finish on the set of runs
they started with; builds that start meanwhile wait in on-run-start and then see the new
set.

A build killed before its on-run-end leaves its row behind. A registered build counts as
alive while some session of the database has its ``application_name`` (dbt opens one per
node); when none has been seen for ``STALE_AFTER_SECONDS``, the build is taken as crashed:
the writer says so, removes the row and goes on.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

import psycopg

from quality_compass.load.locking import Notify

#: pg_advisory lock key of the gate (the migration lock is 0x51C0_0001, the swap lock
#: 0x51C0_0002); dbt var ``qc_build_gate_key`` holds the same number (a test keeps them equal).
BUILD_GATE_KEY = 0x51C0_0003
#: A registered build with no session of its application for this long has crashed
#: (``QC_BUILD_STALE_SECONDS`` overrides it).
STALE_AFTER_SECONDS = 15.0
#: How often the registry is looked at while waiting.
POLL_SECONDS = 0.5


def wait_for_builds(conn: psycopg.Connection, notify: Notify, purpose: str) -> None:
    """Hold the build gate for this transaction; return once no live build is registered."""
    got = conn.execute("select pg_try_advisory_xact_lock(%s)", (BUILD_GATE_KEY,)).fetchone()
    if not (got and got[0]):
        notify(f"{purpose}: waiting for a dbt build that is registering itself")
        conn.execute("select pg_advisory_xact_lock(%s)", (BUILD_GATE_KEY,))
    stale_after = float(os.environ.get("QC_BUILD_STALE_SECONDS", STALE_AFTER_SECONDS))
    told: set[str] = set()
    unseen_since: dict[str, float] = {}
    while True:
        # pg_stat_activity is read once per transaction unless the snapshot is cleared
        conn.execute("select pg_stat_clear_snapshot()")
        builds = conn.execute(
            """
            select invocation_id, started_at, command, application_name,
                   exists (
                       select 1 from pg_stat_activity as activity
                       where activity.datname = current_database()
                         and activity.application_name = builds.application_name
                         and activity.pid <> pg_backend_pid()
                   )
            from public.qc_builds as builds
            order by started_at
            """
        ).fetchall()
        if not builds:
            return
        now = time.monotonic()
        for invocation, started, command, _, alive in builds:
            invocation = str(invocation)
            if invocation not in told:
                told.add(invocation)
                notify(
                    f"{purpose}: waiting for the dbt {command or 'build'} started "
                    f"{_clock(started)} (invocation {invocation}) to finish; Ctrl-C aborts, "
                    "nothing is written"
                )
            if alive:
                unseen_since.pop(invocation, None)
            elif now - unseen_since.setdefault(invocation, now) >= stale_after:
                notify(
                    f"warning: the dbt {command or 'build'} started {_clock(started)} "
                    f"(invocation {invocation}) has had no database session for "
                    f"{stale_after:g} s: taken as crashed, its registration removed"
                )
                conn.execute("delete from public.qc_builds where invocation_id = %s", (invocation,))
        time.sleep(POLL_SECONDS)


def _clock(started: datetime | None) -> str:
    return started.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if started else "at an unknown time"
