"""status.performance: metrics against scikit-learn, bootstrap intervals, CBPE and planted effects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from drift_fixtures import settings, write_parquet
from driftwatch_controller.api.spec import DriftCheckSpec, PerformancePolicySpec
from driftwatch_controller.engine import performance
from driftwatch_controller.engine.check import run_check
from driftwatch_controller.engine.performance import Outputs, performance_status
from driftwatch_controller.engine.performance_policy import read_drop
from driftwatch_demo.synthetic import CATEGORICAL, NUMERICAL, churn_logit, generate
from sklearn import metrics as skm

pytestmark = pytest.mark.unit

BINARY = Outputs(prediction="prediction", probability="probability")


def scored(frame: pd.DataFrame, sharpness: float = 1.0) -> pd.DataFrame:
    """The frame with the outputs of a model that knows the reference's churn relation.

    `sharpness` > 1 makes it overconfident (miscalibrated), so CBPE has to calibrate it.
    """
    out = frame.copy()
    out["probability"] = 1.0 / (1.0 + np.exp(-sharpness * churn_logit(frame)))
    out["prediction"] = (out["probability"] >= 0.5).astype("int64")
    return out


def binary(reference: pd.DataFrame, current: pd.DataFrame, **kwargs: object) -> dict:
    return performance_status(
        "binary",
        (0, 1),
        reference,
        current,
        target="churned",
        outputs=BINARY,
        **kwargs,  # type: ignore[arg-type]
    )


def metric(block: dict | None, name: str) -> dict:
    assert block is not None
    return next(m for m in block["metrics"] if m["name"] == name)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return scored(generate(10_000, 1))


def test_a_concept_shift_is_a_realized_roc_auc_drop_whose_interval_excludes_the_reference(
    reference: pd.DataFrame,
) -> None:
    window = scored(generate(1_500, 2, "concept"))
    status = binary(reference, window, min_labelled_rows=1_000)
    ref, realized = metric(status["reference"], "roc_auc"), metric(status["realized"], "roc_auc")
    assert status["realized"]["rows"] == 1_500
    assert ref["value"] - realized["value"] >= 0.05
    assert realized["upper"] < ref["value"]  # the drop's interval excludes zero
    drop = read_drop(status, PerformancePolicySpec(metric="roc_auc", max_drop=0.05, min_labelled_rows=1_000))
    assert drop is not None
    assert drop.significant
    assert drop.kind == "realized"
    # CBPE assumes no concept drift: from the outputs alone the window looks like the reference.
    assert abs(metric(status["estimated"], "roc_auc")["value"] - ref["value"]) < 0.02
    assert "no concept drift" in status["estimated"]["assumption"]


def test_cbpe_tracks_the_realized_roc_auc_under_covariate_drift_for_a_miscalibrated_model() -> None:
    reference = scored(generate(10_000, 1), sharpness=2.0)
    gaps, moved = [], []
    for seed in range(5):
        window = scored(generate(4_000, 100 + seed, "covariate"), sharpness=2.0)
        status = binary(reference, window, seed=seed, resamples=50)
        realized = metric(status["realized"], "roc_auc")["value"]
        gaps.append(abs(metric(status["estimated"], "roc_auc")["value"] - realized))
        moved.append(abs(realized - metric(status["reference"], "roc_auc")["value"]))
        accuracy_gap = (
            metric(status["estimated"], "accuracy")["value"] - metric(status["realized"], "accuracy")["value"]
        )
        assert abs(accuracy_gap) < 0.03
    assert np.mean(gaps) <= 0.02
    assert np.mean(moved) > np.mean(gaps)  # the estimate follows the change rather than the reference


def test_undrifted_windows_raise_no_performance_alarm_in_98_percent_of_50_seeds() -> None:
    reference = scored(generate(4_000, 1))
    policy = PerformancePolicySpec(metric="roc_auc", max_drop=0.05, min_labelled_rows=200)
    no_alarm, not_below = 0, 0
    for seed in range(50):
        status = binary(reference, scored(generate(800, 1_000 + seed)), seed=seed, resamples=100)
        drop = read_drop(status, policy)
        assert drop is not None
        no_alarm += not drop.significant
        # The interval alone, read one-sided as the policy reads a drop: a 97.5% bound, widened a
        # little by the reference's own noise (4,000 rows), so about 2 of 50 fall below it.
        not_below += metric(status["realized"], "roc_auc")["upper"] >= drop.reference
    assert no_alarm >= 49
    assert not_below >= 46


def test_the_realized_interval_covers_the_population_value_about_95_percent_of_the_time() -> None:
    population = scored(generate(300_000, 77))
    truth = {
        "roc_auc": skm.roc_auc_score(population["churned"], population["probability"]),
        "accuracy": skm.accuracy_score(population["churned"], population["prediction"]),
    }
    reference = scored(generate(500, 1))
    covered = dict.fromkeys(truth, 0)
    for seed in range(100):
        status = binary(reference, scored(generate(500, 5_000 + seed)), seed=seed, min_labelled_rows=100)
        for name, value in truth.items():
            row = metric(status["realized"], name)
            covered[name] += row["lower"] <= value <= row["upper"]
    # Binomial(100, 0.95): 88..99 holds with probability > 0.99; 100 of 100 would mean too wide.
    assert all(88 <= c <= 99 for c in covered.values()), covered


def test_binary_metrics_equal_scikit_learns() -> None:
    reference = scored(generate(3_000, 1), sharpness=1.5)
    window = scored(generate(2_000, 3, "covariate"), sharpness=1.5)
    status = binary(reference, window, min_labelled_rows=10, resamples=20)
    y, p, yhat = window["churned"], window["probability"], window["prediction"]
    expected = {
        "accuracy": skm.accuracy_score(y, yhat),
        "precision": skm.precision_score(y, yhat),
        "recall": skm.recall_score(y, yhat),
        "f1": skm.f1_score(y, yhat),
        "roc_auc": skm.roc_auc_score(y, p),
        "log_loss": skm.log_loss(y, p),
    }
    for name, value in expected.items():
        assert metric(status["realized"], name)["value"] == pytest.approx(value, abs=2e-6), name
    assert status["realized"]["confusion"] == {
        "labels": ["0", "1"],
        "matrix": skm.confusion_matrix(y, yhat, labels=[0, 1]).tolist(),
    }


def test_roc_auc_with_tied_scores_equals_scikit_learns() -> None:
    rng = np.random.default_rng(5)
    frame = scored(generate(3_000, 4))
    frame["probability"] = np.round(frame["probability"], 1)  # a tree model's few distinct values
    frame.loc[rng.uniform(size=len(frame)) < 0.1, "churned"] = 1
    status = binary(frame, frame, resamples=20)
    expected = skm.roc_auc_score(frame["churned"], frame["probability"])
    assert metric(status["reference"], "roc_auc")["value"] == pytest.approx(expected, abs=2e-6)


def test_multiclass_metrics_equal_scikit_learns_macro_and_one_vs_rest() -> None:
    rng = np.random.default_rng(7)
    n, classes = 3_000, ("a", "b", "c")
    logits = rng.normal(size=(n, 3))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in proba])
    frame = pd.DataFrame({f"probability_{c}": proba[:, i] for i, c in enumerate(classes)})
    frame["prediction"] = np.array(classes)[proba.argmax(axis=1)]
    frame["label"] = np.array(classes)[y]
    outputs = Outputs(prediction="prediction", class_probabilities=tuple(f"probability_{c}" for c in classes))
    status = performance_status(
        "multiclass",
        classes,
        frame,
        frame,
        target="label",
        outputs=outputs,
        min_labelled_rows=1,
        resamples=20,
    )
    labels, yhat = frame["label"], frame["prediction"]
    expected = {
        "accuracy": skm.accuracy_score(labels, yhat),
        "precision": skm.precision_score(labels, yhat, average="macro", labels=list(classes)),
        "recall": skm.recall_score(labels, yhat, average="macro", labels=list(classes)),
        "f1": skm.f1_score(labels, yhat, average="macro", labels=list(classes)),
        "roc_auc": skm.roc_auc_score(labels, proba, multi_class="ovr", average="macro", labels=list(classes)),
        "log_loss": skm.log_loss(labels, proba, labels=list(classes)),
    }
    for name, value in expected.items():
        assert metric(status["realized"], name)["value"] == pytest.approx(value, abs=2e-6), name
    assert status["metric"] == "accuracy"  # the multiclass default
    # These probabilities are the truth: the estimate is close to what the labels say.
    assert metric(status["estimated"], "accuracy")["value"] == pytest.approx(expected["accuracy"], abs=0.03)


def test_regression_metrics_equal_scikit_learns_and_no_estimate_is_made() -> None:
    rng = np.random.default_rng(3)
    y = rng.gamma(2.0, 50.0, 2_000)
    frame = pd.DataFrame({"value": y, "prediction": y + rng.normal(0, 10, len(y))})
    status = performance_status(
        "regression", (), frame, frame, target="value", outputs=Outputs(prediction="prediction"), resamples=20
    )
    expected = {
        "mae": skm.mean_absolute_error(y, frame["prediction"]),
        "rmse": np.sqrt(skm.mean_squared_error(y, frame["prediction"])),
        "mape": skm.mean_absolute_percentage_error(y, frame["prediction"]),
    }
    for name, value in expected.items():
        assert metric(status["realized"], name)["value"] == pytest.approx(value, rel=1e-6), name
    assert status["metric"] == "mae"
    assert status["estimated"] is None
    assert performance.NO_REGRESSION_ESTIMATE in status["reason"]
    assert "confusion" not in status["realized"]


def test_the_bootstrap_is_deterministic_for_a_seed(reference: pd.DataFrame) -> None:
    window = scored(generate(1_000, 9))
    first, again = binary(reference, window, seed=3), binary(reference, window, seed=3)
    other = binary(reference, window, seed=4)
    assert first == again
    assert metric(first["realized"], "roc_auc")["lower"] != metric(other["realized"], "roc_auc")["lower"]
    assert metric(first["realized"], "roc_auc")["value"] == metric(other["realized"], "roc_auc")["value"]


def test_a_large_frames_interval_from_a_subsample_matches_the_full_bootstrap() -> None:
    frame = scored(generate(60_000, 6))
    sub = binary(frame, frame.head(10), resamples=200, max_bootstrap_rows=15_000)
    full = binary(frame, frame.head(10), resamples=200, max_bootstrap_rows=60_000)
    for name in ("roc_auc", "accuracy", "log_loss"):
        a, b = metric(sub["reference"], name), metric(full["reference"], name)
        assert a["value"] == b["value"]
        assert a["lower"] < a["value"] < a["upper"]
        assert (a["upper"] - a["lower"]) == pytest.approx(b["upper"] - b["lower"], rel=0.25), name


def test_label_coverage_and_labelled_rows_are_exact_and_few_labels_give_no_realized_block(
    reference: pd.DataFrame,
) -> None:
    window = scored(generate(1_000, 8))
    window.loc[window.index[150:], "churned"] = None
    status = binary(reference, window, min_labelled_rows=200)
    assert status["labelledRows"] == 150
    assert status["labelCoverage"] == 0.15
    assert status["realized"] is None
    assert "150 labelled rows, fewer than the 200 required" in status["reason"]
    assert status["estimated"]["rows"] == 1_000  # the estimate needs no label
    assert status["reference"]["rows"] == 10_000
    enough = binary(reference, window, min_labelled_rows=150)
    assert enough["realized"]["rows"] == 150


def test_a_window_without_the_label_column_has_zero_coverage_and_an_estimate(reference: pd.DataFrame) -> None:
    window = scored(generate(500, 8)).drop(columns=["churned"])
    status = binary(reference, window)
    assert (status["labelledRows"], status["labelCoverage"], status["realized"]) == (0, 0.0, None)
    assert metric(status["estimated"], "roc_auc")["value"] is not None


def test_the_check_writes_status_performance_for_a_named_target(tmp_path: Path) -> None:
    ref = write_parquet(scored(generate(4_000, 1)), tmp_path / "reference.parquet")
    cur = write_parquet(scored(generate(1_200, 2, "concept")), tmp_path / "current.parquet")
    spec = DriftCheckSpec.from_manifest(
        {
            "reference": {"uri": ref},
            "current": {"uri": cur, "window": "1h", "minRows": 200},
            "columns": {
                "numerical": list(NUMERICAL),
                "categorical": list(CATEGORICAL),
                "target": "churned",
                "prediction": "probability",
                "predictionClass": "prediction",
            },
            # One run is enough here: the hysteresis is the policy's, tested with it.
            "policy": {"consecutiveRuns": 1, "performance": {"metric": "roc_auc", "minLabelledRows": 1_000}},
        }
    )
    status = run_check(spec, settings=settings(tmp_path / "cache")).status
    perf = status["performance"]
    assert perf["task"] == "binary"
    assert perf["labelledRows"] == 1_200
    assert perf["drop"]["kind"] == "realized"
    assert perf["drop"]["significant"] is True
    assert status["recommendation"] == "Retrain"
    assert "roc_auc" in status["reason"]


def test_a_check_without_a_target_has_no_performance(tmp_path: Path) -> None:
    ref = write_parquet(scored(generate(1_000, 1)).drop(columns=["churned"]), tmp_path / "reference.parquet")
    cur = write_parquet(scored(generate(500, 2)).drop(columns=["churned"]), tmp_path / "current.parquet")
    spec = DriftCheckSpec.from_manifest(
        {
            "reference": {"uri": ref},
            "current": {"uri": cur, "window": "1h", "minRows": 200},
            "columns": {"numerical": list(NUMERICAL), "prediction": "probability"},
        }
    )
    assert run_check(spec, settings=settings(tmp_path / "cache")).status["performance"] is None
