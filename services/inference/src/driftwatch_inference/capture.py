"""Capture writer: rows queued by request handlers, written as Parquet by a background thread.

The request path only appends to a bounded deque (never blocks, never touches the sink). A flusher
thread drains it when `flush_rows` rows are waiting or every `flush_interval_s`, and once more on
close, writing one file per hour partition per flush:
`<capture>/<prefix>/date=YYYY-MM-DD/hour=HH/<host>-<uuid>.parquet` (docs/architecture.md).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from driftwatch_capture.schema import TS

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
CONVERT_CHUNK = 1000
_US_PER_HOUR = 3_600_000_000


def utc_micros() -> int:
    """Now, as the capture's `ts`: integer microseconds since the epoch (cheaper than datetime, on the
    request path and in the flush, which partitions by integer division)."""
    return time.time_ns() // 1000


CountHook = Callable[[int], None]
DropHook = Callable[[int, str], None]


def _ignore_count(_: int) -> None:
    return None


def _ignore_drop(_: int, __: str) -> None:
    return None


class CaptureWriter:
    """Bounded, non-blocking Parquet appender for one dataset (predictions or feedback).

    Rows are tuples in schema order; the `ts_column` value is integer microseconds since the epoch
    (`utc_micros()`), written as timestamp[us, UTC].
    """

    def __init__(
        self,
        uri: str,
        prefix: str,
        schema: pa.Schema,
        *,
        host: str,
        queue_size: int,
        flush_rows: int,
        flush_interval_s: float,
        ts_column: str = TS,
        on_written: CountHook = _ignore_count,
        on_dropped: DropHook = _ignore_drop,
    ) -> None:
        self.uri = uri
        self.schema = schema
        self.host = host
        self.queue_size = queue_size
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self.writable = False
        self._fs, root = fsspec.core.url_to_fs(uri)
        self._root = f"{root.rstrip('/')}/{prefix.strip('/')}"
        self._ts_index = schema.names.index(ts_column)
        self._queue: deque[Row] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one flush at a time (flusher thread vs. close/tests)
        self._thread: threading.Thread | None = None
        self._on_written = on_written
        self._on_dropped = on_dropped

    @property
    def depth(self) -> int:
        return len(self._queue)

    def submit(self, rows: Sequence[Row]) -> int:
        """Queue rows; what does not fit is dropped and counted (`queue_full`). Returns rows accepted."""
        room = self.queue_size - len(self._queue)
        accepted = rows if len(rows) <= room else rows[: max(room, 0)]
        self._queue.extend(accepted)
        if len(accepted) < len(rows):
            self._on_dropped(len(rows) - len(accepted), "queue_full")
        if len(self._queue) >= self.flush_rows:
            self._wake.set()
        return len(accepted)

    def start(self) -> None:
        self.probe()
        self._thread = threading.Thread(target=self._run, name=f"capture-{self._root}", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the flusher and write everything still queued (called on shutdown, e.g. SIGTERM)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.flush(final=True)

    def probe(self) -> bool:
        """Check the sink takes writes (creates the dataset folder); updates `writable`."""
        marker = f"{self._root}/_probe-{self.host}-{uuid.uuid4().hex}"
        try:
            self._fs.makedirs(self._root, exist_ok=True)
            with self._fs.open(marker, "wb") as handle:
                handle.write(b"")
            self._fs.rm(marker)
        except Exception as exc:  # any fsspec backend error means "not writable"
            if self.writable or self._thread is None:
                log.error("capture sink not writable", extra={"uri": self.uri, "error": str(exc)})
            self.writable = False
        else:
            self.writable = True
        return self.writable

    def flush(self, *, final: bool = False) -> int:
        """Write the rows queued now; on a write error they go back to the queue (or are dropped on close)."""
        with self._lock:
            batch = [self._queue.popleft() for _ in range(len(self._queue))]
            if not batch:
                return 0
            try:
                self._write(batch)
            except Exception as exc:  # a failed write must not kill the flusher thread
                self.writable = False
                log.error(
                    "capture write failed", extra={"uri": self.uri, "rows": len(batch), "error": str(exc)}
                )
                self._requeue(batch, final=final)
                return 0
            self.writable = True
            self._on_written(len(batch))
            return len(batch)

    def _requeue(self, batch: list[Row], *, final: bool) -> None:
        room = 0 if final else max(self.queue_size - len(self._queue), 0)
        keep = batch[len(batch) - room :] if room < len(batch) else batch
        if room < len(batch):
            self._on_dropped(len(batch) - room, "write_error")
        if keep and room:
            self._queue.extendleft(reversed(keep))

    def _write(self, batch: list[Row]) -> None:
        by_hour: dict[int, list[Row]] = {}
        ts_index = self._ts_index
        for row in batch:
            by_hour.setdefault(row[ts_index] // _US_PER_HOUR, []).append(row)
        for hour_number, rows in by_hour.items():
            start = datetime.fromtimestamp(hour_number * 3600, UTC)
            date, hour = start.strftime("%Y-%m-%d"), start.hour
            table = pa.Table.from_batches(self._batches(rows), schema=self.schema)
            folder = f"{self._root}/date={date}/hour={hour:02d}"
            name = f"{self.host}-{uuid.uuid4().hex}.parquet"
            self._fs.makedirs(folder, exist_ok=True)
            # Readers skip dot-files, so a half-written file is never read; the rename publishes it.
            partial = f"{folder}/.{name}.partial"
            with self._fs.open(partial, "wb") as handle:
                pq.write_table(table, handle)
            self._fs.mv(partial, f"{folder}/{name}")

    def _batches(self, rows: list[Row]) -> Iterator[pa.RecordBatch]:
        """Arrow batches of CONVERT_CHUNK rows. Converting Python objects holds the GIL, so a whole
        flush in one call would stall the event loop for tens of ms (a p99 spike); between chunks the
        thread yields, and requests go on."""
        for start in range(0, len(rows), CONVERT_CHUNK):
            columns = zip(*rows[start : start + CONVERT_CHUNK], strict=True)
            arrays = [pa.array(col, type=field.type) for col, field in zip(columns, self.schema, strict=True)]
            yield pa.RecordBatch.from_arrays(arrays, schema=self.schema)
            time.sleep(0)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            if self._queue:
                self.flush()
            else:
                self.probe()
