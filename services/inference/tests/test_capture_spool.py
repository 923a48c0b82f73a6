"""The durable capture's spool: groups fsync'd to Arrow IPC segments, a torn end read up to the tear, replay
into Parquet at start (idempotent), segments removed once in Parquet; `.partial` leftovers of this host."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from driftwatch_inference.capture import CaptureWriter
from driftwatch_inference.capture_spool import Spool, SpoolError, read_segment

pytestmark = pytest.mark.unit
SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("value", pa.float64()),
    ]
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0 = (datetime(2026, 11, 27, 9, 59, 59, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
T1 = (datetime(2026, 11, 27, 10, 0, 1, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)


def _batch(*ids: str, ts: int = T0) -> pa.RecordBatch:
    return pa.record_batch(
        [pa.array(ids), pa.array([ts] * len(ids), pa.timestamp("us", tz="UTC")), pa.array([1.0] * len(ids))],
        schema=SCHEMA,
    )


def _durable(root: Path, spool: Path, **kwargs: float) -> CaptureWriter:
    options = {"queue_size": 1000, "flush_rows": 1000, "flush_interval_s": 60.0, **kwargs}
    return CaptureWriter(
        root.as_uri(),
        "churn",
        SCHEMA,
        host="pod-a",
        queue_size=int(options["queue_size"]),
        flush_rows=int(options["flush_rows"]),
        flush_interval_s=options["flush_interval_s"],
        spool_dir=spool,
    )


def _captured(root: Path) -> list[str]:
    if not (root / "churn").exists():
        return []
    table = ds.dataset(root / "churn", format="parquet", partitioning="hive").to_table()
    return sorted(table.column("request_id").to_pylist())


def test_groups_appended_to_a_segment_read_back_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, SCHEMA)
    spool.open()
    first = spool.append(_batch("a", "b"))
    assert spool.append(_batch("c")) == first
    table, torn = read_segment(tmp_path / f"{first}.arrows", SCHEMA)
    assert table.column("request_id").to_pylist() == ["a", "b", "c"]
    assert torn is False
    assert spool.rotate() == first
    second = spool.append(_batch("d"))
    assert second > first  # ids sort by creation: replay keeps the order rows were served in
    assert [p.name for p in spool.segments()] == [f"{first}.arrows", f"{second}.arrows"]
    spool.close()


def test_a_torn_last_record_loses_that_group_only(tmp_path: Path) -> None:
    spool = Spool(tmp_path, SCHEMA)
    spool.open()
    segment = spool.append(_batch("a", "b"))
    path = tmp_path / f"{segment}.arrows"
    intact = path.stat().st_size
    spool.append(_batch("c", "d"))
    spool.close()
    data = path.read_bytes()
    for cut in (intact + 1, intact + 8, (intact + len(data)) // 2, len(data) - 9):
        path.write_bytes(data[:cut])
        table, torn = read_segment(path, SCHEMA)
        assert (table.column("request_id").to_pylist(), torn) == (["a", "b"], True)
    path.write_bytes(data[:5])  # cut inside the schema message: nothing to keep, and no error
    table, torn = read_segment(path, SCHEMA)
    assert (table.num_rows, torn) == (0, True)


def test_a_second_process_cannot_take_a_spool_in_use(tmp_path: Path) -> None:
    first = Spool(tmp_path, SCHEMA)
    first.open()
    with pytest.raises(SpoolError, match="in use by another process"):
        Spool(tmp_path, SCHEMA).open()
    first.close()
    Spool(tmp_path, SCHEMA).open()  # released with the first one


def test_spooled_rows_reach_parquet_and_their_segment_is_removed(tmp_path: Path) -> None:
    writer = _durable(tmp_path / "capture", tmp_path / "spool")
    writer.submit([("a", T0, 1.0), ("b", T1, 2.0)])
    writer._spool_group()
    segments = list((tmp_path / "spool").glob("*.arrows"))
    assert len(segments) == 1
    assert writer.depth == 2
    assert writer.flush() == 2
    assert writer.depth == 0
    assert list((tmp_path / "spool").glob("*.arrows")) == []
    assert _captured(tmp_path / "capture") == ["a", "b"]
    # One file per hour the segment spans, both named after the segment.
    names = {p.name for p in (tmp_path / "capture").rglob("*.parquet")}
    assert names == {f"pod-a-{segments[0].stem}.parquet"}
    writer.close()


def test_start_replays_what_a_killed_process_spooled_and_drops_the_torn_group(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", SCHEMA)
    spool.open()
    segment = spool.append(_batch("a", "b"))
    spool.append(_batch("c"))
    spool.close()  # the process is gone; its segment stays, then its last group is torn
    path = tmp_path / "spool" / f"{segment}.arrows"
    path.write_bytes(path.read_bytes()[:-12])
    writer = _durable(tmp_path / "capture", tmp_path / "spool")
    writer.start()
    try:
        assert _captured(tmp_path / "capture") == ["a", "b"]
        assert list((tmp_path / "spool").glob("*.arrows")) == []
    finally:
        writer.close()


def test_replay_after_a_crash_mid_flush_overwrites_instead_of_duplicating(tmp_path: Path) -> None:
    writer = _durable(tmp_path / "capture", tmp_path / "spool")
    writer.submit([("a", T0, 1.0), ("b", T1, 2.0)])
    writer._spool_group()
    segment = next((tmp_path / "spool").glob("*.arrows"))
    kept = segment.read_bytes()
    writer.flush()
    writer.close()
    segment.write_bytes(kept)  # as if killed after the Parquet files, before the segment's removal
    again = _durable(tmp_path / "capture", tmp_path / "spool")
    again.start()
    again.close()
    assert _captured(tmp_path / "capture") == ["a", "b"]
    assert len(list((tmp_path / "capture").rglob("*.parquet"))) == 2


def test_a_failed_write_keeps_the_segment_for_the_next_flush(tmp_path: Path) -> None:
    blocker = tmp_path / "capture" / "churn" / "date=2026-11-27"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the partition folder goes")
    writer = _durable(tmp_path / "capture", tmp_path / "spool")
    writer.submit([("a", T0, 1.0)])
    writer._spool_group()
    assert writer.flush() == 0
    assert writer.writable is False
    assert len(list((tmp_path / "spool").glob("*.arrows"))) == 1
    blocker.unlink()
    assert writer.flush() == 1
    assert _captured(tmp_path / "capture") == ["a"]
    assert list((tmp_path / "spool").glob("*.arrows")) == []
    writer.close()


def test_rows_spooled_not_yet_in_parquet_count_against_the_queue_bound(tmp_path: Path) -> None:
    writer = _durable(tmp_path / "capture", tmp_path / "spool", queue_size=3)
    assert writer.submit([("a", T0, 1.0), ("b", T0, 1.0)]) == 2
    writer._spool_group()
    assert writer.submit([("c", T0, 1.0), ("d", T0, 1.0)]) == 1
    writer.close()
    assert _captured(tmp_path / "capture") == ["a", "b", "c"]


def test_start_removes_this_hosts_partial_files_only(tmp_path: Path) -> None:
    folder = tmp_path / "churn" / "date=2026-11-27" / "hour=09"
    folder.mkdir(parents=True)
    hex32 = "0123456789abcdef" * 2
    mine = [folder / f".pod-a-{hex32}.parquet.partial", folder / f"._pod-a-{hex32}.parquet.sketch.partial"]
    others = [
        folder / f".pod-a-b-{hex32}.parquet.partial",
        folder / f".pod-b-{hex32}.parquet.partial",
        folder / f"._pod-b-{hex32}.parquet.sketch.partial",
        folder / f"._pod-a-b-{hex32}.parquet.sketch.partial",
    ]
    for path in (*mine, *others):
        path.write_bytes(b"PAR1 torn")
    writer = CaptureWriter(
        tmp_path.as_uri(), "churn", SCHEMA, host="pod-a", queue_size=10, flush_rows=10, flush_interval_s=60.0
    )
    writer.start()
    writer.close()
    assert [p.name for p in mine if p.exists()] == []
    assert all(p.exists() for p in others)
