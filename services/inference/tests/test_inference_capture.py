"""The capture writer batches, partitions by hour, drops (and counts) when full, flushes on close."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from driftwatch_inference.capture import CONVERT_AHEAD_ROWS, CaptureWriter

pytestmark = pytest.mark.unit
SCHEMA = pa.schema([pa.field("request_id", pa.string()), pa.field("ts", pa.timestamp("us", tz="UTC")),
                    pa.field("value", pa.float64())])  # fmt: skip
# `ts` values are integer microseconds since the epoch, as the service queues them.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0 = (datetime(2026, 11, 27, 9, 59, 59, 999_999, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
T1 = (datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)


class Tally:
    """Records the writer's hooks as a metric would."""

    def __init__(self) -> None:
        self.written = 0
        self.dropped: dict[str, int] = {}

    def on_written(self, n: int) -> None:
        self.written += n

    def on_dropped(self, n: int, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n


def _writer(root: Path, tally: Tally, **kwargs: float) -> CaptureWriter:
    options = {"queue_size": 100, "flush_rows": 1000, "flush_interval_s": 60.0, **kwargs}
    return CaptureWriter(root.as_uri(), "churn", SCHEMA, host="pod-a", queue_size=int(options["queue_size"]),
                         flush_rows=int(options["flush_rows"]), flush_interval_s=options["flush_interval_s"],
                         on_written=tally.on_written, on_dropped=tally.on_dropped)  # fmt: skip


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def test_rows_wait_in_the_queue_until_a_flush(tmp_path: Path) -> None:
    tally = Tally()
    writer = _writer(tmp_path, tally)
    assert writer.submit([("a", T0, 1.0), ("b", T0, 2.0)]) == 2
    assert writer.depth == 2
    assert _files(tmp_path) == []
    assert writer.flush() == 2
    assert writer.depth == 0
    assert tally.written == 2
    table = ds.dataset(tmp_path / "churn", format="parquet", partitioning="hive").to_table()
    assert sorted(table.column("request_id").to_pylist()) == ["a", "b"]
    assert table.column("ts").to_pylist()[0] == datetime(2026, 11, 27, 9, 59, 59, 999_999, tzinfo=UTC)


def test_one_file_per_hour_partition_named_after_the_host(tmp_path: Path) -> None:
    writer = _writer(tmp_path, Tally())
    writer.submit([("a", T0, 1.0), ("b", T1, 2.0), ("c", T1, 3.0)])
    writer.flush()
    files = _files(tmp_path)
    assert [f.parent.relative_to(tmp_path).as_posix() for f in files] == [
        "churn/date=2026-11-27/hour=09",
        "churn/date=2026-11-27/hour=10",
    ]
    assert all(f.name.startswith("pod-a-") and len(f.stem) == len("pod-a-") + 32 for f in files)
    assert not list(tmp_path.rglob(".*.partial"))


def test_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    tally = Tally()
    writer = _writer(tmp_path, tally, queue_size=3)
    assert writer.submit([("a", T0, 1.0), ("b", T0, 2.0)]) == 2
    assert writer.submit([("c", T0, 3.0), ("d", T0, 4.0), ("e", T0, 5.0)]) == 1
    assert tally.dropped == {"queue_full": 2}
    writer.flush()
    assert tally.written == 3


def test_background_flusher_writes_when_the_size_threshold_is_reached(tmp_path: Path) -> None:
    tally = Tally()
    writer = _writer(tmp_path, tally, flush_rows=2)
    writer.start()
    try:
        writer.submit([("a", T0, 1.0), ("b", T0, 2.0)])
        for _ in range(200):  # bounded wait for the thread, no timing assertion
            if tally.written == 2:
                break
            writer._wake.wait(0.01)
    finally:
        writer.close()
    assert tally.written == 2
    assert len(_files(tmp_path)) == 1


def test_close_flushes_what_is_still_queued(tmp_path: Path) -> None:
    tally = Tally()
    writer = _writer(tmp_path, tally)
    writer.start()
    writer.submit([("a", T0, 1.0)])
    writer.close()
    assert tally.written == 1
    assert ds.dataset(tmp_path / "churn", format="parquet").count_rows() == 1


def test_unwritable_sink_keeps_rows_queued_then_drops_them_on_close(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    tally = Tally()
    writer = _writer(blocker, tally)
    assert writer.probe() is False
    writer.submit([("a", T0, 1.0), ("b", T0, 2.0)])
    assert writer.flush() == 0
    assert writer.writable is False
    assert writer.depth == 2
    writer.close()
    assert tally.dropped == {"write_error": 2}
    assert tally.written == 0


def test_probe_marks_a_writable_sink_and_leaves_no_file(tmp_path: Path) -> None:
    writer = _writer(tmp_path, Tally())
    assert writer.probe() is True
    assert [p.name for p in (tmp_path / "churn").iterdir()] == []


def test_a_flush_larger_than_one_conversion_chunk_writes_every_row_in_one_file(tmp_path: Path) -> None:
    tally = Tally()
    writer = _writer(tmp_path, tally, queue_size=10_000)
    rows = [(f"r{i}", T0, float(i)) for i in range(2_500)]
    writer.submit(rows)
    assert writer.flush() == 2_500
    files = _files(tmp_path)
    assert len(files) == 1
    table = ds.dataset(files[0], format="parquet").to_table()
    assert table.column("request_id").to_pylist() == [r[0] for r in rows]


def test_the_flusher_converts_rows_ahead_of_the_flush_and_writes_them_in_order(tmp_path: Path) -> None:
    tally = Tally()
    writer = _writer(tmp_path, tally, queue_size=10_000, flush_rows=10_000)
    writer.start()
    try:
        rows = [(f"r{i}", T0, float(i)) for i in range(2_500)]
        for start in range(0, len(rows), 100):
            writer.submit(rows[start : start + 100])
        for _ in range(500):  # bounded wait for the thread, no timing assertion
            if writer.unconverted < CONVERT_AHEAD_ROWS:
                break
            time.sleep(0.01)  # not the writer's event: set, it would return at once and never yield
        # Converted, counted as queued, not written: the flush is still 7,500 rows or a minute away.
        assert writer.unconverted < CONVERT_AHEAD_ROWS
        assert writer.depth == 2_500
        assert _files(tmp_path) == []
        late = [(f"late{i}", T0, -1.0) for i in range(10)]
        writer.submit(late)
        assert writer.flush() == 2_510
        assert writer.depth == 0
    finally:
        writer.close()
    (path,) = _files(tmp_path)
    table = ds.dataset(path, format="parquet").to_table()
    assert table.column("request_id").to_pylist() == [r[0] for r in [*rows, *late]]


def test_rows_converted_ahead_count_against_the_queue_bound(tmp_path: Path) -> None:
    tally = Tally()
    writer = _writer(tmp_path, tally, queue_size=1_500, flush_rows=10_000)
    assert writer.submit([(f"r{i}", T0, 1.0) for i in range(1_200)]) == 1_200
    writer._convert_ahead()  # what the flusher thread does once a chunk is waiting
    assert writer.unconverted == 0
    assert writer.submit([(f"s{i}", T0, 1.0) for i in range(500)]) == 300
    assert tally.dropped == {"queue_full": 200}
    assert writer.flush() == 1_500
