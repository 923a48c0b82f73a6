"""A spooled segment replayed after a restart under other capture controls (issue 13): published with the
schema and controls it was captured under, never relabelled; another model's segment set aside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from driftwatch_capture.schema import CaptureControls
from driftwatch_inference.capture import CaptureWriter
from driftwatch_inference.capture_spool import FOREIGN_DIR, Spool, same_model

pytestmark = pytest.mark.unit
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0 = (datetime(2026, 11, 27, 9, 30, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
BASE = [("request_id", pa.string()), ("ts", pa.timestamp("us", tz="UTC"))]
FEATURES = [("tenure", pa.float64()), ("plan", pa.string()), ("email", pa.string())]


def _schema(controls: CaptureControls, features: list[tuple[str, pa.DataType]] = FEATURES) -> pa.Schema:
    """As arrow_schema.prediction_schema builds it: excluded features dropped, hashed ones as strings."""
    fields = [
        pa.field(name, pa.string() if name in controls.hashed else dtype)
        for name, dtype in features
        if name not in controls.excluded
    ]
    return pa.schema([*(pa.field(n, t) for n, t in BASE), *fields]).with_metadata(controls.to_metadata())


def _rows(schema: pa.Schema, *ids: str) -> pa.RecordBatch:
    values = {"request_id": list(ids), "ts": [T0] * len(ids), "tenure": [14.5] * len(ids),
              "plan": ["pro"] * len(ids), "email": ["a@example.com"] * len(ids)}  # fmt: skip
    return pa.record_batch([pa.array(values[f.name], f.type) for f in schema], schema=schema)


def _spooled_by_a_killed_process(spool_dir: Path, schema: pa.Schema, *ids: str) -> str:
    spool = Spool(spool_dir, schema)
    spool.open()
    segment = spool.append(_rows(schema, *ids))
    spool.close()
    return segment


def _restart(root: Path, spool_dir: Path, schema: pa.Schema) -> None:
    writer = CaptureWriter(
        root.as_uri(), "churn", schema, host="pod-a", queue_size=100, flush_rows=100, flush_interval_s=60.0,
        spool_dir=spool_dir,
    )  # fmt: skip
    writer.start()
    writer.close()


def _published(root: Path) -> list[pa.Table]:
    return [pq.read_table(p) for p in sorted((root / "churn").rglob("*.parquet"))]


def test_a_segment_replayed_after_a_rate_change_keeps_the_rate_it_was_sampled_at(tmp_path: Path) -> None:
    before = _schema(CaptureControls(0.1, ("email",)))
    _spooled_by_a_killed_process(tmp_path / "spool", before, "a", "b")
    _restart(tmp_path / "capture", tmp_path / "spool", _schema(CaptureControls(0.5, ("email",))))
    [table] = _published(tmp_path / "capture")
    assert table.column("request_id").to_pylist() == ["a", "b"]
    assert CaptureControls.from_metadata(table.schema.metadata) == CaptureControls(0.1, ("email",))
    assert list((tmp_path / "spool").glob("*.arrows")) == []


def test_a_feature_excluded_since_stays_in_the_rows_captured_before(tmp_path: Path) -> None:
    before = _schema(CaptureControls(1.0))
    _spooled_by_a_killed_process(tmp_path / "spool", before, "a")
    _restart(tmp_path / "capture", tmp_path / "spool", _schema(CaptureControls(1.0, ("email",))))
    [table] = _published(tmp_path / "capture")
    assert table.column("email").to_pylist() == ["a@example.com"]
    assert CaptureControls.from_metadata(table.schema.metadata).excluded == ()


def test_a_feature_captured_again_is_absent_from_the_rows_it_was_excluded_from(tmp_path: Path) -> None:
    before = _schema(CaptureControls(1.0, ("email",), ("plan",)))
    _spooled_by_a_killed_process(tmp_path / "spool", before, "a")
    _restart(tmp_path / "capture", tmp_path / "spool", _schema(CaptureControls(1.0)))
    [table] = _published(tmp_path / "capture")
    assert "email" not in table.column_names
    assert CaptureControls.from_metadata(table.schema.metadata) == CaptureControls(1.0, ("email",), ("plan",))


def test_a_segment_with_other_features_is_set_aside_and_the_writer_still_starts(tmp_path: Path) -> None:
    other_model = _schema(CaptureControls(1.0), [("tenure", pa.int64()), ("plan", pa.string())])
    segment = _spooled_by_a_killed_process(tmp_path / "spool", other_model, "x")
    ours = _schema(CaptureControls(1.0, ("email",)))
    _restart(tmp_path / "capture", tmp_path / "spool", ours)
    assert _published(tmp_path / "capture") == []
    assert [p.name for p in (tmp_path / "spool" / FOREIGN_DIR).iterdir()] == [f"{segment}.arrows"]


@pytest.mark.parametrize(
    ("segment", "capture"),
    [
        (CaptureControls(0.1), CaptureControls(1.0)),
        (CaptureControls(1.0), CaptureControls(1.0, ("email",))),
        (CaptureControls(1.0, ("email",)), CaptureControls(1.0)),
        (CaptureControls(1.0, (), ("tenure",)), CaptureControls(0.2, ("plan",))),
        (CaptureControls(1.0), CaptureControls(1.0, (), ("tenure",))),
    ],
)
def test_other_controls_are_the_same_model(segment: CaptureControls, capture: CaptureControls) -> None:
    assert same_model(_schema(segment), _schema(capture)) is None


def test_a_feature_neither_side_excludes_or_hashes_must_match_by_name_and_type() -> None:
    ours = _schema(CaptureControls(1.0))
    retyped = _schema(CaptureControls(1.0), [("tenure", pa.int64()), *FEATURES[1:]])
    assert same_model(retyped, ours) == "column tenure is int64 in the segment, double in this capture"
    added = _schema(CaptureControls(1.0), [*FEATURES, ("age", pa.int64())])
    assert same_model(added, ours) == "column age is not in this capture, nor excluded from it"
    removed = _schema(CaptureControls(1.0), FEATURES[:2])
    assert same_model(removed, ours) == "column email is not in the segment, nor excluded from it"
