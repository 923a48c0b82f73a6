"""status.skippedFiles (issue 12) is declared in the CRD, so a real API server keeps what the check wrote."""

from __future__ import annotations

import pytest
from driftwatch_controller.api.status import check_status
from support.crd_schema import run_outcome, status_errors

pytestmark = pytest.mark.unit


def _status(count: int, named: int) -> dict:
    files = [
        {"name": f"date=2026-11-27/hour=09/pod-{i}.parquet", "reason": "unreadable: x"} for i in range(named)
    ]
    return check_status(run_outcome(skipped_files=count, skipped_named=files))


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
