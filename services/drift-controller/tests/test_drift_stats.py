"""The numpy ports of Evidently's statistics equal Evidently's own stattests (to 1e-9)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from driftwatch_controller.engine import drift_stats
from driftwatch_controller.engine.evidently_adapter import evidently_statistic
from driftwatch_demo.synthetic import CATEGORICAL, NUMERICAL, Scenario, generate

pytestmark = pytest.mark.unit


def _arrays(ref: pd.DataFrame, cur: pd.DataFrame, column: str):
    if column in NUMERICAL:
        r, c = ref[column].to_numpy(float), cur[column].to_numpy(float)
        return r, c, pd.Series(r), pd.Series(c), "numerical"
    codes, _ = pd.factorize(pd.concat([ref[column], cur[column]]).astype(str))
    rs = ref[column].astype(object).reset_index(drop=True)
    cs = cur[column].astype(object).reset_index(drop=True)
    return codes[: len(ref)].astype(np.int64), codes[len(ref) :].astype(np.int64), rs, cs, "categorical"


@pytest.mark.parametrize("method", drift_stats.METHODS)
def test_numpy_port_equals_evidently_stattest(method: str) -> None:
    ref = generate(3000, 11)
    cur = generate(700, 12, Scenario(kind="covariate", features=("tenure_months", "region"), magnitude=0.6))
    compared = 0
    for column in (*NUMERICAL, *CATEGORICAL):
        r, c, rs, cs, kind = _arrays(ref, cur, column)
        if kind not in drift_stats.METHOD_INFO[method].kinds:
            continue
        ours = drift_stats.statistic(method, r, c, kind)
        theirs = evidently_statistic(method, rs, cs, kind)
        assert ours == pytest.approx(theirs, abs=1e-9, rel=1e-9), column
        compared += 1
    assert compared >= 10


def test_auto_method_is_evidently_large_reference_rule() -> None:
    assert drift_stats.auto_method("numerical", 50) == "wasserstein"
    assert drift_stats.auto_method("numerical", 5) == "jensenshannon"
    assert drift_stats.auto_method("categorical", 3) == "jensenshannon"


def test_pvalue_methods_drift_below_threshold_distances_above() -> None:
    assert drift_stats.is_drifted("ks", 0.01, 0.05)
    assert not drift_stats.is_drifted("ks", 0.2, 0.05)
    assert drift_stats.is_drifted("wasserstein", 0.2, 0.1)
    assert not drift_stats.is_drifted("wasserstein", 0.05, 0.1)


def test_method_not_applicable_to_categorical_is_rejected() -> None:
    with pytest.raises(ValueError, match="does not apply"):
        drift_stats.statistic("wasserstein", np.array([0, 1]), np.array([1, 1]), "categorical")
