"""Controller metrics mirror DriftCheck statuses (names from docs/metrics.md) and vanish with them."""

from __future__ import annotations

from typing import Any

import pytest
from driftwatch_controller.api.spec import DriftCheckSpec
from driftwatch_controller.controller.drift_metrics import StatusStore, build_registry

pytestmark = pytest.mark.unit

URIS = {"reference": {"uri": "file:///r.parquet"}, "current": {"uri": "file:///c"}}


def typed(**spec: Any) -> DriftCheckSpec:
    return DriftCheckSpec.parse({**URIS, **spec})


SPEC = typed(schedule="*/15 * * * *", model="churn", policy={"investigateShare": 0.25})
STATUS: dict[str, Any] = {
    "verdict": "Drift",
    "recommendation": "Investigate",
    "driftShare": 0.4,
    "driftedColumns": 2,
    "monitoredColumns": 5,
    "rows": {"reference": 10000, "current": 1200},
    "columns": [
        {
            "name": "tenure_months",
            "type": "numerical",
            "method": "wasserstein",
            "score": 0.21,
            "threshold": 0.05,
            "drifted": True,
        },
        {
            "name": "contract",
            "type": "categorical",
            "method": "jensenshannon",
            "score": 0.01,
            "threshold": 0.05,
            "drifted": False,
        },
    ],
    "predictionDrift": {"column": "probability", "method": "wasserstein", "score": 0.03},
    "lastRunTime": "2026-11-27T10:15:03Z",
    "lastSuccessfulRunTime": "2026-11-27T10:15:03Z",
    "runsByVerdict": {"NoDrift": 10, "Drift": 2},
    "consecutiveDriftRuns": 2,
    "retrain": {"state": "Created", "mode": "Automatic", "jobsCreated": 1},
    "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-27T09:00:00Z"}],
}
BASE = {"namespace": "ml", "driftcheck": "churn-hourly", "model": "churn"}


@pytest.fixture
def store() -> StatusStore:
    store = StatusStore()
    store.put("ml", "churn-hourly", SPEC, STATUS)
    return store


def value(store: StatusStore, name: str, **labels: str) -> float | None:
    return build_registry(store).get_sample_value(name, {**BASE, **labels})


@pytest.mark.parametrize(
    ("name", "labels", "expected"),
    [
        ("driftwatch_drift_share", {}, 0.4),
        ("driftwatch_drift_columns_drifted", {}, 2),
        ("driftwatch_drift_columns_monitored", {}, 5),
        ("driftwatch_drift_column_score", {"column": "tenure_months", "method": "wasserstein"}, 0.21),
        ("driftwatch_drift_column_threshold", {"column": "contract", "method": "jensenshannon"}, 0.05),
        ("driftwatch_drift_column_drifted", {"column": "tenure_months"}, 1),
        ("driftwatch_drift_column_drifted", {"column": "contract"}, 0),
        ("driftwatch_drift_prediction_score", {"method": "wasserstein"}, 0.03),
        ("driftwatch_drift_verdict", {"verdict": "Drift"}, 1),
        ("driftwatch_drift_verdict", {"verdict": "NoDrift"}, 0),
        ("driftwatch_drift_recommendation", {"recommendation": "Investigate"}, 1),
        ("driftwatch_drift_recommendation", {"recommendation": "Retrain"}, 0),
        ("driftwatch_drift_policy_threshold", {"threshold": "investigate"}, 0.25),
        ("driftwatch_drift_policy_threshold", {"threshold": "retrain"}, 0.5),
        ("driftwatch_drift_consecutive_drift_runs", {}, 2),
        ("driftwatch_drift_last_run_timestamp_seconds", {}, 1795774503.0),
        ("driftwatch_drift_last_success_timestamp_seconds", {}, 1795774503.0),
        ("driftwatch_drift_schedule_interval_seconds", {}, 900),
        ("driftwatch_drift_runs_total", {"verdict": "NoDrift"}, 10),
        ("driftwatch_drift_current_rows", {}, 1200),
        ("driftwatch_drift_reference_rows", {}, 10000),
        ("driftwatch_drift_ready", {}, 1),
        ("driftwatch_drift_ready_since_timestamp_seconds", {}, 1795770000.0),
        ("driftwatch_retrain_jobs_total", {"mode": "Automatic"}, 1),
    ],
)
def test_metric_mirrors_status(
    store: StatusStore, name: str, labels: dict[str, str], expected: float
) -> None:
    assert value(store, name, **labels) == pytest.approx(expected)


def test_deleted_driftcheck_series_disappear(store: StatusStore) -> None:
    store.remove("ml", "churn-hourly")
    assert value(store, "driftwatch_drift_share") is None
    assert value(store, "driftwatch_drift_verdict", verdict="Drift") is None


def test_model_label_defaults_to_the_driftcheck_name() -> None:
    store = StatusStore()
    store.put("ml", "plain", typed(schedule="@hourly"), {"driftShare": 0.1})
    labels = {"namespace": "ml", "driftcheck": "plain", "model": "plain"}
    assert build_registry(store).get_sample_value("driftwatch_drift_share", labels) == pytest.approx(0.1)


def test_a_driftcheck_without_status_has_no_verdict_series() -> None:
    store = StatusStore()
    store.put("ml", "new", typed(schedule="@hourly"), {})
    labels = {"namespace": "ml", "driftcheck": "new", "model": "new", "verdict": "NoDrift"}
    assert build_registry(store).get_sample_value("driftwatch_drift_verdict", labels) is None


def test_a_driftcheck_that_never_ran_still_has_a_stale_clock() -> None:
    # No run ever wrote a status: only the controller's Ready condition says since when it should have.
    store = StatusStore()
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-27T09:00:00Z"}
    store.put("ml", "never", typed(schedule="@hourly"), {"conditions": [ready]})
    labels = {"namespace": "ml", "driftcheck": "never", "model": "never"}
    registry = build_registry(store)
    assert registry.get_sample_value("driftwatch_drift_ready_since_timestamp_seconds", labels) == 1795770000.0
    assert registry.get_sample_value("driftwatch_drift_last_success_timestamp_seconds", labels) is None
    store.put("ml", "never", typed(schedule="@hourly"), {"conditions": [{**ready, "status": "False"}]})
    assert (
        build_registry(store).get_sample_value("driftwatch_drift_ready_since_timestamp_seconds", labels)
        is None
    )


def test_a_spec_that_cannot_run_still_mirrors_its_status() -> None:
    # The handlers store None for it (Ready=False says why): the status' series stay, named by the DriftCheck.
    store = StatusStore()
    store.put("ml", "broken", None, {"driftShare": 0.3})
    labels = {"namespace": "ml", "driftcheck": "broken", "model": "broken"}
    registry = build_registry(store)
    assert registry.get_sample_value("driftwatch_drift_share", labels) == pytest.approx(0.3)
    assert registry.get_sample_value("driftwatch_drift_schedule_interval_seconds", labels) is None


# A multiclass check's status: one class's probability drifted.
GOLD_DRIFTED = [
    {"column": "probability_gold", "method": "wasserstein", "score": 0.8, "threshold": 0.07, "drifted": True}
]


def test_a_multiclass_status_keeps_the_prediction_series_of_its_predicted_class() -> None:
    # predictionDrift of a multiclass check: the class on top, each class probability nested.
    store = StatusStore()
    store.put(
        "ml",
        "tiers",
        typed(schedule="@hourly"),
        {
            "predictionDrift": {
                "column": "prediction",
                "method": "jensenshannon",
                "score": 0.33,
                "drifted": True,
                "classProbabilities": GOLD_DRIFTED,
            }
        },
    )
    labels = {"namespace": "ml", "driftcheck": "tiers", "model": "tiers", "method": "jensenshannon"}
    assert build_registry(store).get_sample_value("driftwatch_drift_prediction_score", labels) == 0.33


def test_class_probabilities_alone_give_no_prediction_series_and_break_nothing() -> None:
    store = StatusStore()
    store.put(
        "ml",
        "tiers",
        typed(schedule="@hourly"),
        {"driftShare": 0.0, "predictionDrift": {"classProbabilities": GOLD_DRIFTED}},
    )
    registry = build_registry(store)
    labels = {"namespace": "ml", "driftcheck": "tiers", "model": "tiers"}
    assert registry.get_sample_value("driftwatch_drift_share", labels) == 0.0
    prediction = next(m for m in registry.collect() if m.name == "driftwatch_drift_prediction_score")
    assert prediction.samples == []
