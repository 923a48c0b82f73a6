"""The generator is deterministic, and each scenario plants the drift it names (and only that)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from driftwatch_demo import synthetic
from driftwatch_inference.model_card import MODEL_FILE
from driftwatch_inference.scoring import load_model
from sklearn.metrics import roc_auc_score

pytestmark = pytest.mark.unit
N = 4000


def test_same_seed_gives_the_same_table_and_another_seed_does_not() -> None:
    pd.testing.assert_frame_equal(synthetic.generate(500, seed=3), synthetic.generate(500, seed=3))
    assert not synthetic.generate(500, seed=3).equals(synthetic.generate(500, seed=4))


def test_base_table_has_every_feature_in_its_valid_domain() -> None:
    frame = synthetic.generate(N, seed=1)
    assert list(frame.columns) == [*synthetic.FEATURE_NAMES, synthetic.TARGET]
    for spec in synthetic.FEATURES:
        if spec.kind == "categorical":
            assert set(frame[spec.name]) <= set(spec.categories)
        else:
            assert frame[spec.name].between(spec.valid_min, spec.valid_max).all()
    assert 0.1 < frame[synthetic.TARGET].mean() < 0.5


def test_covariate_scenario_moves_the_chosen_features_only() -> None:
    base = synthetic.generate(N, seed=1)
    drifted = synthetic.generate(N, seed=1, scenario="covariate")
    assert drifted["tenure_months"].mean() > base["tenure_months"].mean() + 0.5 * base["tenure_months"].std()
    assert (drifted["contract"] == "two-year").mean() > (base["contract"] == "two-year").mean() + 0.1
    assert drifted["age"].mean() == pytest.approx(base["age"].mean(), abs=1.0)


def test_prior_scenario_changes_the_churn_rate() -> None:
    base = synthetic.generate(N, seed=1)
    shifted = synthetic.generate(N, seed=1, scenario="prior")
    assert shifted[synthetic.TARGET].mean() == pytest.approx(0.5, abs=0.02)
    assert abs(shifted[synthetic.TARGET].mean() - base[synthetic.TARGET].mean()) > 0.15


def test_concept_scenario_keeps_inputs_and_changes_the_labels() -> None:
    base = synthetic.generate(N, seed=1)
    concept = synthetic.generate(N, seed=1, scenario="concept")
    features = list(synthetic.FEATURE_NAMES)
    pd.testing.assert_frame_equal(base[features], concept[features])
    assert (base[synthetic.TARGET] != concept[synthetic.TARGET]).mean() > 0.2


def test_quality_scenario_breaks_the_schema() -> None:
    broken = synthetic.generate(N, seed=1, scenario="quality")
    assert "call_minutes" not in broken.columns
    assert broken["monthly_charges"].isna().mean() == pytest.approx(0.2, abs=0.03)
    assert (broken["internet_service"] == "satellite").any()
    assert broken["tenure_months"].map(type).eq(str).all()


def test_records_are_json_ready_with_none_for_missing_values() -> None:
    rows = synthetic.records(synthetic.generate(200, seed=2, scenario="quality"))
    assert "churned" not in rows[0]
    assert any(row["monthly_charges"] is None for row in rows)
    assert all(not isinstance(v, np.generic) for row in rows for v in row.values())


@pytest.mark.parametrize("seed", [303, 7, 8])
def test_concept_scenario_costs_the_demo_model_far_more_than_005_roc_auc(model_dir, seed: int) -> None:
    # make demo's third phase: same inputs (no feature can drift), the model's ranking much worse.
    model = load_model(model_dir / MODEL_FILE)
    features = list(synthetic.FEATURE_NAMES)
    base = synthetic.generate(1200, seed)
    concept = synthetic.generate(1200, seed, "concept")
    pd.testing.assert_frame_equal(base[features], concept[features])
    auc = {
        name: roc_auc_score(frame[synthetic.TARGET], model.predict_proba(frame[features])[:, 1])
        for name, frame in (("base", base), ("concept", concept))
    }
    assert auc["base"] > 0.75
    assert auc["base"] - auc["concept"] > 0.1
