"""``qc load``: validate a run folder and write it into the raw tables, atomically.

One run loads in one transaction:

1. take a per-run advisory lock (two loads of the same run queue; different runs don't);
2. create fresh tables, one per raw table, for this load (``<table>__l<load_id>``);
3. stream every file line by line: parse, validate, and COPY the good lines (their
   original text; JSON is parsed once here and once by PostgreSQL's jsonb input);
4. on success, drop the run's previous partitions, attach the new ones, update
   ``raw_runs`` and write the ``raw_loads`` audit row — then commit.

A failure, Ctrl-C or a killed process before the commit leaves the database as it was;
the new tables vanish with the rolled-back transaction. Memory stays bounded: a file is
never held whole (except the legacy unsharded ``results/nodes/*.json`` layout).
"""

from __future__ import annotations

import csv
import functools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.copy import LibpqWriter

from quality_compass import __version__
from quality_compass.config import DbSettings
from quality_compass.db import connect
from quality_compass.errors import QcError
from quality_compass.records import (
    BOM,
    CSV_REQUIRED,
    LineError,
    check_classification,
    check_contribution,
    check_entity,
    check_node_header,
    classification_from_csv,
    csv_dimension_columns,
    entity_key,
    error_line,
    is_aggregate_node,
    parse_json,
    parse_timestamp,
    split_contribution_name,
)
from quality_compass.runs import DOCUMENTS, RunFile, RunInventory, inventory, read_json_document
from quality_compass.schemas import (
    RAW_TABLES,
    RawTable,
    ensure_schema,
    partition_name,
    run_partitions,
)

COPY_CHUNK = 4 << 20  # bytes handed to COPY at a time
COPY_QUEUE_CHUNKS = 8  # chunks prepared ahead of the server (bounds memory: 32 MB)
KEPT_REJECTS = 1000  # rejects kept in memory / stored per load
REJECT_TEXT_LIMIT = 2000  # characters of an offending line stored
SHOWN_REJECTS = 10  # rejects listed in an error message


@dataclass
class Reject:
    file_path: str
    line_number: int | None
    reason: str
    text: str | None = None

    def __str__(self) -> str:
        where = (
            f"{self.file_path}:{self.line_number}"
            if self.line_number is not None
            else self.file_path
        )
        return f"{where}: {self.reason}"


@dataclass
class LoadOptions:
    dry_run: bool = False
    max_rejects: int = 0  # 0 = strict: any reject fails the load
    keep_runs: int | None = None


@dataclass
class FileStats:
    rel: str
    kind: str
    table: str
    bytes: int
    lines: int = 0
    rows: int = 0
    rejects: int = 0


@dataclass
class LoadReport:
    run_id: str
    graph_name: str
    run_dir: Path
    status: str = "running"
    load_id: int | None = None
    dry_run: bool = False
    rows: dict[str, int] = field(default_factory=lambda: {t.name: 0 for t in RAW_TABLES})
    bytes: int = 0
    seconds: float = 0.0
    reject_count: int = 0
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[FileStats] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    replaced_load_id: int | None = None

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0


class LoadRejected(QcError):
    """The run has more invalid lines than allowed; nothing was written."""


def _escape(data: bytes) -> bytes:
    """Escape a value for COPY's text format."""
    data = data.replace(b"\\", b"\\\\")
    if b"\t" in data or b"\n" in data or b"\r" in data:
        data = data.replace(b"\t", b"\\t").replace(b"\n", b"\\n").replace(b"\r", b"\\r")
    return data


def _field(text: str) -> bytes:
    return _escape(text.encode())


class BoundedQueuedWriter(LibpqWriter):
    """COPY writer that sends from a worker thread, with at most a few chunks queued.

    Parsing and validating (Python, this thread) then overlaps with PostgreSQL's jsonb
    parsing (the server process): while the server digests one chunk, the next ones are
    prepared. With psycopg's plain writer the two alternate, because a unix socket buffers
    only a few hundred kilobytes. The queue is bounded, so memory stays flat however much
    faster one side is.
    """

    def __init__(self, cursor: psycopg.Cursor[Any], max_chunks: int = COPY_QUEUE_CHUNKS) -> None:
        super().__init__(cursor)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=max_chunks)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _work(self) -> None:
        try:
            while (data := self._queue.get()) is not None:
                LibpqWriter.write(self, data)
        except BaseException as exc:
            self._error = exc
            while self._queue.get() is not None:  # unblock the producer
                pass

    def write(self, data: Any) -> None:
        if self._error is not None:
            raise self._error
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="qc-copy-writer", daemon=True)
            self._thread.start()
        self._queue.put(bytes(data))

    def finish(self, exc: BaseException | None = None) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._error is not None and exc is None:
            raise self._error
        super().finish(exc)


ProgressCallback = Callable[[int], None]


class RunScanner:
    """Reads a run's files and yields COPY rows per raw table, collecting rejects.

    It is independent of the database, so ``--dry-run`` and the real load share every check.
    """

    def __init__(
        self, inv: RunInventory, report: LoadReport, progress: ProgressCallback | None = None
    ) -> None:
        self.inv = inv
        self.report = report
        self.progress = progress or (lambda n: None)
        self._headers: list[bytes] = []

    # -- bookkeeping -----------------------------------------------------------

    def reject(
        self, stats: FileStats, line: int | None, reason: str, text: bytes | str | None = None
    ) -> None:
        stats.rejects += 1
        self.report.reject_count += 1
        if len(self.report.rejects) < KEPT_REJECTS:
            if isinstance(text, bytes):
                text = text.decode("utf-8", errors="replace")
            if text is not None and len(text) > REJECT_TEXT_LIMIT:
                text = text[:REJECT_TEXT_LIMIT] + "…"
            self.report.rejects.append(Reject(stats.rel, line, reason, text))

    def _checked(
        self, stats: FileStats, number: int, line: bytes, check: Callable[[Any], str | None]
    ) -> bytes | None:
        """Parse and check one line: its COPY text, or None after recording the reject."""
        try:
            obj, payload = parse_json(line)
        except LineError as exc:
            self.reject(stats, number, str(exc), line)
            return None
        reason = check(obj)
        if reason:
            self.reject(stats, number, reason, line)
            return None
        return _escape(payload or line)

    def _stats(self, f: RunFile, table: str) -> FileStats:
        stats = FileStats(rel=f.rel, kind=f.kind, table=table, bytes=f.size)
        self.report.files.append(stats)
        return stats

    def _lines(self, f: RunFile, stats: FileStats) -> Iterator[tuple[int, bytes]]:
        """Non-blank lines with their 1-based physical numbers; BOM and CR tolerated."""
        pending = 0
        try:
            handle = open(f.path, "rb")  # noqa: SIM115 - closed below, read errors reported
        except OSError as exc:
            raise QcError(f"cannot read {f.rel}: {exc.strerror}") from None
        with handle:
            number = 0
            try:
                for number, raw in enumerate(handle, 1):
                    pending += len(raw)
                    if pending >= 1 << 20:
                        self.progress(pending)
                        pending = 0
                    if number == 1 and raw.startswith(BOM):
                        raw = raw[3:]
                    line = raw.rstrip(b"\r\n")
                    if not line or line.isspace():
                        continue
                    stats.lines += 1
                    yield number, line
            except OSError as exc:
                raise QcError(
                    f"cannot read {f.rel} (after line {number}): {exc.strerror}"
                ) from None
        self.progress(pending)

    # -- node result files -------------------------------------------------------

    def entity_rows(self) -> Iterator[bytes]:
        for f in self.inv.of_kind("node"):
            yield from self._node_file(f)
        for f in self.inv.of_kind("legacy_node"):
            yield from self._legacy_node_file(f)

    def _node_file(self, f: RunFile) -> Iterator[bytes]:
        stats = self._stats(f, "raw_entity_results")
        rel = _field(f.rel)
        stem = f.path.name.removesuffix(".jsonl")
        header: dict[str, Any] | None = None
        header_rejected = False
        node_id_field = b""
        metric_id = ""
        aggregate = True
        seen: set[int] = set()
        entities = 0
        last = 0
        for number, line in self._lines(f, stats):
            last = number
            if header is None and not header_rejected:
                try:
                    obj, payload = parse_json(line)
                except LineError as exc:
                    self.reject(stats, number, f"node header: {exc}", line)
                    header_rejected = True
                    continue
                reason = check_node_header(obj, stem)
                if reason:
                    self.reject(stats, number, reason, line)
                    header_rejected = True
                    continue
                header = obj
                metric_id = obj["metric_id"]
                aggregate = is_aggregate_node(stem, obj)
                node_id_field = _field(obj["canonical_node_id"])
                self._headers.append(
                    b"%s\t%d\t%s\t%s\n" % (rel, number, node_id_field, _escape(payload or line))
                )
                continue
            if header_rejected:
                self.reject(stats, number, "not loaded: the node header (line 1) was rejected")
                continue
            try:
                obj, payload = parse_json(line)
            except LineError as exc:
                self.reject(stats, number, str(exc), line)
                continue
            reason = check_entity(obj, metric_id, aggregate)
            if reason is None:
                key = entity_key(obj)
                if key in seen:
                    reason = "duplicate entity key " + ", ".join(
                        f"{e['id']}={e['value']}" for e in obj["entity"]
                    )
                else:
                    seen.add(key)
            if reason:
                self.reject(stats, number, reason, line)
                continue
            entities += 1
            stats.rows += 1
            yield b"%s\t%d\t%s\t%s\n" % (rel, number, node_id_field, _escape(payload or line))
        if header is None and not header_rejected:
            self.reject(stats, 1, "empty file: no node_metadata header line")
        elif header is not None:
            # every non-blank line after the header is an entity line
            self._check_declared(
                stats,
                last,
                "the header",
                "entity_results_count",
                header["entity_results_count"],
                stats.lines - 1,
                "entity line(s)",
                "truncated or padded file?",
            )

    def _legacy_node_file(self, f: RunFile) -> Iterator[bytes]:
        """``results/nodes/<id>.json``: header fields plus an ``entity_results`` array."""
        stats = self._stats(f, "raw_entity_results")
        rel = _field(f.rel)
        stem = f.path.name.removesuffix(".json")
        try:
            data = f.path.read_bytes().removeprefix(BOM)
        except OSError as exc:
            raise QcError(f"cannot read {f.rel}: {exc.strerror}") from None
        self.progress(len(data))
        stats.lines = data.count(b"\n") + 1
        try:
            obj, _ = parse_json(data)
        except LineError as exc:
            self.reject(stats, error_line(str(exc)), str(exc))
            return
        if not isinstance(obj, dict) or not isinstance(obj.get("entity_results"), list):
            self.reject(
                stats, 1, "legacy node file must be an object with an 'entity_results' array"
            )
            return
        entities = obj.pop("entity_results")
        obj.setdefault("type", "node_metadata")
        obj.setdefault("entity_results_count", len(entities))
        reason = check_node_header(obj, stem)
        if reason:
            self.reject(stats, 1, reason)
            return
        node_id_field = _field(obj["canonical_node_id"])
        self._headers.append(
            b"%s\t\\N\t%s\t%s\n" % (rel, node_id_field, _escape(orjson.dumps(obj)))
        )
        aggregate = is_aggregate_node(stem, obj)
        seen: set[int] = set()
        for index, entity in enumerate(entities, 1):
            reason = check_entity(entity, obj["metric_id"], aggregate)
            if reason is None:
                key = entity_key(entity)
                reason = "duplicate entity key" if key in seen else None
                seen.add(key)
            if reason:
                self.reject(stats, None, f"entity_results[{index - 1}]: {reason}")
                continue
            stats.rows += 1
            yield b"%s\t%d\t%s\t%s\n" % (rel, index, node_id_field, _escape(orjson.dumps(entity)))

    def node_rows(self) -> Iterator[bytes]:
        """Node headers collected while scanning the entity lines."""
        yield from self._headers

    # -- contributions -------------------------------------------------------------

    def contribution_rows(self) -> Iterator[bytes]:
        for f in self.inv.of_kind("contribution"):
            stats = self._stats(f, "raw_contributions")
            rel = _field(f.rel)
            child_node_id, metric = split_contribution_name(f.path.name)
            check = functools.partial(
                check_contribution, child_node_id=child_node_id, metric=metric
            )
            last = 0
            for number, line in self._lines(f, stats):
                last = number
                text = self._checked(stats, number, line, check)
                if text is not None:
                    stats.rows += 1
                    yield b"%s\t%d\t%s\n" % (rel, number, text)
            self._check_declared(
                stats,
                last or None,
                "contribution index.json",
                "row_count",
                f.expected_rows,
                stats.lines,
                "line(s)",
            )

    # -- classifications -------------------------------------------------------------

    def classification_rows(self) -> Iterator[bytes]:
        for f in self.inv.of_kind("classification_jsonl"):
            yield from self._classification_jsonl(f)
        for f in self.inv.of_kind("classification_csv"):
            yield from self._classification_csv(f)

    def _check_total(self, f: RunFile, stats: FileStats, last: int | None) -> None:
        self._check_declared(
            stats,
            last,
            "classification index.json",
            "total_entities",
            f.expected_rows,
            stats.lines,
            "record(s)",
        )

    def _check_declared(
        self,
        stats: FileStats,
        line: int | None,
        declarer: str,
        key: str,
        declared: int | None,
        found: int,
        unit: str,
        hint: str = "truncated file?",
    ) -> None:
        """A count declared by a header or an index must equal what the file holds."""
        if declared is not None and declared != found:
            self.reject(
                stats,
                line,
                f"{declarer} declares {key}={declared} but the file has {found} {unit} ({hint})",
            )

    def _classification_jsonl(self, f: RunFile) -> Iterator[bytes]:
        stats = self._stats(f, "raw_classifications")
        rel = _field(f.rel)
        last = 0
        for number, line in self._lines(f, stats):
            last = number
            text = self._checked(stats, number, line, check_classification)
            if text is not None:
                stats.rows += 1
                yield b"%s\t%d\tjsonl\t%s\n" % (rel, number, text)
        self._check_total(f, stats, last or None)

    def _classification_csv(self, f: RunFile) -> Iterator[bytes]:
        stats = self._stats(f, "raw_classifications")
        rel = _field(f.rel)
        try:
            handle = open(f.path, encoding="utf-8-sig", newline="")  # noqa: SIM115
        except OSError as exc:
            raise QcError(f"cannot read {f.rel}: {exc.strerror}") from None
        with handle:
            reader = csv.reader(handle)
            try:
                header = next(reader)
            except StopIteration:
                self.reject(stats, 1, "empty file: no CSV header")
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                self.reject(stats, 1, f"unreadable CSV header: {exc}")
                return
            missing = [c for c in CSV_REQUIRED if c not in header]
            if missing:
                self.reject(stats, 1, f"CSV header lacks required column(s): {', '.join(missing)}")
                return
            dimensions = csv_dimension_columns(header, _taxonomy_dimensions(self.inv))
            previous_end = reader.line_num
            while True:
                start = previous_end + 1
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except (csv.Error, UnicodeDecodeError) as exc:
                    stats.lines += 1
                    self.reject(stats, start, f"malformed CSV: {exc}")
                    previous_end = reader.line_num
                    continue
                previous_end = reader.line_num
                self.progress(sum(len(v) for v in values) + len(values))
                if not values or all(not v.strip() for v in values):
                    continue
                stats.lines += 1
                if len(values) != len(header):
                    self.reject(
                        stats,
                        start,
                        f"expected {len(header)} CSV fields, got {len(values)}",
                        ",".join(values),
                    )
                    continue
                try:
                    record = classification_from_csv(
                        dict(zip(header, values, strict=True)), dimensions
                    )
                except LineError as exc:
                    self.reject(stats, start, str(exc), ",".join(values))
                    continue
                stats.rows += 1
                yield b"%s\t%d\tcsv\t%s\n" % (rel, start, _escape(orjson.dumps(record)))
            self._check_total(f, stats, previous_end or None)

    # -- documents ---------------------------------------------------------------------

    def document_rows(self) -> Iterator[bytes]:
        for f in self.inv.of_kind("document"):
            stats = self._stats(f, "raw_run_documents")
            try:
                data = f.path.read_bytes().removeprefix(BOM)
            except OSError as exc:
                raise QcError(f"cannot read {f.rel}: {exc.strerror}") from None
            self.progress(len(data))
            stats.lines = data.count(b"\n") + 1
            if not data.strip():
                self.reject(stats, 1, "empty file")
                continue
            try:
                obj, _ = parse_json(data)
            except LineError as exc:
                self.reject(stats, error_line(str(exc)) or 1, str(exc))
                continue
            if not isinstance(obj, dict):
                self.reject(stats, 1, "expected a JSON object")
                continue
            stats.rows += 1
            doc_type = (f.document_type or "").encode()
            yield b"%s\t%s\t%s\n" % (doc_type, _field(f.rel), _escape(orjson.dumps(obj)))

    def tables(self) -> Iterator[tuple[RawTable, Iterator[bytes]]]:
        producers = {
            "raw_entity_results": self.entity_rows,
            "raw_node_results": self.node_rows,
            "raw_contributions": self.contribution_rows,
            "raw_classifications": self.classification_rows,
            "raw_run_documents": self.document_rows,
        }
        for table in RAW_TABLES:
            yield table, producers[table.name]()


def _run_lock_key(conn: psycopg.Connection, run_id: str) -> int:
    row = conn.execute(
        "select hashtextextended(%s, 0)", (f"quality_compass.run:{run_id}",)
    ).fetchone()
    assert row is not None
    return int(row[0])


def _lock_run(conn: psycopg.Connection, run_id: str, notify: Callable[[str], None]) -> None:
    key = _run_lock_key(conn, run_id)
    got = conn.execute("select pg_try_advisory_xact_lock(%s)", (key,)).fetchone()
    if not (got and got[0]):
        notify(f"another load or drop of run {run_id} is in progress; waiting for it to finish")
        conn.execute("select pg_advisory_xact_lock(%s)", (key,))


def _run_started_at(inv: RunInventory) -> datetime | None:
    """``run_manifest.started_at``, parsed leniently (it is provenance, never required)."""
    manifest = read_json_document(inv.run_dir / DOCUMENTS["run_manifest"])
    started = manifest.get("started_at") if isinstance(manifest, dict) else None
    return parse_timestamp(started.strip()) if isinstance(started, str) else None


def _taxonomy(inv: RunInventory) -> dict[str, Any]:
    bundle = read_json_document(inv.run_dir / DOCUMENTS["metadata_bundle"])
    return bundle if isinstance(bundle, dict) else {}


def _taxonomy_dimensions(inv: RunInventory) -> set[str] | None:
    """Group-by type ids of the run's taxonomy (metadata_bundle.json), if readable."""
    types = _taxonomy(inv).get("group_by_types")
    ids = {t["id"] for t in types or [] if isinstance(t, dict) and isinstance(t.get("id"), str)}
    return ids or None


def _taxonomy_hash(inv: RunInventory) -> str | None:
    value = _taxonomy(inv).get("taxonomy_hash")
    return str(value) if value is not None else None


def _rejection_message(report: LoadReport, allowed: int) -> str:
    policy = "strict mode" if allowed == 0 else f"more than --max-rejects {allowed}"
    shown = "\n".join(f"  {reject}" for reject in report.rejects[:SHOWN_REJECTS])
    more = report.reject_count - min(len(report.rejects), SHOWN_REJECTS)
    tail = f"\n  … and {more} more" if more > 0 else ""
    hint = (
        "\nUse --max-rejects N to load the valid lines and keep the rejects in raw_load_rejects."
        if allowed == 0
        else ""
    )
    return (
        f"run {report.run_id}: {report.reject_count} invalid line(s), {policy}; nothing was written.\n"
        f"{shown}{tail}{hint}"
    )


def scan_only(
    inv: RunInventory, report: LoadReport, progress: ProgressCallback | None = None
) -> None:
    scanner = RunScanner(inv, report, progress)
    for table, rows in scanner.tables():
        report.rows[table.name] = sum(1 for _ in rows)


def load_run(
    run_dir: Path,
    settings: DbSettings | None,
    options: LoadOptions | None = None,
    *,
    progress_factory: Callable[[int], ProgressCallback] | None = None,
    notify: Callable[[str], None] | None = None,
) -> LoadReport:
    """Validate and load one run folder. Raises LoadRejected/QcError on failure."""
    options = options or LoadOptions()
    notify = notify or (lambda message: None)
    started = time.perf_counter()
    inv = inventory(run_dir)
    report = LoadReport(
        run_id=inv.run_id, graph_name=inv.graph_name, run_dir=inv.run_dir, dry_run=options.dry_run
    )
    report.warnings.extend(inv.warnings)
    report.bytes = inv.total_bytes
    progress = progress_factory(inv.total_bytes) if progress_factory else None
    allowed = max(options.max_rejects, 0)

    if options.dry_run:
        scan_only(inv, report, progress)
        report.seconds = time.perf_counter() - started
        report.status = "valid" if report.reject_count <= allowed else "invalid"
        return report

    if settings is None:
        raise QcError("no database configured", exit_code=2)
    conn = connect(settings)
    try:
        ensure_schema(conn, __version__)
        row = conn.execute("select nextval('public.raw_load_id_seq'), now()").fetchone()
        assert row is not None
        report.load_id = int(row[0])
        conn.commit()
        attempt_started = row[1]
        try:
            _load_transaction(conn, inv, report, options, progress, notify)
        except BaseException as exc:
            report.status = "failed"
            report.seconds = time.perf_counter() - started
            message = (
                exc.message
                if isinstance(exc, QcError)
                else (
                    "interrupted"
                    if isinstance(exc, KeyboardInterrupt)
                    else f"{type(exc).__name__}: {exc}"
                )
            )
            _record_failure(settings, report, options, attempt_started, message)
            if isinstance(exc, psycopg.Error):
                raise QcError(
                    f"load of run {inv.run_id} failed in the database: {str(exc).strip()}"
                ) from None
            raise
        report.status = "succeeded"
        if options.keep_runs is not None:
            report.pruned = prune_runs(conn, options.keep_runs, protect=inv.run_id)
    finally:
        conn.close()
    report.seconds = time.perf_counter() - started
    return report


def _load_transaction(
    conn: psycopg.Connection,
    inv: RunInventory,
    report: LoadReport,
    options: LoadOptions,
    progress: ProgressCallback | None,
    notify: Callable[[str], None],
) -> None:
    assert report.load_id is not None
    load_id = report.load_id
    allowed = max(options.max_rejects, 0)
    run_literal = sql.Literal(inv.run_id)
    with conn.transaction():
        _lock_run(conn, inv.run_id, notify)
        conn.execute("set local synchronous_commit = on")
        scanner = RunScanner(inv, report, progress)
        for table, rows in scanner.tables():
            part = partition_name(table.name, load_id)
            conn.execute(
                sql.SQL(
                    "create table public.{part} (like public.{table} including defaults, "
                    "constraint {check} check (run_id = {run}))"
                ).format(
                    part=sql.Identifier(part),
                    table=sql.Identifier(table.name),
                    check=sql.Identifier(f"{part}_run"),
                    run=run_literal,
                )
            )
            conn.execute(
                sql.SQL(
                    "alter table public.{part} alter column run_id set default {run}, "
                    "alter column load_id set default {load}"
                ).format(part=sql.Identifier(part), run=run_literal, load=sql.Literal(load_id))
            )
            copy_sql = sql.SQL("copy public.{part} ({cols}) from stdin").format(
                part=sql.Identifier(part),
                cols=sql.SQL(", ").join(map(sql.Identifier, table.copy_columns)),
            )
            count = 0
            with conn.cursor() as cur, cur.copy(copy_sql, writer=BoundedQueuedWriter(cur)) as copy:
                buffer = bytearray()
                for row in rows:
                    if report.reject_count > allowed:
                        continue  # keep scanning to count every reject; the load will fail
                    buffer += row
                    count += 1
                    if len(buffer) >= COPY_CHUNK:
                        copy.write(buffer)
                        buffer = bytearray()
                if buffer and report.reject_count <= allowed:
                    copy.write(buffer)
            report.rows[table.name] = count
        if report.reject_count > allowed:
            raise LoadRejected(_rejection_message(report, allowed))

        # Swap: the run's previous partitions out, the new ones in.
        previous = conn.execute(
            "select load_id from public.raw_runs where run_id = %s", (inv.run_id,)
        ).fetchone()
        report.replaced_load_id = int(previous[0]) if previous else None
        for table in RAW_TABLES:
            for old in run_partitions(conn, table.name, inv.run_id):
                conn.execute(sql.SQL("drop table public.{}").format(sql.Identifier(old)))
            conn.execute(
                sql.SQL(
                    "alter table public.{table} attach partition public.{part} for values in ({run})"
                ).format(
                    table=sql.Identifier(table.name),
                    part=sql.Identifier(partition_name(table.name, load_id)),
                    run=run_literal,
                )
            )
        rows_json = orjson.dumps(report.rows).decode()
        conn.execute(
            """
            insert into public.raw_runs as runs
                (run_id, graph_name, run_path, load_id, loaded_at, run_started_at, taxonomy_hash,
                 files, bytes, rows_by_table, rejects)
            values (%s, %s, %s, %s, now(), %s, %s, %s, %s, %s::jsonb, %s)
            on conflict (run_id) do update set
                graph_name = excluded.graph_name, run_path = excluded.run_path, load_id = excluded.load_id,
                loaded_at = excluded.loaded_at, run_started_at = excluded.run_started_at,
                taxonomy_hash = excluded.taxonomy_hash, files = excluded.files, bytes = excluded.bytes,
                rows_by_table = excluded.rows_by_table, rejects = excluded.rejects
            """,
            (
                inv.run_id,
                inv.graph_name,
                str(inv.run_dir),
                load_id,
                _run_started_at(inv),
                _taxonomy_hash(inv),
                len(inv.files),
                report.bytes,
                rows_json,
                report.reject_count,
            ),
        )
        _store_rejects(conn, report)
        conn.execute(
            """
            insert into public.raw_loads
                (load_id, run_id, graph_name, run_path, action, status, started_at, finished_at, files,
                 rows_by_table, bytes, rejects, warnings, error_message, loader_version, options)
            values (%s, %s, %s, %s, 'load', 'succeeded', now(), clock_timestamp(), %s, %s::jsonb, %s, %s,
                    %s::jsonb, null, %s, %s::jsonb)
            """,
            (
                load_id,
                inv.run_id,
                inv.graph_name,
                str(inv.run_dir),
                len(inv.files),
                rows_json,
                report.bytes,
                report.reject_count,
                orjson.dumps(report.warnings).decode(),
                __version__,
                orjson.dumps(
                    {"max_rejects": options.max_rejects, "keep_runs": options.keep_runs}
                ).decode(),
            ),
        )


def _store_rejects(conn: psycopg.Connection, report: LoadReport) -> None:
    if not report.rejects:
        return
    with conn.cursor() as cur:
        cur.executemany(
            """
            insert into public.raw_load_rejects (load_id, run_id, file_path, line_number, reason, raw_text)
            values (%s, %s, %s, %s, %s, %s)
            """,
            [
                (
                    report.load_id,
                    report.run_id,
                    r.file_path,
                    r.line_number,
                    r.reason,
                    _clean(r.text),
                )
                for r in report.rejects
            ],
        )


def _clean(text: str | None) -> str | None:
    return text.replace("\x00", "\\u0000") if text else text


def _record_failure(
    settings: DbSettings, report: LoadReport, options: LoadOptions, started_at: Any, message: str
) -> None:
    """Audit a failed attempt in its own transaction (the load's own was rolled back)."""
    try:
        with connect(settings) as conn, conn.transaction():
            conn.execute(
                """
                insert into public.raw_loads
                    (load_id, run_id, graph_name, run_path, action, status, started_at, finished_at, files,
                     rows_by_table, bytes, rejects, warnings, error_message, loader_version, options)
                values (%s, %s, %s, %s, 'load', 'failed', %s, clock_timestamp(), %s, null, %s, %s,
                        %s::jsonb, %s, %s, %s::jsonb)
                """,
                (
                    report.load_id,
                    report.run_id,
                    report.graph_name,
                    str(report.run_dir),
                    started_at,
                    len(report.files),
                    report.bytes,
                    report.reject_count,
                    orjson.dumps(report.warnings).decode(),
                    message[:10000],
                    __version__,
                    orjson.dumps(
                        {"max_rejects": options.max_rejects, "keep_runs": options.keep_runs}
                    ).decode(),
                ),
            )
            _store_rejects(conn, report)
    except Exception:
        pass


# -- run management ---------------------------------------------------------------------


@dataclass
class LoadedRun:
    run_id: str
    graph_name: str | None
    load_id: int
    loaded_at: datetime
    run_started_at: datetime | None
    files: int
    bytes: int
    rows_by_table: dict[str, int]
    rejects: int
    run_path: str | None


def list_runs(settings: DbSettings) -> list[LoadedRun]:
    with connect(settings) as conn:
        ensure_schema(conn, __version__)
        rows = conn.execute(
            """
            select run_id, graph_name, load_id, loaded_at, run_started_at, files, bytes, rows_by_table,
                   rejects, run_path
            from public.raw_runs
            order by run_id
            """
        ).fetchall()
    return [LoadedRun(*row) for row in rows]


def drop_run(conn: psycopg.Connection, run_id: str, action: str = "drop") -> bool:
    """Remove one run's raw rows (instant: its partitions are dropped). False if not loaded."""
    with conn.transaction():
        _lock_run(conn, run_id, lambda message: None)
        found = conn.execute(
            "select graph_name, run_path from public.raw_runs where run_id = %s", (run_id,)
        ).fetchone()
        partitions = [(t.name, p) for t in RAW_TABLES for p in run_partitions(conn, t.name, run_id)]
        if not found and not partitions:
            return False
        for _, part in partitions:
            conn.execute(sql.SQL("drop table public.{}").format(sql.Identifier(part)))
        conn.execute("delete from public.raw_runs where run_id = %s", (run_id,))
        load = conn.execute("select nextval('public.raw_load_id_seq')").fetchone()
        assert load is not None
        conn.execute(
            """
            insert into public.raw_loads
                (load_id, run_id, graph_name, run_path, action, status, started_at, finished_at,
                 loader_version)
            values (%s, %s, %s, %s, %s, 'succeeded', now(), clock_timestamp(), %s)
            """,
            (
                load[0],
                run_id,
                found[0] if found else None,
                found[1] if found else None,
                action,
                __version__,
            ),
        )
    return True


def drop_runs(settings: DbSettings, run_id: str) -> None:
    with connect(settings) as conn:
        ensure_schema(conn, __version__)
        if not drop_run(conn, run_id):
            raise QcError(f"run {run_id} is not loaded (see `qc runs list`)")


def prune_runs(conn: psycopg.Connection, keep: int, protect: str | None = None) -> list[str]:
    """Drop all but the newest ``keep`` runs (newest = greatest run_id, as ``--latest``)."""
    if keep < 1:
        raise QcError("--keep-runs must be at least 1", exit_code=2)
    rows = conn.execute("select run_id from public.raw_runs order by run_id desc").fetchall()
    conn.commit()
    victims = [str(r[0]) for r in rows[keep:] if r[0] != protect]
    for run_id in victims:
        drop_run(conn, run_id, action="prune")
    return victims
