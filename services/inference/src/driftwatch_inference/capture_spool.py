"""The durable capture's local spool: rows fsync'd in groups to Arrow IPC stream segments, replayed into
Parquet after a crash and removed once they are there (docs/inference.md, "Durable capture").

A segment is one Arrow IPC stream file, `<directory>/<id>.arrows`: the schema, then one record batch
per group. Ids are 32 hex digits, time-ordered (nanoseconds, then random), and unique for ever; the
writer names a segment's Parquet files after its id, so writing a segment twice (a replay after a
crash mid-flush) overwrites its files instead of duplicating rows.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pyarrow as pa

log = logging.getLogger(__name__)

SUFFIX = ".arrows"
LOCK_FILE = ".lock"


class SpoolError(RuntimeError):
    """The spool directory cannot be used (not writable, or held by another process)."""


def new_segment_id() -> str:
    """32 hex digits: 16 of the time in nanoseconds (so ids sort by creation), 16 random."""
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Recovered:
    """A segment found on disk at start-up: its id, the rows read back, and whether its end was torn."""

    segment_id: str
    table: pa.Table
    torn: bool


def read_segment(path: Path, schema: pa.Schema) -> tuple[pa.Table, bool]:
    """Every complete group of a segment; `torn` when it ends in a partial record (a crash mid-write).

    A segment cut anywhere, even inside its schema message, reads as the groups before the cut.
    """
    batches: list[pa.RecordBatch] = []
    torn = False
    try:
        with pa.OSFile(str(path), "rb") as source:
            reader = pa.ipc.open_stream(source)
            while True:
                try:
                    batches.append(reader.read_next_batch())
                except StopIteration:
                    break
    except (pa.ArrowInvalid, OSError):
        torn = True
    if batches and batches[0].schema != schema:
        raise SpoolError(f"{path}: its schema differs from the capture's (another model's spool?)")
    return pa.Table.from_batches(batches, schema=schema), torn


class Spool:
    """Append-only segments in one local directory, owned by one process (an advisory lock says so)."""

    def __init__(self, directory: Path, schema: pa.Schema) -> None:
        self.directory = Path(directory)
        self.schema = schema
        self._lock_handle: IO[bytes] | None = None
        self._segment_id: str | None = None
        self._file: IO[bytes] | None = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None

    @property
    def segment_id(self) -> str | None:
        """The segment groups are appended to now (None until the first group after a rotation)."""
        return self._segment_id

    def open(self) -> None:
        """Create the directory and take its lock (two processes on one spool would replay each other's)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle = (self.directory / LOCK_FILE).open("ab")
        except OSError as exc:
            raise SpoolError(f"capture spool {self.directory}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise SpoolError(f"capture spool {self.directory} is in use by another process") from None
        self._lock_handle = handle

    def segments(self) -> list[Path]:
        """Segment files on disk, oldest first."""
        return sorted(self.directory.glob(f"*{SUFFIX}"))

    def recover(self) -> list[Recovered]:
        """What earlier processes left: every segment, oldest first, read up to a torn end."""
        found = []
        for path in self.segments():
            table, torn = read_segment(path, self.schema)
            if torn:
                log.warning("capture spool segment ends in a torn record", extra={"segment": path.name})
            found.append(Recovered(path.name.removesuffix(SUFFIX), table, torn))
        return found

    def append(self, batch: pa.RecordBatch) -> str:
        """Write one group to the current segment (a new one after a rotation) and fsync it; its id."""
        if self._writer is None:
            self._segment_id = new_segment_id()
            path = self.directory / f"{self._segment_id}{SUFFIX}"
            self._file = path.open("xb", buffering=0)
            self._writer = pa.ipc.new_stream(self._file, self.schema)
            fsync_path(self.directory)  # the new file's name survives a machine crash too
        assert self._file is not None
        assert self._segment_id is not None
        self._writer.write_batch(batch)
        os.fsync(self._file.fileno())
        return self._segment_id

    def rotate(self) -> str | None:
        """Close the current segment (the next group starts a new one); the closed segment's id, if any."""
        closed, writer, handle = self._segment_id, self._writer, self._file
        self._segment_id = self._writer = self._file = None
        if writer is not None:
            writer.close()  # the end-of-stream marker; not fsync'd: a reader stops at a torn end anyway
        if handle is not None:
            handle.close()
        return closed

    def remove(self, segment_id: str) -> None:
        """Drop a segment whose rows are in Parquet."""
        (self.directory / f"{segment_id}{SUFFIX}").unlink(missing_ok=True)

    def close(self) -> None:
        self.rotate()
        if self._lock_handle is not None:
            self._lock_handle.close()  # releases the lock
            self._lock_handle = None


def fsync_path(path: str | Path) -> None:
    """fsync a file or a directory (a directory's fsync makes the names created in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
