"""status.multivariate (issue 13) is declared in the CRD, so a real API server keeps what the check wrote."""

from __future__ import annotations

import pytest
from driftwatch_controller.api.status import check_status
from driftwatch_controller.engine import multivariate as mv
from support.crd_schema import run_outcome, status_errors

pytestmark = pytest.mark.unit

MEASURED = mv.MultivariateResult("pca", 1.47, 0.86, 0.98, True, 2, 4, 0.92)


@pytest.mark.parametrize(
    "result", [MEASURED, mv.skipped("needs at least two features that vary in the reference, has 1", 1)]
)
def test_a_measured_or_skipped_multivariate_block_is_declared(result: mv.MultivariateResult) -> None:
    status = check_status(run_outcome(multivariate=result.to_status()))
    assert status["multivariate"]["method"] == "pca"
    assert status_errors(status) == []


def test_a_run_without_it_writes_null_that_clears_the_last() -> None:
    status = check_status(run_outcome())
    assert status["multivariate"] is None
    assert status_errors(status) == []


@pytest.mark.parametrize(
    "change", [{"band": {"lower": "low", "upper": 1.0}}, {"pValue": 0.01}], ids=["mistyped", "undeclared"]
)
def test_a_block_the_crd_would_not_keep_is_caught(change: dict) -> None:
    status = check_status(run_outcome(multivariate={**MEASURED.to_status(), **change}))
    assert any(error.startswith("status.multivariate") for error in status_errors(status))
