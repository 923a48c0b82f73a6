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


def _metrics(*entries: tuple[str, float | None, float | None, float | None]) -> list[dict[str, Any]]:
    return [{"name": n, "value": v, "lower": lo, "upper": hi} for n, v, lo, hi in entries]


PERFORMANCE_STATUS: dict[str, Any] = {
    "rows": {"reference": 10000, "current": 1200, "labelled": 300},
    "performance": {
        "task": "binary",
        "metric": "roc_auc",
        "labelledRows": 300,
        "labelCoverage": 0.25,
        "reference": {"rows": 10000, "metrics": _metrics(("roc_auc", 0.81, 0.80, 0.82))},
        "realized": {
            "rows": 300,
            "metrics": _metrics(("roc_auc", 0.74, 0.69, 0.79), ("log_loss", 0.52, 0.47, 0.58)),
        },
        "estimated": {"method": "CBPE", "rows": 1200, "metrics": _metrics(("roc_auc", 0.79, 0.76, 0.82))},
        "drop": {"metric": "roc_auc", "kind": "realized", "value": 0.07, "significant": True},
    },
}


@pytest.fixture
def performance_store() -> StatusStore:
    store = StatusStore()
    store.put("ml", "churn-hourly", SPEC, PERFORMANCE_STATUS)
    return store


@pytest.mark.parametrize(
    ("name", "labels", "expected"),
    [
        ("driftwatch_drift_performance", {"metric": "roc_auc", "kind": "reference"}, 0.81),
        ("driftwatch_drift_performance", {"metric": "roc_auc", "kind": "realized"}, 0.74),
        ("driftwatch_drift_performance", {"metric": "roc_auc", "kind": "estimated"}, 0.79),
        ("driftwatch_drift_performance", {"metric": "log_loss", "kind": "realized"}, 0.52),
        ("driftwatch_drift_performance_lower", {"metric": "roc_auc", "kind": "realized"}, 0.69),
        ("driftwatch_drift_performance_upper", {"metric": "roc_auc", "kind": "estimated"}, 0.82),
        ("driftwatch_drift_performance_drop", {"metric": "roc_auc", "kind": "realized"}, 0.07),
        ("driftwatch_drift_performance_drop_significant", {"metric": "roc_auc", "kind": "realized"}, 1),
        ("driftwatch_drift_performance_headline", {"metric": "roc_auc"}, 1),
        ("driftwatch_drift_label_coverage", {}, 0.25),
        ("driftwatch_drift_labelled_rows", {}, 300),
    ],
)
def test_performance_metrics_mirror_status_performance(
    performance_store: StatusStore, name: str, labels: dict[str, str], expected: float
) -> None:
    assert value(performance_store, name, **labels) == pytest.approx(expected)


def test_performance_series_keep_to_known_metrics_kinds_and_finite_values() -> None:
    performance = PERFORMANCE_STATUS["performance"]
    status = {
        **PERFORMANCE_STATUS,
        "performance": {
            **performance,
            "realized": None,  # too few labels: no realized series at all
            "estimated": {"metrics": _metrics(("roc_auc", float("nan"), None, None), ("brier", 0.1, 0, 1))},
            "custom": {"metrics": _metrics(("roc_auc", 0.5, 0.4, 0.6))},
            "labelCoverage": float("inf"),
            "drop": {"metric": "roc_auc", "kind": "estimated", "value": None, "significant": False},
        },
    }
    store = StatusStore()
    store.put("ml", "churn-hourly", SPEC, status)
    samples = {
        (m.name, tuple(sorted((k, v) for k, v in s.labels.items() if k in ("metric", "kind"))))
        for m in build_registry(store).collect()
        if m.name.startswith(("driftwatch_drift_performance", "driftwatch_drift_label_coverage"))
        for s in m.samples
    }
    reference = (("kind", "reference"), ("metric", "roc_auc"))
    assert samples == {
        ("driftwatch_drift_performance", reference),
        ("driftwatch_drift_performance_lower", reference),
        ("driftwatch_drift_performance_upper", reference),
        ("driftwatch_drift_performance_headline", (("metric", "roc_auc"),)),
    }


def test_the_capture_sample_rate_mirrors_status_rows_and_is_absent_before_any_run() -> None:
    store = StatusStore()
    store.put(
        "ml", "churn-hourly", SPEC, {"rows": {"current": 120, "sampleRate": 0.1, "estimatedCurrent": 1200}}
    )
    assert value(store, "driftwatch_drift_capture_sample_rate") == pytest.approx(0.1)
    store.put("ml", "churn-hourly", SPEC, {})
    assert value(store, "driftwatch_drift_capture_sample_rate") is None


def test_a_check_without_performance_has_no_performance_series_but_its_labelled_rows() -> None:
    store = StatusStore()
    store.put("ml", "churn-hourly", SPEC, {**STATUS, "rows": {**STATUS["rows"], "labelled": 0}})
    assert value(store, "driftwatch_drift_labelled_rows") == 0
    assert value(store, "driftwatch_drift_label_coverage") is None
    assert value(store, "driftwatch_drift_performance", metric="roc_auc", kind="reference") is None
