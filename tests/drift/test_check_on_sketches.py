"""A check over the capture's sketches (`spec.drift.data`) decides as the check over its rows.

The capture tree is written by the service's CaptureWriter with its sidecars; the window's edges
cut through files, so the files that straddle them are read as rows on the sketch path too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from driftwatch_controller.api.spec import DriftCheckSpec
from driftwatch_controller.engine import sketch_check
from driftwatch_controller.engine.check import EngineSettings, run_check
from driftwatch_demo import synthetic
from driftwatch_inference.capture import CaptureWriter

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ROWS = 30_000
FILE_ROWS = 2_500


def _schema(frame: pd.DataFrame) -> pa.Schema:
    fields = [pa.field("request_id", pa.string()), pa.field("ts", pa.timestamp("us", tz="UTC")),
              pa.field("model_version", pa.string())]  # fmt: skip
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_integer_dtype(dtype):
            fields.append(pa.field(str(name), pa.int64()))
        elif pd.api.types.is_float_dtype(dtype):
            fields.append(pa.field(str(name), pa.float64()))
        else:
            fields.append(pa.field(str(name), pa.string()))
    return pa.schema(fields)


def write_capture(root: Path, frame: pd.DataFrame) -> None:
    """`frame`'s rows through the CaptureWriter, over the 70 minutes before NOW (the window is 1h)."""
    writer = CaptureWriter(root.as_uri(), "churn", _schema(frame), host="pod-a", queue_size=len(frame),
                           flush_rows=len(frame), flush_interval_s=60.0, write_sketches=True)  # fmt: skip
    start = int((NOW - timedelta(minutes=70)).timestamp() * 1_000_000)
    ts = start + np.arange(len(frame), dtype=np.int64) * (70 * 60 * 1_000_000 // len(frame))
    values = frame.astype(object).where(frame.notna(), None)
    columns = [values[c].tolist() for c in values.columns]
    rows = [(f"r{i}", int(ts[i]), "1", *row) for i, row in enumerate(zip(*columns, strict=True))]
    for begin in range(0, len(rows), FILE_ROWS):
        writer.submit(rows[begin : begin + FILE_ROWS])
        writer.flush()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sketch-check")
    synthetic.generate(20_000, 1234).drop(columns=[synthetic.TARGET]).to_parquet(root / "reference.parquet")
    for scenario, seed in (("none", 5), ("covariate", 6), ("quality", 7)):
        frame = synthetic.generate(ROWS, seed, scenario).drop(columns=[synthetic.TARGET])
        write_capture(root / scenario, frame)
    return root


def check(workdir: Path, capture: Path, data: str) -> dict:
    spec = DriftCheckSpec.from_manifest(
        {
            "reference": {"uri": str(workdir / "reference.parquet")},
            "current": {"uri": (capture / "churn").as_uri(), "window": "1h", "minRows": 200},
            "columns": {"numerical": list(synthetic.NUMERICAL), "categorical": list(synthetic.CATEGORICAL)},
            "drift": {"data": data},
        }
    )
    return run_check(spec, now=NOW, settings=EngineSettings(calibration_cache_dir=workdir / "cache")).status


def drifted(status: dict) -> set[str]:
    return {c["name"] for c in status["columns"] if c["drifted"]}


def assert_agree(sketched: dict, rows: dict) -> None:
    """The same decision per column, but where the row path's score is inside the sketch's error band."""
    for mine, theirs in zip(sketched["columns"], rows["columns"], strict=True):
        assert mine["name"] == theirs["name"]
        if mine["drifted"] != theirs["drifted"]:
            band = mine["threshold"] - theirs["threshold"] + abs(mine["score"] - theirs["score"])
            assert abs(theirs["score"] - theirs["threshold"]) <= band, mine["name"]
    assert len(drifted(sketched) ^ drifted(rows)) <= 1


@pytest.mark.parametrize("scenario", ["none", "covariate"])
def test_sketches_flag_the_columns_rows_flag(workdir: Path, scenario: str) -> None:
    rows = check(workdir, workdir / scenario, "rows")
    sketched = check(workdir, workdir / scenario, "sketches")
    assert (rows["dataPath"], sketched["dataPath"]) == ("rows", "sketches")
    assert sketched["dataPathReason"] is None
    # The window cuts through files at its start: only the rows inside it count, on both paths.
    assert rows["rows"]["current"] < ROWS
    assert sketched["rows"]["current"] == rows["rows"]["current"]
    assert sketched["verdict"] == rows["verdict"]
    assert_agree(sketched, rows)
    assert [c["method"] for c in sketched["columns"]] == [c["method"] for c in rows["columns"]]
    if scenario == "covariate":
        assert {"tenure_months", "monthly_charges", "contract"} <= drifted(rows)
    else:
        assert rows["verdict"] == "NoDrift"
    exact = set()
    for mine, theirs in zip(sketched["columns"], rows["columns"], strict=True):
        if mine["threshold"] == theirs["threshold"]:  # counted exactly: the row path's score
            exact.add(mine["name"])
            assert mine["score"] == pytest.approx(theirs["score"], rel=1e-4)
        else:  # from KLL quantiles: near, and the threshold widened by the sketch's error
            assert mine["score"] == pytest.approx(theirs["score"], abs=0.02)
            assert mine["threshold"] > theirs["threshold"]
    # Categories and whole numbers of few values are counted; continuous columns are sketched.
    assert {*synthetic.CATEGORICAL, "tenure_months", "num_lines"} <= exact
    assert not {"monthly_charges", "total_charges", "data_usage_gb"} & exact


def test_quality_from_sketch_counts_names_what_rows_name(workdir: Path) -> None:
    rows = check(workdir, workdir / "quality", "rows")
    sketched = check(workdir, workdir / "quality", "sketches")
    assert sketched["verdict"] == rows["verdict"] == "DataQualityIssue"
    for field in ("missingColumns", "newColumns", "typeMismatches", "missingValueShare"):
        assert sketched["dataQuality"][field] == rows["dataQuality"][field], field
    assert [(c["column"], c["values"]) for c in sketched["dataQuality"]["newCategories"]] == [
        (c["column"], c["values"]) for c in rows["dataQuality"]["newCategories"]
    ]


def test_a_file_without_its_sketch_is_sketched_from_its_rows(workdir: Path, tmp_path: Path) -> None:
    capture = tmp_path / "one-missing"
    frame = synthetic.generate(ROWS, 5).drop(columns=[synthetic.TARGET])
    write_capture(capture, frame)
    sidecars = sorted(capture.rglob("hour=11/*.sketch"))  # the window's hour
    sidecars[len(sidecars) // 2].unlink()
    rows = check(workdir, capture, "rows")
    sketched = check(workdir, capture, "sketches")
    assert sketched["dataPath"] == "sketches"
    assert sketched["dataPathReason"].startswith(f"1 of {len(sidecars)} capture files had no readable sketch")
    assert sketched["rows"]["current"] == rows["rows"]["current"]
    assert_agree(sketched, rows)
    auto = check(workdir, capture, "auto")
    assert auto["dataPath"] == "rows"
    assert auto["dataPathReason"] == f"auto: 1 of {len(sidecars)} capture files have no sketch"


def test_auto_reads_sketches_only_past_its_row_threshold(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = check(workdir, workdir / "covariate", "auto")
    assert small["dataPath"] == "rows"
    assert small["dataPathReason"].startswith(f"auto: {small['rows']['current']:,} rows, under the")
    monkeypatch.setattr(sketch_check, "AUTO_MIN_ROWS", 10_000)
    large = check(workdir, workdir / "covariate", "auto")
    assert large["dataPath"] == "sketches"
    assert_agree(large, small)


def test_a_damaged_sketch_is_read_as_rows(workdir: Path, tmp_path: Path) -> None:
    capture = tmp_path / "damaged"
    write_capture(capture, synthetic.generate(10_000, 9).drop(columns=[synthetic.TARGET]))
    victim = sorted(capture.rglob("hour=11/*.sketch"))[-1]
    victim.write_bytes(b"not a sketch")
    status = check(workdir, capture, "sketches")
    assert status["dataPath"] == "sketches"
    assert status["rows"]["current"] == check(workdir, capture, "rows")["rows"]["current"]
    assert "capture files had no readable sketch" in status["dataPathReason"]
