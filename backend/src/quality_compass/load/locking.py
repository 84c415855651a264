"""The locks of a load or a drop, taken in one order, without making readers queue.

Every writer of the raw tables (a load's swap, ``qc runs drop``, ``--keep-runs``) takes its
locks in this order, so two writers never wait for each other in a cycle:

1. the run's advisory lock (``run_lock``): loads and drops of the same run queue;
2. the swap lock (``swap_lock``): one writer at a time changes the partition layout;
3. the build gate (``load/build_gate.py``): no dbt build runs while the runs change;
4. the parent tables, in ``RAW_TABLES`` order (``lock_parents``): ``ACCESS EXCLUSIVE`` on a
   parent whose partition is dropped, ``SHARE UPDATE EXCLUSIVE`` where one is only attached.

Until step 4 a load holds no lock on the parents (its new tables are created from the
column list, not ``LIKE`` the parent), so loads of different runs copy in parallel.

A lock request waits at most ``LOCK_TIMEOUT`` at a time: a request for ``ACCESS
EXCLUSIVE`` that waits behind a long reader would otherwise make every new reader of that
table queue behind it. On a timeout the request is withdrawn (rolled back to a savepoint,
so no partial set of locks is held), the user is told who holds the table, and it is
retried after a growing pause.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import psycopg
from psycopg import errors, sql

#: How long one attempt waits for a table lock before stepping back.
LOCK_TIMEOUT = "2s"
#: Pauses between attempts (seconds): first, growth factor, ceiling.
RETRY_FIRST, RETRY_FACTOR, RETRY_CEILING = 0.2, 2.0, 5.0
#: pg_advisory_xact_lock key of the swap phase (the migration lock is 0x51C0_0001).
SWAP_LOCK_KEY = 0x51C0_0002

Notify = Callable[[str], None]


def run_lock(conn: psycopg.Connection, run_id: str, notify: Notify) -> None:
    """Take the run's advisory lock for this transaction, waiting (and saying so) if held."""
    row = conn.execute(
        "select hashtextextended(%s, 0)", (f"quality_compass.run:{run_id}",)
    ).fetchone()
    assert row is not None
    _advisory(
        conn,
        int(row[0]),
        notify,
        f"another load or drop of run {run_id} is in progress; waiting for it to finish",
    )


def swap_lock(conn: psycopg.Connection, notify: Notify) -> None:
    """Take the swap phase's advisory lock for this transaction (one swapper at a time)."""
    _advisory(
        conn,
        SWAP_LOCK_KEY,
        notify,
        "another load or drop is swapping its partitions; waiting for it to commit",
    )


def _advisory(conn: psycopg.Connection, key: int, notify: Notify, message: str) -> None:
    got = conn.execute("select pg_try_advisory_xact_lock(%s)", (key,)).fetchone()
    if not (got and got[0]):
        notify(message)
        conn.execute("select pg_advisory_xact_lock(%s)", (key,))


def lock_parents(
    conn: psycopg.Connection,
    requests: Sequence[tuple[str, str]],
    notify: Notify,
    purpose: str,
) -> None:
    """Lock ``(table, mode)`` pairs of ``public`` in the given order, all or none per attempt.

    Retries until it succeeds (Ctrl-C aborts: the transaction rolls back, nothing written).
    """
    pause = RETRY_FIRST
    told: set[str] = set()
    while True:
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("set local lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT))
                )
                for table, mode in requests:
                    conn.execute(
                        sql.SQL("lock table public.{} in {} mode").format(
                            sql.Identifier(table), sql.SQL(mode)
                        )
                    )
                conn.execute("set local lock_timeout to default")
            return
        except errors.LockNotAvailable:
            for line in describe_holders(conn, [table for table, _ in requests]):
                if line not in told:
                    told.add(line)
                    notify(f"{purpose}: waiting for {line}; Ctrl-C aborts, nothing is written")
            time.sleep(pause)
            pause = min(pause * RETRY_FACTOR, RETRY_CEILING)


def describe_holders(conn: psycopg.Connection, tables: Sequence[str]) -> list[str]:
    """Who holds locks on these tables (other sessions), one line each, for the user."""
    conn.execute("select pg_stat_clear_snapshot()")  # else the first read of the transaction
    rows = conn.execute(
        """
        select distinct lock.relation::regclass::text, lock.pid, activity.application_name,
               activity.state, activity.xact_start, left(activity.query, 80)
        from pg_locks as lock
        left join pg_stat_activity as activity on activity.pid = lock.pid
        where lock.granted
          and lock.pid <> pg_backend_pid()
          and lock.relation = any(%s::regclass[])
        order by 1, 2
        """,
        ([f"public.{table}" for table in tables],),
    ).fetchall()
    lines = []
    for relation, pid, application, state, started, query in rows:
        who = f"pid {pid}" + (f" ({application})" if application else "")
        since = f", in a transaction since {started:%H:%M:%S}" if started else ""
        doing = f", {state}: {' '.join(str(query).split())}" if state and query else ""
        lines.append(f"a lock on {relation} held by {who}{since}{doing}")
    return lines or ["locks on the raw tables held by other sessions"]
