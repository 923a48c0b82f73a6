"""Capture writer: rows queued by request handlers, written as Parquet by a background thread.

The request path only appends rows to a bounded buffer (capture_buffer.py: never blocks, never touches
the sink). A flusher thread converts them to Arrow each time CONVERT_AHEAD_ROWS are waiting, so that
what waits for a flush is held as Arrow columns, not as Python objects (about a fifth of the memory:
docs/benchmarks.md, "Inference service"; a longer `flush_interval_s` no longer means more objects), and
writes when `flush_rows` rows are waiting or every `flush_interval_s`, and once more on close: one file
per hour partition per flush,
`<capture>/<prefix>/date=YYYY-MM-DD/hour=HH/<host>-<uuid>.parquet` (docs/architecture.md).

In the durable mode (a `spool_dir`) a spool thread first takes the queue in groups, every
`group_interval_s`, and fsyncs each group to a local Arrow IPC segment (capture_spool.py); the flusher
then writes whole segments to Parquet, each named `<host>-<segment id>.parquet`, and removes them.
Segments a crash left behind are written at start, before the service answers: a SIGKILL loses at
most the group not yet fsync'd, and a segment written twice overwrites its own files.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from driftwatch_capture import sketches
from driftwatch_capture.schema import REQUEST_ID, TS
from fsspec.implementations.local import LocalFileSystem

from driftwatch_inference.capture_buffer import CONVERT_CHUNK, Block, ColumnTransform, Row, RowBuffer
from driftwatch_inference.capture_spool import Spool, SpoolError, fsync_path, new_segment_id
from driftwatch_inference.model_source import filesystem

log = logging.getLogger(__name__)

_US_PER_HOUR = 3_600_000_000
# What a name of this writer's files holds after `<host>-`: a uuid4 or a segment id, both 32 hex digits.
_FILE_ID = "[0-9a-f]{32}"
# Rows waiting in the buffer that wake the flusher to convert them ahead of the flush (one chunk).
CONVERT_AHEAD_ROWS = CONVERT_CHUNK


def utc_micros() -> int:
    """Now, as the capture's `ts`: integer microseconds since the epoch (cheaper than datetime, on the
    request path and in the flush, which partitions by integer division)."""
    return time.time_ns() // 1000


def _yield_gil() -> None:
    # Between columns of a summary: the request path's threads get the GIL (as between converted chunks).
    time.sleep(0)


CountHook = Callable[[int], None]
DropHook = Callable[[int, str], None]
ConvertedHook = Callable[[pa.Table], None]


def _ignore_count(_: int) -> None:
    return None


def _ignore_drop(_: int, __: str) -> None:
    return None


class CaptureWriter:
    """Bounded, non-blocking Parquet appender for one dataset (predictions or feedback).

    Rows are tuples in schema order; the `ts_column` value is integer microseconds since the epoch
    (`utc_micros()`), written as timestamp[us, UTC]. With `spool_dir` the writer is durable (above).
    `transforms` rewrite a column (by name) when it is converted, before any byte of it is spooled or
    written (the keyed hash of a PII feature).
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
        storage_options: Mapping[str, Any] | None = None,
        spool_dir: Path | None = None,
        group_interval_s: float = 0.02,
        on_written: CountHook = _ignore_count,
        on_dropped: DropHook = _ignore_drop,
        write_sketches: bool = False,
        transforms: Mapping[str, ColumnTransform] | None = None,
        on_converted: ConvertedHook | None = None,
    ) -> None:
        self.uri = uri
        self.schema = schema
        self.host = host
        self.queue_size = queue_size
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self.group_interval_s = group_interval_s
        self.writable = False
        self._fs, root = filesystem(uri, storage_options)
        self._root = f"{root}/{prefix.strip('/')}"
        schema.field(ts_column)  # KeyError now, not at the first flush
        self._ts_column = ts_column
        self._buffer = RowBuffer()
        self._transforms = {schema.names.index(name): f for name, f in (transforms or {}).items()}
        # Dictionary pages only for strings that repeat (versions, categories): for unique ids, hashes and
        # numbers Parquet builds a dictionary only to fall back to plain encoding, a quarter of the write.
        unique = {REQUEST_ID, *(transforms or {})}
        strings = [f.name for f in schema if pa.types.is_string(f.type)]
        self._dictionary_columns = [name for name in strings if name not in unique]
        # No min/max statistics for them either: those of random ids and hashes prune nothing, and cost
        # a sixth of the write (0.12 of 0.72 µs a row, scripts/bench/request_cost.py's rows).
        self._statistics_columns = [f.name for f in schema if f.name not in unique]
        # The non-durable mode: converted rows whose write failed, retried first at the next flush.
        self._retry: pa.Table | None = None
        # The non-durable mode: rows converted ahead of the flush (`_convert_ahead`), in arrival order.
        self._ahead: list[pa.Table] = []
        self._ahead_rows = 0
        # Buffered rows that wake the flusher: a chunk to convert, or what completes `flush_rows`.
        self._wake_at = max(min(CONVERT_AHEAD_ROWS, flush_rows), 1)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one flush at a time (flusher thread vs. close/tests)
        self._thread: threading.Thread | None = None
        self._on_written = on_written
        self._on_dropped = on_dropped
        self._on_converted = on_converted
        # A `.sketch` summary beside each published file, for checks on sketches (capture-schema sketches.py).
        self.write_sketches = write_sketches
        # The durable mode: groups spooled but not yet in Parquet, by segment, oldest first.
        self._spool: Spool | None = None
        self._spool_lock = threading.Lock()  # a group's append vs. the flusher's rotation
        self._spool_stop = threading.Event()
        self._spool_thread: threading.Thread | None = None
        self._open_batches: list[pa.RecordBatch] = []
        self._sealed: deque[tuple[str, pa.Table]] = deque()
        self._spooled_rows = 0
        if spool_dir is not None:
            self._spool = Spool(spool_dir, schema)
            self._spool.open()  # fails now, with its reason, rather than after the service is up

    @property
    def durable(self) -> bool:
        return self._spool is not None

    @property
    def depth(self) -> int:
        """Rows accepted and not yet in Parquet (queued, converted ahead, or spooled in the durable mode)."""
        return len(self._buffer) + self._ahead_rows + self._retry_rows + self._spooled_rows

    @property
    def unconverted(self) -> int:
        """Rows still held as Python objects (the buffer): below CONVERT_AHEAD_ROWS while the flusher runs."""
        return len(self._buffer)

    @property
    def _retry_rows(self) -> int:
        return 0 if self._retry is None else self._retry.num_rows

    def submit(self, rows: Sequence[Row]) -> int:
        """Queue rows; what does not fit is dropped and counted (`queue_full`). Returns rows accepted.

        It runs on every request, so `depth` is spelt out here, the buffer's length read once and its
        list extended under its lock here (capture_buffer.RowBuffer): no property or method call.
        """
        buffer = self._buffer
        buffered = len(buffer.rows)
        retry = self._retry
        held = self._ahead_rows + self._spooled_rows + (0 if retry is None else retry.num_rows)
        room = self.queue_size - buffered - held
        wanted = len(rows)
        accepted = wanted if wanted <= room else max(room, 0)
        if accepted:
            with buffer.lock:
                buffer.rows.extend(rows if accepted == wanted else rows[:accepted])
        if accepted < wanted:
            self._on_dropped(wanted - accepted, "queue_full")
        if self._spool is None and buffered + accepted >= self._wake_at:
            self._wake.set()
        return accepted

    def start(self) -> None:
        """Probe the sink, remove this host's `.partial` leftovers, replay the spool; then the threads."""
        self.probe()
        self.remove_partials()
        if self._spool is not None:
            self._recover()
            self._spool_thread = threading.Thread(
                target=self._run_spool, name=f"capture-spool-{self._root}", daemon=True
            )
            self._spool_thread.start()
        self._thread = threading.Thread(target=self._run, name=f"capture-{self._root}", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the threads and write everything still queued (called on shutdown, e.g. SIGTERM)."""
        if self._spool_thread is not None:
            self._spool_stop.set()
            self._spool_thread.join(timeout)  # its last group takes what the queue still holds
            self._spool_thread = None
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._spool is not None:
            self._spool_group()  # rows queued after the spool thread stopped (or when it never ran)
        self.flush(final=True)
        if self._spool is not None:
            if self._sealed:
                log.error(
                    "capture rows left in the spool for the next start",
                    extra={"uri": self.uri, "rows": self._spooled_rows, "spool": str(self._spool.directory)},
                )
            self._spool.close()

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

    def remove_partials(self) -> list[str]:
        """Delete the `.<host>-<id>.parquet.partial` files, and the `._<host>-<id>.parquet.sketch.partial`
        sketch sidecars, a killed process of this host left behind.

        Only this host's names are matched, exactly: another replica's file may be in flight now.
        """
        host = re.escape(self.host)
        pattern = re.compile(
            rf"\.(?:{host}-{_FILE_ID}\.parquet|_{host}-{_FILE_ID}\.parquet\{sketches.SUFFIX})\.partial"
        )
        try:
            found = [
                *self._fs.glob(f"{self._root}/date=*/hour=*/.{self.host}-*.parquet.partial"),
                *self._fs.glob(
                    f"{self._root}/date=*/hour=*/._{self.host}-*.parquet{sketches.SUFFIX}.partial"
                ),
            ]
            mine = [str(p) for p in found if pattern.fullmatch(str(p).rsplit("/", 1)[-1])]
            for path in mine:
                self._fs.rm(path)
        except Exception as exc:  # the sink may be down at start; leftovers are invisible to readers
            log.warning("capture .partial files not cleaned up", extra={"uri": self.uri, "error": str(exc)})
            return []
        if mine:
            log.info("removed capture .partial files of a killed process", extra={"files": len(mine)})
        return mine

    def flush(self, *, final: bool = False) -> int:
        """Write the rows queued now; on a write error they go back to the queue (or are dropped on close).

        In the durable mode: close the current segment and write every closed one; a segment that fails
        stays on disk and in memory, and is written at the next flush (or the next start)."""
        if self._spool is not None:
            return self._flush_segments()
        with self._lock:
            table = self._take_table()
            if table is None:
                return 0
            try:
                self._write(table)
            except Exception as exc:  # a failed write must not kill the flusher thread
                self.writable = False
                log.error(
                    "capture write failed", extra={"uri": self.uri, "rows": table.num_rows, "error": str(exc)}
                )
                self._keep_for_retry(table, final=final)
                return 0
            self.writable = True
            self._on_written(table.num_rows)
            return table.num_rows

    def _take_table(self) -> pa.Table | None:
        """The rows of an earlier failed write, those converted ahead, then everything buffered now, in
        order; None when empty."""
        block = self._buffer.take()
        parts = [self._retry] if self._retry is not None else []
        self._retry = None
        parts += self._ahead
        self._ahead, self._ahead_rows = [], 0
        if len(block):
            parts.append(self._converted_block(block))
        self._rearm()
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    def _converted_block(self, block: Block) -> pa.Table:
        return self._converted(pa.Table.from_batches(self._convert(block), schema=self.schema))

    def _convert_ahead(self) -> None:
        """Convert what the buffer holds now, to be written with the next flush (flusher thread)."""
        with self._lock:
            block = self._buffer.take()
            if len(block):
                self._ahead.append(self._converted_block(block))
                self._ahead_rows += len(block)
            self._rearm()

    def _rearm(self) -> None:
        """The next wake-up: a chunk more, or the new rows that make up a flush if fewer (under `_lock`;
        rows kept from a failed write do not count, so a sink that is down is retried once a flush)."""
        self._wake_at = max(min(CONVERT_AHEAD_ROWS, self.flush_rows - self._ahead_rows), 1)
        if len(self._buffer) >= self._wake_at:
            self._wake.set()  # rows came in while this conversion ran

    def _keep_for_retry(self, table: pa.Table, *, final: bool) -> None:
        """Keep the newest rows that fit beside what was buffered since; the oldest are dropped (counted)."""
        room = 0 if final else max(self.queue_size - len(self._buffer), 0)
        if room < table.num_rows:
            self._on_dropped(table.num_rows - room, "write_error")
        if room:
            self._retry = table.slice(max(table.num_rows - room, 0))

    def _converted(self, table: pa.Table) -> pa.Table:
        """`table` (rows converted from the queue, once each) after `on_converted` has seen it."""
        if self._on_converted is not None:
            try:
                self._on_converted(table)
            except Exception as exc:  # never lose the rows over what is done with them on the side
                log.warning("capture on_converted failed", extra={"uri": self.uri, "error": str(exc)})
        return table

    def _convert(self, block: Block) -> list[pa.RecordBatch]:
        """The block in Arrow (the thread yields between chunks); column transforms (PII) applied here."""
        return list(block.batches(self.schema, self._transforms))

    def _write(self, table: pa.Table) -> None:
        """One file per hour partition the rows span, each under a new name."""
        for hour_number, part in self._by_hour(table):
            self._publish(hour_number, f"{self.host}-{uuid.uuid4().hex}.parquet", part)

    def _by_hour(self, table: pa.Table) -> list[tuple[int, pa.Table]]:
        # By name: a replayed segment keeps the columns it was spooled under (capture_spool.same_model).
        hours = pc.divide(pc.cast(table.column(self._ts_column), pa.int64()), _US_PER_HOUR)
        distinct = pc.unique(hours).to_pylist()
        if len(distinct) == 1:
            return [(distinct[0], table)]
        return [(hour, table.filter(pc.equal(hours, hour))) for hour in distinct]

    def _publish(self, hour_number: int, name: str, table: pa.Table) -> None:
        start = datetime.fromtimestamp(hour_number * 3600, UTC)
        folder = f"{self._root}/date={start:%Y-%m-%d}/hour={start.hour:02d}"
        self._fs.makedirs(folder, exist_ok=True)
        # Readers skip dot-files, so a half-written file is never read; the rename publishes it.
        partial = f"{folder}/.{name}.partial"
        with self._fs.open(partial, "wb") as handle:
            pq.write_table(
                table,
                handle,
                use_dictionary=self._dictionary_columns,
                write_statistics=self._statistics_columns,
            )
        self._fs.mv(partial, f"{folder}/{name}")
        if self.write_sketches:
            self._publish_sketch(f"{folder}/{name}", table)
        if self.durable and isinstance(self._fs, LocalFileSystem):
            # The segment is removed next: its rows must outlive a machine crash in Parquet first.
            fsync_path(f"{folder}/{name}")
            fsync_path(folder)

    def _publish_sketch(self, path: str, table: pa.Table) -> None:
        """The file's summary beside it, after it: a file without one is read as rows by a check, so a
        failure here costs a check time, never captured rows (docs/drift-engine.md, "Scale")."""
        try:
            summary = sketches.summarize(table, between_columns=_yield_gil)
            sketches.write_sidecar(self._fs, path, summary)
        except Exception as exc:  # never lose the flush over its summary
            log.warning("capture sketch not written", extra={"path": path, "error": str(exc)})

    def _run(self) -> None:
        """Flush every `flush_interval_s`, or once `flush_rows` are waiting; convert a chunk in between."""
        deadline = time.monotonic() + self.flush_interval_s
        while not self._stop.is_set():
            self._wake.wait(max(deadline - time.monotonic(), 0.0))
            self._wake.clear()
            if self._stop.is_set():
                break
            now = time.monotonic()
            if now >= deadline or self._ahead_rows + len(self._buffer) >= self.flush_rows:
                deadline = now + self.flush_interval_s
                if self.depth:
                    self.flush()
                else:
                    self.probe()
            elif len(self._buffer) >= CONVERT_AHEAD_ROWS:
                self._convert_ahead()

    # The durable mode.

    def _recover(self) -> None:
        """Segments of an earlier process (killed, or its sink down at shutdown) go to Parquet first, each
        with the schema it was spooled under: its files record the controls its rows were captured with,
        never the ones this process runs with (capture_spool.same_model)."""
        assert self._spool is not None
        recovered = self._spool.recover()
        for segment in recovered:
            if segment.table.num_rows:
                self._sealed.append((segment.segment_id, segment.table))
                self._spooled_rows += segment.table.num_rows
            else:
                self._spool.remove(segment.segment_id)  # cut inside its first group: nothing to keep
        if self._sealed:
            rows = self._spooled_rows
            written = self._flush_segments()
            log.info(
                "capture spool replayed into Parquet",
                extra={"uri": self.uri, "segments": len(recovered), "rows": rows, "written": written},
            )

    def _run_spool(self) -> None:
        while not self._spool_stop.wait(self.group_interval_s):
            self._spool_group()
        self._spool_group()

    def _spool_group(self) -> None:
        """One group: what the buffer holds now, as one record batch, appended and fsync'd."""
        assert self._spool is not None
        if not len(self._buffer):
            return
        block = self._buffer.take()
        batches = self._convert(block)
        with self._spool_lock:
            for batch in batches:
                try:
                    self._spool.append(batch)
                except (OSError, pa.ArrowException, SpoolError) as exc:
                    # Not durable, still captured: the rows go to Parquet with the next flush.
                    log.error("capture spool write failed", extra={"rows": batch.num_rows, "error": str(exc)})
                self._open_batches.append(batch)
            self._spooled_rows += len(block)
        if self._spooled_rows >= self.flush_rows:
            self._wake.set()

    def _flush_segments(self) -> int:
        assert self._spool is not None
        with self._lock:
            with self._spool_lock:
                closed = self._spool.rotate()
                if self._open_batches:
                    table = self._converted(pa.Table.from_batches(self._open_batches, schema=self.schema))
                    self._sealed.append((closed or new_segment_id(), table))
                    self._open_batches = []
            written = 0
            while self._sealed:
                segment_id, table = self._sealed[0]
                try:
                    self._write_segment(segment_id, table)
                except Exception as exc:  # kept, spooled, retried: never a dead flusher
                    self.writable = False
                    log.error(
                        "capture write failed; rows kept in the spool",
                        extra={"uri": self.uri, "rows": table.num_rows, "error": str(exc)},
                    )
                    return written
                self._spool.remove(segment_id)
                self._sealed.popleft()
                with self._spool_lock:
                    self._spooled_rows -= table.num_rows
                self._on_written(table.num_rows)
                written += table.num_rows
            self.writable = True
            return written

    def _write_segment(self, segment_id: str, table: pa.Table) -> None:
        """A segment's rows, one file per hour it spans, each named after the segment (idempotent)."""
        name = f"{self.host}-{segment_id}.parquet"
        for hour_number, part in self._by_hour(table):
            self._publish(hour_number, name, part)
