"""The capture writer publishes a `.sketch` summary beside each Parquet file it writes, after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from driftwatch_capture import sketches
from driftwatch_inference import capture as capture_module
from driftwatch_inference.capture import CaptureWriter
from fsspec.implementations.local import LocalFileSystem

pytestmark = pytest.mark.unit
SCHEMA = pa.schema([pa.field("request_id", pa.string()), pa.field("ts", pa.timestamp("us", tz="UTC")),
                    pa.field("value", pa.float64()), pa.field("plan", pa.string())])  # fmt: skip
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0 = (datetime(2026, 11, 27, 9, 59, 0, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
HOUR_US = 3_600_000_000


def _writer(root: Path, **extra: bool) -> CaptureWriter:
    return CaptureWriter(root.as_uri(), "churn", SCHEMA, host="pod-a", queue_size=10_000, flush_rows=10_000,
                         flush_interval_s=60.0, **extra)  # fmt: skip


def _rows(n: int, start: int) -> list[tuple[object, ...]]:
    return [(f"r{i}", start + i * 1_000_000, float(i), "gold" if i % 3 else "basic") for i in range(n)]


def test_each_published_file_gets_a_summary_of_its_own_rows(tmp_path: Path) -> None:
    writer = _writer(tmp_path, write_sketches=True)
    writer.submit(_rows(120, T0))  # 09:59:00 to 10:00:59: two hour partitions, two files
    assert writer.flush() == 120
    files = sorted((tmp_path / "churn").rglob("*.parquet"))
    assert len(files) == 2
    for path in files:
        table = pq.read_table(path)
        summary = sketches.read_sidecar(LocalFileSystem(), sketches.sidecar_path(str(path)))
        assert summary.rows == table.num_rows
        micros = table.column("ts").cast(pa.int64()).to_pylist()
        assert (summary.ts_min, summary.ts_max) == (min(micros), max(micros))
        plans = table.column("plan").to_pylist()
        assert summary.columns["plan"].values == {p: plans.count(p) for p in set(plans)}
        assert summary.columns["value"].maximum == max(table.column("value").to_pylist())
    # Parquet readers of the capture tree skip the sidecars: all rows, once.
    assert ds.dataset(tmp_path / "churn", format="parquet", partitioning="hive").count_rows() == 120


def test_no_summary_unless_asked_for(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.submit(_rows(10, T0))
    writer.flush()
    assert list((tmp_path / "churn").rglob("*.parquet"))
    assert list((tmp_path / "churn").rglob("*.sketch")) == []


def test_a_failed_summary_never_costs_the_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("summary failed")

    monkeypatch.setattr(capture_module.sketches, "summarize", broken)
    writer = _writer(tmp_path, write_sketches=True)
    writer.submit(_rows(30, T0 + HOUR_US))
    assert writer.flush() == 30
    assert ds.dataset(tmp_path / "churn", format="parquet").count_rows() == 30
    assert list((tmp_path / "churn").rglob("*sketch*")) == []
