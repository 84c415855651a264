"""Reading a run's files line by line into COPY rows, one stream per raw table.

Every line is parsed and checked once (``load/records.py``); a bad line becomes a reject
with its file and line number, a good one a row of COPY text (the original bytes, or the
repaired JSON when ``NaN`` had to become ``null``). The scanner never touches the database,
so ``qc load --dry-run`` and the real load share every check.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from quality_compass.load.copy_writer import copy_field, escape_copy_text
from quality_compass.load.file_reader import FileReader
from quality_compass.load.records import (
    LineError,
    check_classification,
    check_contribution,
    check_entity,
    check_node_header,
    classification_from_csv,
    csv_dimension_columns,
    error_line,
    parse_json,
)
from quality_compass.load.references import (
    DependentReason,
    NodeKeys,
    RunReferences,
    classification_references,
    contribution_references,
    document_reason,
    new_entity_reason,
)
from quality_compass.load.report import (
    FileStats,
    LoadReport,
    ProgressCallback,
)
from quality_compass.needle.conventions import is_aggregate_node
from quality_compass.needle.documents import read_json_document, taxonomy_dimensions
from quality_compass.needle.layout import GRAPH, split_contribution_name
from quality_compass.needle.run_files import open_run_file
from quality_compass.needle.run_folder import RunFile, RunInventory
from quality_compass.needle.vocabulary import CSV_REQUIRED
from quality_compass.warehouse.raw_schema import RAW_TABLES, RawTable


@dataclass(frozen=True)
class _NodeHeader:
    """What the entity lines of a node file are checked against (from line 1)."""

    node_id_field: bytes
    metric_id: str
    aggregate: bool
    entity_results_count: int
    keys: NodeKeys  # entity keys of the node's lines (RunReferences.entities)


class RunScanner:
    """Reads a run's files and yields COPY rows per raw table, collecting rejects."""

    def __init__(
        self,
        run_inventory: RunInventory,
        report: LoadReport,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.run_inventory = run_inventory
        self.reader = FileReader(report, progress)
        self._headers: list[bytes] = []
        self.references = RunReferences.from_graph(
            read_json_document(run_inventory.run_dir / GRAPH)
        )

    def tables(self) -> Iterator[tuple[RawTable, Iterator[bytes]]]:
        """(raw table, its rows) in the fixed order of ``RAW_TABLES``."""
        producers = {
            "raw_entity_results": self.entity_rows,
            "raw_node_results": self.node_rows,
            "raw_contributions": self.contribution_rows,
            "raw_classifications": self.classification_rows,
            "raw_run_documents": self.document_rows,
        }
        for table in RAW_TABLES:
            yield table, producers[table.name]()

    # -- node result files -------------------------------------------------------

    def entity_rows(self) -> Iterator[bytes]:
        for run_file in self.run_inventory.of_kind("node"):
            yield from self._node_file(run_file)
        for run_file in self.run_inventory.of_kind("legacy_node"):
            yield from self._legacy_node_file(run_file)

    def node_rows(self) -> Iterator[bytes]:
        """Node headers collected while scanning the entity lines."""
        yield from self._headers

    def _node_file(self, run_file: RunFile) -> Iterator[bytes]:
        stats = self.reader.stats(run_file, "raw_entity_results")
        rel = copy_field(run_file.rel)
        stem = run_file.path.name.removesuffix(".jsonl")
        header: _NodeHeader | None = None
        header_rejected = False
        last = 0
        for number, line in self.reader.lines(run_file, stats):
            last = number
            if header is None and not header_rejected:
                header = self._node_header(stats, rel, stem, number, line)
                header_rejected = header is None
            elif header is None:
                self.reader.reject(
                    stats, number, "not loaded: the node header (line 1) was rejected"
                )
            else:
                row = self._entity_row(stats, rel, header, number, line)
                if row is not None:
                    yield row
        if header is None and not header_rejected:
            self.reader.reject(stats, 1, "empty file: no node_metadata header line")
        elif header is not None:
            # every non-blank line after the header is an entity line
            if header.entity_results_count != stats.lines - 1:
                header.keys.incomplete = True
            self.reader.check_declared(
                stats,
                last,
                "the header",
                "entity_results_count",
                header.entity_results_count,
                stats.lines - 1,
                "entity line(s)",
                "truncated or padded file?",
            )

    def _node_header(
        self, stats: FileStats, rel: bytes, stem: str, number: int, line: bytes
    ) -> _NodeHeader | None:
        """Check line 1 and keep it as the node's row; None after recording a reject."""
        try:
            obj, payload = parse_json(line)
        except LineError as exc:
            self.reader.reject(stats, number, f"node header: {exc}", line)
            return None
        reason = check_node_header(obj, stem) or self.references.node_reason(
            obj["canonical_node_id"], "canonical_node_id"
        )
        if reason:
            self.reader.reject(stats, number, reason, line)
            return None
        header = _NodeHeader(
            node_id_field=copy_field(obj["canonical_node_id"]),
            metric_id=obj["metric_id"],
            aggregate=is_aggregate_node(stem, obj),
            entity_results_count=obj["entity_results_count"],
            keys=self.references.node_file(obj["canonical_node_id"]),
        )
        self._headers.append(
            b"%s\t%d\t%s\t%s\n"
            % (rel, number, header.node_id_field, escape_copy_text(payload or line))
        )
        return header

    def _entity_row(
        self,
        stats: FileStats,
        rel: bytes,
        header: _NodeHeader,
        number: int,
        line: bytes,
    ) -> bytes | None:
        try:
            obj, payload = parse_json(line)
        except LineError as exc:
            self.reader.reject(stats, number, str(exc), line)
            header.keys.incomplete = True
            return None
        reason = check_entity(obj, header.metric_id, header.aggregate) or new_entity_reason(
            obj, header.keys
        )
        if reason:
            self.reader.reject(stats, number, reason, line)
            header.keys.incomplete = True
            return None
        stats.rows += 1
        return b"%s\t%d\t%s\t%s\n" % (
            rel,
            number,
            header.node_id_field,
            escape_copy_text(payload or line),
        )

    def _legacy_node_file(self, run_file: RunFile) -> Iterator[bytes]:
        """``results/nodes/<id>.json``: header fields plus an ``entity_results`` array."""
        stats = self.reader.stats(run_file, "raw_entity_results")
        rel = copy_field(run_file.rel)
        stem = run_file.path.name.removesuffix(".json")
        data = self.reader.read_whole(run_file, stats)
        try:
            obj, _ = parse_json(data)
        except LineError as exc:
            self.reader.reject(stats, error_line(str(exc)), str(exc))
            return
        if not isinstance(obj, dict) or not isinstance(obj.get("entity_results"), list):
            self.reader.reject(
                stats, 1, "legacy node file must be an object with an 'entity_results' array"
            )
            return
        entities = obj.pop("entity_results")
        obj.setdefault("type", "node_metadata")
        obj.setdefault("entity_results_count", len(entities))
        reason = check_node_header(obj, stem) or self.references.node_reason(
            obj["canonical_node_id"], "canonical_node_id"
        )
        if reason:
            self.reader.reject(stats, 1, reason)
            return
        node_id_field = copy_field(obj["canonical_node_id"])
        self._headers.append(
            b"%s\t\\N\t%s\t%s\n" % (rel, node_id_field, escape_copy_text(orjson.dumps(obj)))
        )
        aggregate = is_aggregate_node(stem, obj)
        keys = self.references.node_file(obj["canonical_node_id"])
        for index, entity in enumerate(entities, 1):
            reason = check_entity(entity, obj["metric_id"], aggregate) or new_entity_reason(
                entity, keys
            )
            if reason:
                self.reader.reject(stats, None, f"entity_results[{index - 1}]: {reason}")
                keys.incomplete = True
                continue
            stats.rows += 1
            yield b"%s\t%d\t%s\t%s\n" % (
                rel,
                index,
                node_id_field,
                escape_copy_text(orjson.dumps(entity)),
            )

    # -- contributions -------------------------------------------------------------

    def contribution_rows(self) -> Iterator[bytes]:
        for run_file in self.run_inventory.of_kind("contribution"):
            stats = self.reader.stats(run_file, "raw_contributions")
            rel = copy_field(run_file.rel)
            child_node_id, metric = split_contribution_name(run_file.path.name)
            check = functools.partial(
                self._contribution_reason, child_node_id=child_node_id, metric=metric
            )
            last = 0
            for number, line in self.reader.lines(run_file, stats):
                last = number
                text = self.reader.checked(stats, number, line, check)
                if text is not None:
                    stats.rows += 1
                    yield b"%s\t%d\t%s\n" % (rel, number, text)
            self.reader.check_declared(
                stats,
                last or None,
                "contribution index.json",
                "row_count",
                run_file.expected_rows,
                stats.lines,
                "line(s)",
            )

    def _contribution_reason(self, obj: Any, child_node_id: str, metric: str) -> str | None:
        return check_contribution(obj, child_node_id, metric) or contribution_references(
            obj, self.references
        )

    # -- classifications -------------------------------------------------------------

    def _classification_reason(self, obj: Any) -> str | None:
        return check_classification(obj) or classification_references(obj, self.references)

    def classification_rows(self) -> Iterator[bytes]:
        for run_file in self.run_inventory.of_kind("classification_jsonl"):
            yield from self._classification_jsonl(run_file)
        for run_file in self.run_inventory.of_kind("classification_csv"):
            yield from self._classification_csv(run_file)

    def _check_total(self, run_file: RunFile, stats: FileStats, last: int | None) -> None:
        self.reader.check_declared(
            stats,
            last,
            "classification index.json",
            "total_entities",
            run_file.expected_rows,
            stats.lines,
            "record(s)",
        )

    def _classification_jsonl(self, run_file: RunFile) -> Iterator[bytes]:
        stats = self.reader.stats(run_file, "raw_classifications")
        rel = copy_field(run_file.rel)
        last = 0
        for number, line in self.reader.lines(run_file, stats):
            last = number
            text = self.reader.checked(stats, number, line, self._classification_reason)
            if text is not None:
                stats.rows += 1
                yield b"%s\t%d\tjsonl\t%s\n" % (rel, number, text)
        self._check_total(run_file, stats, last or None)

    def _classification_csv(self, run_file: RunFile) -> Iterator[bytes]:
        stats = self.reader.stats(run_file, "raw_classifications")
        rel = copy_field(run_file.rel)
        binary = open_run_file(run_file.path, run_file.rel, run_file.identity)
        with io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = self._csv_header(reader, stats)
            if header is None:
                return
            dimensions = csv_dimension_columns(
                header, taxonomy_dimensions(self.run_inventory.run_dir)
            )
            previous_end = reader.line_num
            while True:
                start = previous_end + 1
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except (csv.Error, UnicodeDecodeError) as exc:
                    stats.lines += 1
                    self.reader.reject(stats, start, f"malformed CSV: {exc}")
                    previous_end = reader.line_num
                    continue
                previous_end = reader.line_num
                row = self._csv_row(stats, rel, header, dimensions, start, values)
                if row is not None:
                    yield row
            self._check_total(run_file, stats, previous_end or None)

    def _csv_header(self, reader: Iterator[list[str]], stats: FileStats) -> list[str] | None:
        """The CSV's header row, or None after recording why the file cannot be read."""
        try:
            header = next(reader)
        except StopIteration:
            self.reader.reject(stats, 1, "empty file: no CSV header")
            return None
        except (csv.Error, UnicodeDecodeError) as exc:
            self.reader.reject(stats, 1, f"unreadable CSV header: {exc}")
            return None
        missing = [c for c in CSV_REQUIRED if c not in header]
        if missing:
            self.reader.reject(
                stats, 1, f"CSV header lacks required column(s): {', '.join(missing)}"
            )
            return None
        return header

    def _csv_row(
        self,
        stats: FileStats,
        rel: bytes,
        header: list[str],
        dimensions: list[str],
        start: int,
        values: list[str],
    ) -> bytes | None:
        """One CSV record as a classification row in the JSONL shape (None: blank or rejected)."""
        self.reader.progress(sum(len(v) for v in values) + len(values))
        if not values or all(not v.strip() for v in values):
            return None
        stats.lines += 1
        if len(values) != len(header):
            self.reader.reject(
                stats,
                start,
                f"expected {len(header)} CSV fields, got {len(values)}",
                ",".join(values),
            )
            return None
        try:
            record = classification_from_csv(dict(zip(header, values, strict=True)), dimensions)
        except LineError as exc:
            self.reader.reject(stats, start, str(exc), ",".join(values))
            return None
        reason = self._classification_reason(record)
        if isinstance(reason, DependentReason):
            self.reader.leave_out(stats, start, reason)
            return None
        if reason:
            self.reader.reject(stats, start, reason, ",".join(values))
            return None
        stats.rows += 1
        return b"%s\t%d\tcsv\t%s\n" % (rel, start, escape_copy_text(orjson.dumps(record)))

    # -- documents ---------------------------------------------------------------------

    def document_rows(self) -> Iterator[bytes]:
        for run_file in self.run_inventory.of_kind("document"):
            stats = self.reader.stats(run_file, "raw_run_documents")
            data = self.reader.read_whole(run_file, stats)
            if not data.strip():
                self.reader.reject(stats, 1, "empty file")
                continue
            try:
                obj, _ = parse_json(data)
            except LineError as exc:
                self.reader.reject(stats, error_line(str(exc)) or 1, str(exc))
                continue
            if not isinstance(obj, dict):
                self.reader.reject(stats, 1, "expected a JSON object")
                continue
            reason = document_reason(run_file.document_type, obj)
            if reason:
                self.reader.reject(stats, None, reason)
                continue
            stats.rows += 1
            doc_type = (run_file.document_type or "").encode()
            yield b"%s\t%s\t%s\n" % (
                doc_type,
                copy_field(run_file.rel),
                escape_copy_text(orjson.dumps(obj)),
            )
