"""status.skippedFiles (issue 12) is declared in the CRD, so a real API server keeps what the check wrote."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from driftwatch_controller.api.status import Carried, RunOutcome, check_status
from support.crd_schema import status_errors

pytestmark = pytest.mark.unit


def _status(count: int, named: int) -> dict:
    outcome = RunOutcome(
        now=dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
        carried=Carried(),
        verdict="NoDrift",
        recommendation="None",
        reason="r",
        measured=True,
        drift_share=0.0,
        drifted_columns=0,
        monitored_columns=8,
        rows={"reference": 1000, "current": 600, "labelled": 0},
        window=None,
        thresholds="calibrated",
        columns=[],
        prediction_drift=None,
        target_drift=None,
        data_quality={},
        consecutive_drift_runs=0,
        last_retrain_recommendation=None,
    )
    files = [
        {"name": f"date=2026-11-27/hour=09/pod-{i}.parquet", "reason": "unreadable: x"} for i in range(named)
    ]
    return check_status(dataclasses.replace(outcome, skipped_files=count, skipped_named=files))


def test_skipped_files_with_their_names_are_declared() -> None:
    status = _status(12, 10)
    assert status["skippedFiles"]["count"] == 12
    assert status_errors(status) == []


def test_a_run_without_skipped_files_writes_an_empty_block_that_clears_the_last() -> None:
    status = _status(0, 0)
    assert status["skippedFiles"] == {"count": 0, "files": []}
    assert status_errors(status) == []


def test_more_than_ten_named_files_are_refused_by_the_crd() -> None:
    [error] = status_errors(_status(11, 11))
    assert error.startswith("status.skippedFiles.files: ")
    assert error.endswith(" is too long")
