"""The ONNX scoring engine: chosen for the Pipelines users fit, equal to scikit-learn, else refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from driftwatch_demo import synthetic
from driftwatch_demo.training import build_pipeline
from driftwatch_inference import scoring
from driftwatch_inference.model_card import ModelCard
from driftwatch_inference.onnx_scoring import OnnxScorer
from driftwatch_inference.scoring import ENGINE_TOLERANCE, LinearScorer, build_scorer, model_outputs
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

pytestmark = pytest.mark.unit

FEATURES = list(synthetic.FEATURE_NAMES)
ROWS = 400
UNSEEN = "never-seen-before"


def _pipeline(estimator: BaseEstimator, scale: bool = False) -> Pipeline:
    """One-hot categoricals (unknown ignored) beside the numerics, scaled or passed through.

    remainder="passthrough" (no column left for it) keeps the logistic Pipelines off the closed form,
    which takes only the demo's exact shape: these test the ONNX engine."""
    numeric = StandardScaler() if scale else "passthrough"
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(synthetic.CATEGORICAL)),
            ("num", numeric, list(synthetic.NUMERICAL)),
        ],
        remainder="passthrough",
    )
    return Pipeline([("pre", pre), ("model", estimator)])


def _tier(data: pd.DataFrame) -> np.ndarray:
    """A three-class string target: the customer's tenure band."""
    return np.array(["new", "settled", "loyal"])[(data["tenure_months"].to_numpy() // 24).clip(0, 2)]


def _bill(data: pd.DataFrame) -> np.ndarray:
    """A regression target of a few tens (a float32 output is within 1e-5 of it)."""
    return (data["monthly_charges"] / 10 + data["support_calls_90d"]).to_numpy()


CASES: dict[str, tuple[Any, str]] = {
    "logistic": (lambda: _pipeline(LogisticRegression(max_iter=2000), scale=True), "binary"),
    "random_forest": (lambda: _pipeline(RandomForestClassifier(5, max_depth=5, random_state=0)), "binary"),
    "hist_gradient_boosting": (
        lambda: _pipeline(HistGradientBoostingClassifier(max_iter=10, random_state=0)),
        "binary",
    ),
    "multiclass_hgb": (
        lambda: _pipeline(HistGradientBoostingClassifier(max_iter=5, random_state=0)),
        "multiclass",
    ),
    "multiclass_logistic": (lambda: _pipeline(LogisticRegression(max_iter=2000), scale=True), "multiclass"),
    "rf_regressor": (lambda: _pipeline(RandomForestRegressor(5, max_depth=5, random_state=0)), "regression"),
    "hgb_regressor": (
        lambda: _pipeline(HistGradientBoostingRegressor(max_iter=10, random_state=0)),
        "regression",
    ),
    "ridge": (lambda: _pipeline(Ridge(), scale=True), "regression"),
    "linear_regression": (lambda: _pipeline(LinearRegression()), "regression"),
}


def _card(task: str, classes: tuple[Any, ...]) -> ModelCard:
    return ModelCard(
        name="user",
        version="1",
        trained_at="2026-01-01T00:00:00Z",
        target="y",
        classes=classes,
        features=synthetic.FEATURES,
        raw={},
        task=task,  # type: ignore[arg-type]
    )


def _fit(estimator: BaseEstimator, task: str) -> tuple[Any, ModelCard]:
    data = synthetic.generate(ROWS, seed=1)
    target = {"binary": data[synthetic.TARGET].to_numpy(), "multiclass": _tier(data)}.get(task)
    model = estimator.fit(data[FEATURES], _bill(data) if target is None else target)
    if task == "regression":
        return model, _card(task, ())
    classes = tuple(model.classes_.tolist())
    # A multiclass card in another order than `classes_`: the scorer answers in the card's order.
    return model, _card(task, classes[::-1] if task == "multiclass" else classes)


def _reference() -> pd.DataFrame:
    return synthetic.generate(ROWS, seed=2)[FEATURES]


def _fresh_rows(seed: int = 3) -> list[dict[str, Any]]:
    """Rows as the service passes them: plain Python values from the validated JSON."""
    return synthetic.records(synthetic.generate(200, seed=seed))


@pytest.fixture(scope="module", params=sorted(CASES))
def fitted_case(request: pytest.FixtureRequest) -> tuple[str, Any, ModelCard]:
    make, task = CASES[request.param]
    model, card = _fit(make(), task)
    return request.param, model, card


def test_onnx_is_chosen_and_equals_scikit_learn_on_fresh_rows(
    fitted_case: tuple[str, Any, ModelCard],
) -> None:
    _, model, card = fitted_case
    scorer = build_scorer(model, card, _reference())

    assert scorer.engine == "onnx", scorer.engine_reason
    assert scorer.max_abs_difference is not None
    assert scorer.max_abs_difference <= ENGINE_TOLERANCE
    assert f"{ROWS} reference rows" in scorer.engine_reason
    rows = _fresh_rows()
    got = scorer.score(rows)
    expected = model_outputs(model, pd.DataFrame.from_records(rows, columns=FEATURES), card)
    assert got.dtype == np.float64
    assert got.shape == ((len(rows), len(card.classes)) if card.is_classifier else (len(rows),))
    np.testing.assert_allclose(got, expected, rtol=0, atol=ENGINE_TOLERANCE)
    # One row, the service's hot path, scores as the same row in a batch.
    np.testing.assert_allclose(scorer.score(rows[:1]), got[:1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("feature", [*synthetic.CATEGORICAL, "all"])
def test_unseen_categories_score_as_scikit_learn_with_handle_unknown_ignore(
    fitted_case: tuple[str, Any, ModelCard], feature: str
) -> None:
    _, model, card = fitted_case
    scorer = build_scorer(model, card, _reference())
    names = synthetic.CATEGORICAL if feature == "all" else (feature,)
    rows = [{**row, **dict.fromkeys(names, UNSEEN)} for row in _fresh_rows(seed=4)[:50]]

    expected = model_outputs(model, pd.DataFrame.from_records(rows, columns=FEATURES), card)
    np.testing.assert_allclose(scorer.score(rows), expected, rtol=0, atol=ENGINE_TOLERANCE)


def test_the_engine_check_covers_rows_with_unseen_categories() -> None:
    model, card = _fit(CASES["logistic"][0](), "binary")
    scorer = build_scorer(model, card, _reference())

    n = min(scoring.UNSEEN_PROBE_ROWS, ROWS) * len(synthetic.CATEGORICAL)
    assert f"(+{n} with unseen categories)" in scorer.engine_reason


class _Doubler(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """A user's own transformer: no skl2onnx converter knows it."""

    def fit(self, x: Any, y: Any = None) -> _Doubler:
        return self

    def transform(self, x: Any) -> Any:
        return np.asarray(x, dtype=np.float64) * 2


def _with_numeric_step(step: BaseEstimator) -> Pipeline:
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(synthetic.CATEGORICAL)),
            ("num", step, list(synthetic.NUMERICAL)),
        ]
    )
    return Pipeline([("pre", pre), ("model", RandomForestClassifier(3, max_depth=3, random_state=0))])


@pytest.mark.parametrize(
    ("step", "named"),
    [
        (_Doubler(), "_Doubler"),
        (FunctionTransformer(lambda x: np.log1p(x)), "FunctionTransformer(<lambda>)"),
    ],
    ids=["custom-estimator", "function-transformer-lambda"],
)
def test_a_model_skl2onnx_cannot_convert_is_scored_by_scikit_learn_with_the_reason(
    step: BaseEstimator, named: str
) -> None:
    model, card = _fit(_with_numeric_step(step), "binary")
    scorer = build_scorer(model, card, _reference())

    assert scorer.engine == "sklearn"
    assert scorer.engine_reason.startswith(f"skl2onnx cannot convert {named}: ")
    assert "\n" not in scorer.engine_reason
    assert scorer.max_abs_difference is None
    rows = _fresh_rows()[:5]
    expected = model_outputs(model, pd.DataFrame.from_records(rows, columns=FEATURES), card)
    np.testing.assert_array_equal(scorer.score(rows), expected)


def test_onnx_further_from_scikit_learn_than_the_tolerance_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, card = _fit(CASES["random_forest"][0](), "binary")
    exact = OnnxScorer.score
    monkeypatch.setattr(OnnxScorer, "score", lambda self, rows: exact(self, rows) + 3.2e-4)

    scorer = build_scorer(model, card, _reference())

    assert scorer.engine == "sklearn"
    assert scorer.max_abs_difference == pytest.approx(3.2e-4, abs=1e-6)
    assert scorer.engine_reason.startswith(
        "ONNX differs from scikit-learn by 3.2e-04 > 1e-05 on 400 reference rows"
    )


def test_a_zero_tolerance_refuses_any_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    model, card = _fit(CASES["hist_gradient_boosting"][0](), "binary")
    monkeypatch.setattr(scoring, "ENGINE_TOLERANCE", 0.0)

    scorer = build_scorer(model, card, _reference())

    assert scorer.max_abs_difference is not None
    assert scorer.max_abs_difference > 0  # float32 probabilities out of the tree ensemble
    assert scorer.engine == "sklearn"
    assert "> 0e+00" in scorer.engine_reason


def test_without_reference_rows_the_scikit_learn_model_scores() -> None:
    model, card = _fit(CASES["logistic"][0](), "binary")

    for reference in (None, _reference().head(0)):
        scorer = build_scorer(model, card, reference)
        assert scorer.engine == "sklearn"
        assert scorer.engine_reason == "no reference rows to check a faster engine on"
        assert scorer.max_abs_difference is None


def test_a_bare_estimator_on_numeric_columns_converts_with_one_input_matrix() -> None:
    data = synthetic.generate(ROWS, seed=1)
    columns = list(synthetic.NUMERICAL)
    model = RandomForestClassifier(5, max_depth=4, random_state=0).fit(data[columns], data[synthetic.TARGET])
    specs = tuple(f for f in synthetic.FEATURES if f.kind == "numerical")
    card = ModelCard("user", "1", "2026-01-01T00:00:00Z", "y", (0, 1), specs, {})

    scorer = build_scorer(model, card, _reference()[list(synthetic.NUMERICAL)])

    assert scorer.engine == "onnx", scorer.engine_reason
    assert [i.name for i in scorer.session.get_inputs()] == ["driftwatch_numbers"]  # type: ignore[attr-defined]
    rows = [{k: r[k] for k in synthetic.NUMERICAL} for r in _fresh_rows()]
    expected = model_outputs(model, pd.DataFrame.from_records(rows, columns=columns), card)
    np.testing.assert_allclose(scorer.score(rows), expected, rtol=0, atol=ENGINE_TOLERANCE)


@pytest.mark.parametrize("reverse", [False, True], ids=["card-order", "reversed-card-order"])
def test_the_demos_logistic_pipeline_is_scored_by_its_closed_form(reverse: bool) -> None:
    model, card = _fit(build_pipeline(42), "binary")
    if reverse:
        card = _card("binary", card.classes[::-1])
    scorer = build_scorer(model, card, _reference())

    assert scorer.engine == "closed_form", scorer.engine_reason
    assert scorer.max_abs_difference is not None
    assert scorer.max_abs_difference <= 1e-12
    rows = _fresh_rows()
    unseen = [{**row, **dict.fromkeys(synthetic.CATEGORICAL, UNSEEN)} for row in rows[:20]]
    for batch in (rows, unseen, rows[:1]):
        expected = model_outputs(model, pd.DataFrame.from_records(batch, columns=FEATURES), card)
        np.testing.assert_allclose(scorer.score(batch), expected, rtol=0, atol=1e-12)


def test_a_closed_form_off_scikit_learn_gives_way_to_onnx(monkeypatch: pytest.MonkeyPatch) -> None:
    model, card = _fit(build_pipeline(42), "binary")
    exact = LinearScorer.score
    monkeypatch.setattr(LinearScorer, "score", lambda self, rows: exact(self, rows) + 1e-3)

    scorer = build_scorer(model, card, _reference())

    assert scorer.engine == "onnx", scorer.engine_reason
