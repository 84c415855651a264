"""A load keeps its Python work off the core of the backend that parses its COPY
(``load/cpu_affinity.py``): on the embedded server only, put back afterwards, inherited by
the COPY sender threads. Its speed is measured by ``qc bench``, not here."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import replace

import psycopg
import pytest

from conftest import CONTAINER_RUN
from quality_compass.load.cpu_affinity import SWITCH, separate_cpus
from quality_compass.load.loader import load_run
from quality_compass.warehouse.settings import DbSettings

CAN_PIN = hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2


def _backend(conn: psycopg.Connection) -> int:
    row = conn.execute("select pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


def test_the_backend_gets_a_core_of_its_own_for_the_load_and_everything_is_put_back(
    pg_server: DbSettings,
) -> None:
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        backend = _backend(conn)
        ours_before = os.sched_getaffinity(0) if CAN_PIN else None
        backend_before = os.sched_getaffinity(backend) if CAN_PIN and pg_server.embedded else None
        inherited: list[set[int]] = []
        with separate_cpus(conn, pg_server) as applied:
            if not (CAN_PIN and pg_server.embedded):
                assert applied is False
                return
            assert applied is True
            server_cores = os.sched_getaffinity(backend)
            ours = os.sched_getaffinity(0)
            sender = threading.Thread(target=lambda: inherited.append(os.sched_getaffinity(0)))
            sender.start()
            sender.join()
            assert len(server_cores) == 1
            assert not server_cores & ours
            assert server_cores | ours == ours_before
            assert inherited == [ours]  # the COPY sender threads start inside the body
            conn.execute("select 1")  # the connection works as before
        assert os.sched_getaffinity(0) == ours_before
        assert os.sched_getaffinity(backend) == backend_before


def test_cores_are_put_back_when_the_load_fails(pg_server: DbSettings) -> None:
    if not (CAN_PIN and pg_server.embedded):
        pytest.skip("needs the embedded server on a machine with two cores or more")
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        backend = _backend(conn)
        ours_before = os.sched_getaffinity(0)
        backend_before = os.sched_getaffinity(backend)
        with pytest.raises(RuntimeError), separate_cpus(conn, pg_server) as applied:
            assert applied
            raise RuntimeError("the load failed")
        assert os.sched_getaffinity(0) == ours_before
        assert os.sched_getaffinity(backend) == backend_before


def test_a_remote_server_or_the_switch_leaves_every_core_alone(
    pg_server: DbSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A remote server's pg_backend_pid() names a process on another machine: never pinned."""
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        before = os.sched_getaffinity(0) if CAN_PIN else None
        with separate_cpus(conn, replace(pg_server, embedded=False)) as applied:
            assert applied is False
            assert (os.sched_getaffinity(0) if CAN_PIN else None) == before
        monkeypatch.setenv(SWITCH, "0")
        with separate_cpus(conn, pg_server) as applied:
            assert applied is False
            assert (os.sched_getaffinity(0) if CAN_PIN else None) == before


def test_qc_load_copies_apart_from_its_backend(
    database_factory: Callable[[str], DbSettings],
) -> None:
    """While the rows stream (progress is reported from the loading thread), that thread
    runs without the backend's core; afterwards it has all its cores again."""
    settings = database_factory("qc_test_cpus")
    before = os.sched_getaffinity(0) if CAN_PIN else None
    seen: list[set[int]] = []

    def progress_factory(total: int) -> Callable[[int], None]:
        return lambda done: seen.append(os.sched_getaffinity(0)) if CAN_PIN else None

    report = load_run(CONTAINER_RUN, settings, progress_factory=progress_factory)
    with psycopg.connect(settings.conninfo()) as conn:  # committed, not left in a transaction
        rows = conn.execute(
            "select count(*) from public.raw_entity_results where run_id = %s", (report.run_id,)
        ).fetchone()
    assert rows is not None and rows[0] == report.rows["raw_entity_results"] > 0
    if not (CAN_PIN and settings.embedded):
        assert not seen
        return
    assert seen and before is not None
    assert all(len(cores) == len(before) - 1 and cores < before for cores in seen)
    assert os.sched_getaffinity(0) == before
