"""The raw layer: tables the loader owns in ``public``, created and migrated idempotently.

Run-scoped tables are LIST-partitioned by ``run_id``. A load writes each run into fresh
tables created in its own transaction (so COPY skips WAL under ``wal_level=minimal``) and
swaps them in for the run's previous partitions just before commit. Readers see the old
run or the new one, never a mix; other runs are untouched; dropping a run is instant.

Every run-scoped row carries ``run_id``, ``file_path`` (relative to the run folder),
``line_number`` (1-based physical line, where it applies), ``json_data jsonb``,
``load_id`` and ``loaded_at``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from quality_compass.errors import QcError

SCHEMA_VERSION = 2
# Serialises DDL migrations across processes (pg_advisory_xact_lock key; dbt var
# qc_migration_lock_key holds the same number).
MIGRATION_LOCK_KEY = 0x51C0_0001


@dataclass(frozen=True)
class RawTable:
    """A run-scoped raw table and the columns the loader COPYs into it."""

    name: str
    copy_columns: tuple[str, ...]
    description: str


# The order is the order in which a load writes (and locks) them; keep it fixed.
RAW_TABLES: tuple[RawTable, ...] = (
    RawTable(
        "raw_entity_results",
        ("file_path", "line_number", "canonical_node_id", "json_data"),
        "one row per entity line (lines 2..N) of results/nodes/<canonical_node_id>.jsonl",
    ),
    RawTable(
        "raw_node_results",
        ("file_path", "line_number", "canonical_node_id", "json_data"),
        "one row per node: line 1 (the node_metadata header) of each node result file",
    ),
    RawTable(
        "raw_contributions",
        ("file_path", "line_number", "json_data"),
        "one row per line of analysis/contribution/<child_node_id>.<metric>.jsonl",
    ),
    RawTable(
        "raw_classifications",
        ("file_path", "line_number", "source_format", "json_data"),
        "one row per classification, from classifications.jsonl or classification_summary.csv",
    ),
    RawTable(
        "raw_run_documents",
        ("document_type", "file_path", "json_data"),
        "one row per run per JSON document (manifests, taxonomy bundle, graph, indexes)",
    ),
)
RAW_TABLE_NAMES = tuple(table.name for table in RAW_TABLES)

_COMMON = """
    run_id text not null,
    file_path text not null,
    line_number integer,
    {extra}
    json_data jsonb not null,
    load_id bigint not null,
    loaded_at timestamptz not null default now()
"""

_EXTRA_COLUMNS = {
    "raw_entity_results": "canonical_node_id text not null,",
    "raw_node_results": "canonical_node_id text not null,",
    "raw_contributions": "",
    "raw_classifications": "source_format text not null,",
    "raw_run_documents": "document_type text not null,",
}


def _v1(conn: psycopg.Connection) -> None:
    _create_load_audit(conn)
    _create_run_registry(conn)
    _create_raw_tables(conn)


def _create_load_audit(conn: psycopg.Connection) -> None:
    """The load id sequence and ``raw_loads``: one audit row per load, drop or prune."""
    conn.execute("create sequence if not exists public.raw_load_id_seq")
    conn.execute(
        """
        create table if not exists public.raw_loads (
            load_id bigint primary key,
            run_id text not null,
            graph_name text,
            run_path text,
            action text not null,
            status text not null,
            started_at timestamptz not null,
            finished_at timestamptz,
            files integer,
            rows_by_table jsonb,
            bytes bigint,
            rejects integer,
            warnings jsonb,
            error_message text,
            loader_version text not null,
            options jsonb,
            constraint raw_loads_action check (action in ('load', 'drop', 'prune')),
            constraint raw_loads_status check (status in ('succeeded', 'failed'))
        )
        """
    )
    conn.execute(
        "create index if not exists raw_loads_run_id on public.raw_loads (run_id, started_at)"
    )


def _create_run_registry(conn: psycopg.Connection) -> None:
    """``raw_runs`` (one row per loaded run) and ``raw_load_rejects`` (kept bad lines)."""
    conn.execute(
        """
        create table if not exists public.raw_runs (
            run_id text primary key,
            graph_name text,
            run_path text,
            load_id bigint not null,
            loaded_at timestamptz not null,
            run_started_at timestamptz,
            taxonomy_hash text,
            files integer not null,
            bytes bigint not null,
            rows_by_table jsonb not null,
            rejects integer not null default 0
        )
        """
    )
    conn.execute(
        """
        create table if not exists public.raw_load_rejects (
            load_id bigint not null,
            run_id text not null,
            file_path text not null,
            line_number integer,
            reason text not null,
            raw_text text,
            rejected_at timestamptz not null default now()
        )
        """
    )
    conn.execute(
        "create index if not exists raw_load_rejects_load on public.raw_load_rejects (load_id)"
    )


def column_definitions(table: str) -> str:
    """The column list of a run-scoped raw table (its parent and every partition share it)."""
    return _COMMON.format(extra=_EXTRA_COLUMNS[table])


def _create_raw_tables(conn: psycopg.Connection) -> None:
    """The run-scoped raw tables, LIST-partitioned by ``run_id``."""
    for table in RAW_TABLES:
        ddl = f"create table if not exists public.{table.name} ({column_definitions(table.name)})"
        conn.execute(ddl + " partition by list (run_id)")
        conn.execute(
            sql.SQL("comment on table public.{} is {}").format(
                sql.Identifier(table.name),
                sql.Literal(f"Quality Compass raw layer: {table.description}"),
            )
        )


def _v2(conn: psycopg.Connection) -> None:
    """``qc_builds``: the dbt builds running now (``load/build_gate.py``).

    dbt's on-run-start registers a build (``dbt/macros/build_registry.sql``, which creates
    the same table if a build comes first), on-run-end removes it; writers of the raw
    tables wait while a registered build is alive.
    """
    conn.execute(
        """
        create table if not exists public.qc_builds (
            invocation_id text primary key,
            started_at timestamptz not null default now(),
            command text,
            target text,
            application_name text not null
        )
        """
    )


MIGRATIONS: dict[int, Callable[[psycopg.Connection], None]] = {1: _v1, 2: _v2}


def current_version(conn: psycopg.Connection) -> int:
    exists = conn.execute("select to_regclass('public.qc_schema_version') is not null").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("select coalesce(max(version), 0) from public.qc_schema_version").fetchone()
    return int(row[0]) if row else 0


def ensure_schema(conn: psycopg.Connection, loader_version: str) -> int:
    """Create or migrate the raw layer to ``SCHEMA_VERSION``; returns the version.

    Runs in its own transaction under an advisory lock, so concurrent loaders migrate once.
    Refuses to run against a database migrated by a newer loader.
    """
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(
            """
            create table if not exists public.qc_schema_version (
                version integer primary key,
                applied_at timestamptz not null default now(),
                loader_version text not null
            )
            """
        )
        version = current_version(conn)
        if version > SCHEMA_VERSION:
            raise QcError(
                f"the database's raw schema is version {version}, newer than this loader's "
                f"{SCHEMA_VERSION}; upgrade Quality Compass",
                exit_code=2,
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](conn)
            conn.execute(
                "insert into public.qc_schema_version (version, loader_version) values (%s, %s)",
                (target, loader_version),
            )
    return SCHEMA_VERSION


def partition_name(table: str, load_id: int) -> str:
    return f"{table}__l{load_id}"


def run_partitions(conn: psycopg.Connection, table: str, run_id: str) -> list[str]:
    """Names of the partitions of ``table`` that hold ``run_id`` (zero or one).

    The comparison is exact for any run id, including ids with quotes or backslashes loaded
    by earlier versions: the partition bound is compared with the text PostgreSQL itself
    renders for ``FOR VALUES IN ('<run_id>')`` (ruleutils' simple_quote_literal doubles
    quotes, and backslashes only when standard_conforming_strings is off). ``format('%L')``
    is not that text: it writes ``E'...'`` with doubled backslashes.
    """
    rows = conn.execute(
        """
        select child.relname, pg_get_expr(child.relpartbound, child.oid),
               current_setting('standard_conforming_strings')
        from pg_inherits as inh
        join pg_class as child on child.oid = inh.inhrelid
        where inh.inhparent = to_regclass(%s)
        """,
        (f"public.{table}",),
    ).fetchall()
    return [
        str(name)
        for name, bound, conforming in rows
        if bound == partition_bound(run_id, standard_conforming_strings=conforming == "on")
    ]


def partition_bound(run_id: str, *, standard_conforming_strings: bool = True) -> str:
    """``pg_get_expr`` of a LIST partition bound holding exactly ``run_id``."""
    text = run_id if standard_conforming_strings else run_id.replace("\\", "\\\\")
    return "FOR VALUES IN ('" + text.replace("'", "''") + "')"
