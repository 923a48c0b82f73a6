"""A drift check on a capture written under capture controls (issue 13): sampled, with features left
out or hashed. Files of other controls than the newest are skipped and named, never pooled; left-out
and hashed features are unmonitored, not missing; the rows say the sample rate and what they stand for."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from drift_fixtures import current_frame, reference_frame, settings, spec_for, write_capture, write_parquet
from driftwatch_capture.schema import CaptureControls
from driftwatch_controller.engine import datasets, report
from driftwatch_controller.engine.check import UnusableInput, run_check
from driftwatch_controller.engine.datasets import ControlledFile, settle_controls

pytestmark = pytest.mark.unit

NOW = datetime.fromisoformat("2026-11-27T10:00:00+00:00")
START = pd.Timestamp("2026-11-27T09:05:00Z")
SAMPLED = CaptureControls(0.1, excluded=("age",), hashed=("region",))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    return write_parquet(reference_frame(3000), tmp_path_factory.mktemp("ref") / "reference.parquet")


@pytest.fixture
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "controls-cache"


def test_the_newest_files_controls_win_and_the_others_are_named_with_both_settings() -> None:
    everything = CaptureControls()
    files = [
        ControlledFile("hour=09/a.parquet", everything, 100),
        ControlledFile("hour=09/b.parquet", SAMPLED, 300),
        ControlledFile("hour=09/c.parquet", CaptureControls(0.1, ("age",), ("region",)), 200),
        ControlledFile("hour=09/empty.parquet", CaptureControls(0.5), None),  # no row in the window
    ]
    chosen, skipped = settle_controls(files)
    assert chosen.same_capture(SAMPLED)
    assert [s.name for s in skipped] == ["hour=09/a.parquet"]
    assert skipped[0].reason == (
        "captured under sample rate 1, the window's newest files under sample rate 0.1; excluded age; "
        "hashed region: not pooled"
    )
    assert settle_controls([]) == (CaptureControls(), [])


def test_a_rate_change_within_the_window_skips_the_older_files_rows(reference, tmp_path) -> None:
    root = tmp_path / "churn"
    write_capture(root, current_frame(400, 1), START, 600, "before")  # every row, before the change
    later = START + pd.Timedelta(minutes=20)
    write_capture(root, current_frame(300, 2), later, 600, "after", controls=SAMPLED)
    window = datasets.window_of(NOW, pd.Timedelta(hours=1).to_pytimedelta())
    read = datasets.read_capture_window(str(root), window)
    assert read.controls.same_capture(SAMPLED)
    assert len(read.frame) == 300
    assert read.frame["request_id"].str.startswith("after-").all()
    assert [s.name for s in read.skipped] == ["date=2026-11-27/hour=09/test-before.parquet"]
    assert "sample rate 1," in read.skipped[0].reason


@pytest.mark.parametrize("data", ["rows", "sketches"])
def test_excluded_and_hashed_features_are_unmonitored_not_missing(reference, tmp_path, cache, data) -> None:
    root = tmp_path / "churn"
    write_capture(root, current_frame(1000, 3), START, 1800, "a", controls=SAMPLED, sketch=True)
    spec = spec_for(reference, str(root), drift={"data": data})
    outcome = run_check(spec, now=NOW, settings=settings(cache))
    status = outcome.status
    assert status["verdict"] == "NoDrift", status["reason"]
    quality = status["dataQuality"]
    assert quality["missingColumns"] == []
    assert quality["unmonitoredColumns"] == [
        {"column": "age", "capture": "excluded"},
        {"column": "region", "capture": "hashed"},
    ]
    measured = {c["name"] for c in status["columns"]}
    assert "age" not in measured
    assert "region" not in measured
    assert status["monitoredColumns"] == 13
    assert status["rows"]["current"] == 1000
    assert status["rows"]["sampleRate"] == 0.1
    assert status["rows"]["estimatedCurrent"] == 10_000
    assert status["dataPath"] == data
    table = report.to_table(status)
    assert "labelled 0 (sample rate 0.1: about 10,000 predictions)" in table
    assert "  not monitored: age (excluded in the capture)" in table
    assert "  not monitored: region (hashed in the capture)" in table


def test_a_rate_change_is_skipped_on_the_sketch_path_too(reference, tmp_path, cache) -> None:
    root = tmp_path / "churn"
    write_capture(root, current_frame(800, 4), START, 600, "before", sketch=True)
    later = START + pd.Timedelta(minutes=20)
    write_capture(root, current_frame(600, 5), later, 600, "after", controls=SAMPLED, sketch=True)
    spec = spec_for(reference, str(root), drift={"data": "sketches"})
    status = run_check(spec, now=NOW, settings=settings(cache)).status
    assert status["dataPath"] == "sketches"
    assert status["rows"]["current"] == 600
    assert status["skippedFiles"]["count"] == 1
    assert status["skippedFiles"]["files"][0]["name"].endswith("test-before.parquet")
    assert "not pooled" in status["skippedFiles"]["files"][0]["reason"]
    assert "1 capture file skipped" in status["reason"]


def test_without_controls_in_the_files_every_row_and_feature_is_as_before(reference, tmp_path, cache) -> None:
    root = tmp_path / "churn"
    write_capture(root, current_frame(500, 6), START, 600, "a")
    status = run_check(spec_for(reference, str(root)), now=NOW, settings=settings(cache)).status
    assert status["rows"]["sampleRate"] == 1.0
    assert status["rows"]["estimatedCurrent"] == 500
    assert status["dataQuality"]["unmonitoredColumns"] == []
    assert status["monitoredColumns"] == 15


def test_too_few_sampled_rows_say_how_many_predictions_they_stand_for(reference, tmp_path, cache) -> None:
    root = tmp_path / "churn"
    write_capture(root, current_frame(150, 7), START, 600, "a", controls=SAMPLED)
    status = run_check(spec_for(reference, str(root)), now=NOW, settings=settings(cache)).status
    assert status["verdict"] == "InsufficientData"
    assert status["reason"] == (
        "150 current rows, fewer than minRows 200 (captured at a sample rate of 0.1: about 1,500 "
        "predictions served)"
    )


def test_segments_by_a_hashed_column_are_unusable_input_naming_it(reference, tmp_path, cache) -> None:
    root = tmp_path / "churn"
    write_capture(root, current_frame(500, 8), START, 600, "a", controls=SAMPLED)
    spec = spec_for(reference, str(root), segments={"columns": ["region"]})
    with pytest.raises(UnusableInput, match=r"spec\.segments: column region is hashed in the capture"):
        run_check(spec, now=NOW, settings=settings(cache))


def test_one_capture_file_given_as_current_is_read_under_its_own_controls(reference, tmp_path, cache) -> None:
    root = tmp_path / "churn"
    write_capture(root, current_frame(600, 9), START, 600, "a", controls=SAMPLED)
    (path,) = root.rglob("*.parquet")
    status = run_check(spec_for(reference, str(path)), now=NOW, settings=settings(cache)).status
    assert status["verdict"] == "NoDrift", status["reason"]
    assert status["dataQuality"]["missingColumns"] == []
    assert [c["column"] for c in status["dataQuality"]["unmonitoredColumns"]] == ["age", "region"]
    assert status["rows"]["sampleRate"] == 0.1
    assert datasets.file_controls(str(tmp_path / "nothing.csv")) == CaptureControls()
    assert datasets.file_controls(str(tmp_path / "absent.parquet")) == CaptureControls()
