"""The whole check on a correlation flip (issue 13): marginals unchanged, multivariate drift in the status."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from driftwatch_controller.api.spec import DriftCheckSpec
from driftwatch_controller.engine.check import EngineSettings, run_check

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
REFERENCE_ROWS, WINDOW_ROWS = 5000, 1000


def _frame(rows: int, rho: float, seed: int) -> pd.DataFrame:
    """`income`, `spend`: standard normal with correlation `rho`; `tenure` exponential; `plan` a category."""
    rng = np.random.default_rng(seed)
    xy = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=rows)
    return pd.DataFrame(
        {
            "income": xy[:, 0],
            "spend": xy[:, 1],
            "tenure": rng.exponential(12.0, size=rows),
            "plan": rng.choice(["basic", "plus", "pro"], size=rows, p=[0.6, 0.3, 0.1]),
        }
    )


def _run(tmp_path: Path, current: pd.DataFrame, columns: dict, enabled: bool = True) -> dict:
    reference_path, current_path = tmp_path / "reference.parquet", tmp_path / "current.parquet"
    _frame(REFERENCE_ROWS, 0.8, 1).to_parquet(reference_path, index=False)
    current.to_parquet(current_path, index=False)
    spec = DriftCheckSpec.from_manifest(
        {
            "reference": {"uri": str(reference_path)},
            "current": {"uri": str(current_path), "minRows": 200},
            "columns": columns,
            "drift": {"multivariate": {"enabled": enabled}},
        }
    )
    settings = EngineSettings(calibration_cache_dir=tmp_path / "cache")
    return run_check(spec, now=NOW, settings=settings).status


ALL = {"numerical": ["income", "spend", "tenure"], "categorical": ["plan"]}


def test_a_flipped_correlation_is_multivariate_drift_while_no_column_drifts(tmp_path: Path) -> None:
    status = _run(tmp_path, _frame(WINDOW_ROWS, -0.8, 2), ALL)
    assert status["driftedColumns"] == 0
    assert status["driftShare"] == 0.0
    joint = status["multivariate"]
    assert joint["drifted"] is True
    assert joint["value"] > joint["band"]["upper"]
    assert joint["components"] == 2
    assert joint["features"] == 4
    assert (status["verdict"], status["recommendation"]) == ("Drift", "Investigate")
    assert "multivariate drift: mean PCA reconstruction error" in status["reason"]
    assert "share 0.00 < investigateShare 0.2" in status["reason"]


def test_the_same_flip_is_nodrift_with_multivariate_off(tmp_path: Path) -> None:
    status = _run(tmp_path, _frame(WINDOW_ROWS, -0.8, 2), ALL, enabled=False)
    assert status["multivariate"] is None
    assert (status["verdict"], status["recommendation"]) == ("NoDrift", "None")


def test_an_undrifted_window_is_inside_the_band(tmp_path: Path) -> None:
    status = _run(tmp_path, _frame(WINDOW_ROWS, 0.8, 3), ALL)
    joint = status["multivariate"]
    assert joint["band"]["lower"] <= joint["value"] <= joint["band"]["upper"]
    assert joint["drifted"] is False
    assert status["verdict"] == "NoDrift"


@pytest.mark.parametrize(
    ("columns", "reason"),
    [
        ({"categorical": ["plan"]}, "needs at least one numerical feature"),
        ({"numerical": ["income"]}, "needs at least two features that vary in the reference, has 1"),
    ],
    ids=["categorical-only", "single-feature"],
)
def test_a_spec_multivariate_cannot_measure_is_skipped_with_its_reason(
    tmp_path: Path, columns: dict, reason: str
) -> None:
    status = _run(tmp_path, _frame(WINDOW_ROWS, -0.8, 4), columns)
    joint = status["multivariate"]
    assert joint["value"] is None
    assert joint["band"] is None
    assert joint["drifted"] is False
    assert reason in joint["reason"]
    assert status["verdict"] == "NoDrift"
