"""COPY text format and the writer that streams it to PostgreSQL.

Rows are lines of COPY's text format: tab-separated fields, backslash escapes, ``\\N`` for
null. The writer sends from a worker thread with a bounded queue, so parsing (Python)
overlaps with the server's jsonb input and memory stays flat.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from typing import Any

import psycopg
from psycopg.copy import LibpqWriter

COPY_CHUNK = 4 << 20  # bytes handed to COPY at a time
COPY_QUEUE_CHUNKS = 8  # chunks prepared ahead of the server (bounds memory: 32 MB)
#: The interpreter's switch interval (seconds) while a COPY sends (see ``write``).
SWITCH_INTERVAL = float(os.environ.get("QC_COPY_SWITCH_INTERVAL", "0.0005"))


def escape_copy_text(data: bytes) -> bytes:
    """Escape a value for COPY's text format."""
    data = data.replace(b"\\", b"\\\\")
    if b"\t" in data or b"\n" in data or b"\r" in data:
        data = data.replace(b"\t", b"\\t").replace(b"\n", b"\\n").replace(b"\r", b"\\r")
    return data


def copy_field(text: str) -> bytes:
    """A text field of a COPY row."""
    return escape_copy_text(text.encode())


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
        self._switch_interval = sys.getswitchinterval()

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
            # The sender needs the GIL after every socket wait; with the default 5 ms switch
            # interval a busy parsing thread makes each of those waits up to 5 ms longer and
            # starves the server. A short interval keeps the server fed.
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL)
            self._thread = threading.Thread(target=self._work, name="qc-copy-writer", daemon=True)
            self._thread.start()
        self._queue.put(bytes(data))

    def finish(self, exc: BaseException | None = None) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
            sys.setswitchinterval(self._switch_interval)
        if self._error is not None and exc is None:
            raise self._error
        super().finish(exc)
