"""The durable capture's local spool: rows fsync'd in groups to Arrow IPC stream segments, replayed into
Parquet after a crash and removed once they are there (docs/inference.md, "Durable capture").

A segment is one Arrow IPC stream file, `<directory>/<id>.arrows`: the schema, then one record batch
per group. Ids are 32 hex digits, time-ordered (nanoseconds, then random), and unique for ever; the
writer names a segment's Parquet files after its id, so writing a segment twice (a replay after a
crash mid-flush) overwrites its files instead of duplicating rows.

A segment keeps the schema it was spooled under, with its capture controls (issue 13) in the schema's
metadata, and is replayed with that schema: rows sampled at 10% stay labelled 10% after a restart at 50%,
and a feature excluded since stays in the rows captured before (`same_model`).
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
from driftwatch_capture.schema import CaptureControls

log = logging.getLogger(__name__)

SUFFIX = ".arrows"
LOCK_FILE = ".lock"
# Where segments of another model's capture are set aside at start (kept for an operator, never replayed).
FOREIGN_DIR = "foreign"


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
    """Every complete group of a segment, with the segment's own schema and metadata (the controls it
    was captured under); `torn` when it ends in a partial record (a crash mid-write).

    A segment cut anywhere, even inside its schema message, reads as the groups before the cut; one cut
    before its schema is complete reads as no rows of `schema`.
    """
    batches: list[pa.RecordBatch] = []
    own: pa.Schema | None = None
    torn = False
    try:
        with pa.OSFile(str(path), "rb") as source:
            reader = pa.ipc.open_stream(source)
            own = reader.schema
            while True:
                try:
                    batches.append(reader.read_next_batch())
                except StopIteration:
                    break
    except (pa.ArrowInvalid, OSError):
        torn = True
    return pa.Table.from_batches(batches, schema=own if own is not None else schema), torn


def same_model(segment: pa.Schema, capture: pa.Schema) -> str | None:
    """None when a segment's rows are this capture's (spooled under any controls); else why not.

    Columns are matched by name, and may differ only as the controls recorded in either schema's
    metadata explain: a column absent on one side is excluded there, a column whose type differs is
    hashed (a string) on one side. A restart with another sample rate, a feature newly excluded, hashed
    or captured again is the same model, and its segments are replayed under their own controls. Any
    other difference (a feature added, removed or retyped, another task's outputs) means the rows are
    another model's, or a version whose features differ: published under this prefix they would put
    files of other columns among this model's, so they are set aside instead. Pyarrow's schema `!=`
    ignores metadata, which is why the controls are read here and never compared that way.
    """
    controls = (
        CaptureControls.from_metadata(segment.metadata),
        CaptureControls.from_metadata(capture.metadata),
    )
    sides = ((segment, capture, controls[1], "this capture"), (capture, segment, controls[0], "the segment"))
    for have, other, other_controls, other_name in sides:
        for field in have:
            if field.name in other.names:
                continue
            if field.name not in other_controls.excluded:
                return f"column {field.name} is not in {other_name}, nor excluded from it"
    hashed = set(controls[0].hashed) ^ set(controls[1].hashed)
    for field in segment:
        if field.name not in capture.names:
            continue
        here = capture.field(field.name)
        if field.type != here.type and field.name not in hashed:
            return f"column {field.name} is {field.type} in the segment, {here.type} in this capture"
    return None


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
        """What earlier processes left: every segment of this model, oldest first, read up to a torn end,
        each with the schema (and controls) it was spooled under. Another model's segments are moved to
        `foreign/` with an error logged: the service still starts (no crash loop over a reused volume),
        their rows are kept for an operator, and none reaches this model's capture (`same_model`)."""
        found = []
        for path in self.segments():
            table, torn = read_segment(path, self.schema)
            if torn:
                log.warning("capture spool segment ends in a torn record", extra={"segment": path.name})
            reason = same_model(table.schema, self.schema) if table.num_rows else None
            if reason is not None:
                self._set_aside(path, reason)
                continue
            found.append(Recovered(path.name.removesuffix(SUFFIX), table, torn))
        return found

    def _set_aside(self, path: Path, reason: str) -> None:
        foreign = self.directory / FOREIGN_DIR
        foreign.mkdir(exist_ok=True)
        path.rename(foreign / path.name)
        fsync_path(self.directory)
        log.error(
            "capture spool segment is another model's: set aside, not replayed",
            extra={"segment": path.name, "reason": reason, "moved_to": str(foreign)},
        )

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
