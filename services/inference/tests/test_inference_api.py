"""The HTTP API: predictions, feedback, health, the card; every bad input is a 4xx naming the field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds
import pytest
from driftwatch_inference.app import create_app
from driftwatch_inference.settings import Settings
from prometheus_client import CollectorRegistry

pytestmark = [pytest.mark.unit, pytest.mark.asyncio]
JSON = {"content-type": "application/json"}


def _with(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**record, **changes}


def _without(record: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != name}


async def test_single_record_gets_prediction_probability_request_id_and_version(
    make_settings: Callable[..., Settings], serving: Any, valid_records: list[dict[str, Any]]
) -> None:
    registry = CollectorRegistry()
    app = create_app(make_settings(), registry)
    async with serving(app) as client:
        response = await client.post("/v1/predict", json=valid_records[0])
        card = (await client.get("/v1/model")).json()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"prediction", "probability", "request_id", "model_version"}
    assert body["prediction"] in (0, 1)
    assert 0.0 <= body["probability"] <= 1.0
    assert body["model_version"] == card["version"]
    labels = {"model": "churn", "model_version": card["version"], "class": str(body["prediction"])}
    assert registry.get_sample_value("driftwatch_predictions_total", labels) == 1.0


async def test_batch_returns_one_prediction_per_instance_in_order(
    make_settings: Callable[..., Settings], serving: Any, valid_records: list[dict[str, Any]]
) -> None:
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(), registry)) as client:
        single = [
            (await client.post("/v1/predict", json=r)).json()["probability"] for r in valid_records[:10]
        ]
        response = await client.post("/v1/predict", json={"instances": valid_records[:10]})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    # One row alone and the same row in a batch may differ in the last bit (vectorised arithmetic).
    assert [p["probability"] for p in predictions] == pytest.approx(single, rel=0, abs=1e-12)
    assert len({p["request_id"] for p in predictions}) == 10
    assert (
        registry.get_sample_value(
            "driftwatch_prediction_probability_count",
            {"model": "churn", "model_version": response.json()["model_version"]},
        )
        == 20
    )


BAD_RECORDS: list[tuple[str, Callable[[dict[str, Any]], Any], str, str, str | None, str | None]] = [
    # (case, make body from a valid record, reason, field named, missing feature, invalid feature)
    ("missing field", lambda r: _without(r, "age"), "missing_field", "age", "age", None),
    (
        "null field",
        lambda r: _with(r, monthly_charges=None),
        "missing_field",
        "monthly_charges",
        "monthly_charges",
        None,
    ),
    ("extra field", lambda r: _with(r, customer_id="c-1"), "extra_field", "customer_id", None, None),
    (
        "string for int",
        lambda r: _with(r, tenure_months="12"),
        "wrong_type",
        "tenure_months",
        None,
        "tenure_months",
    ),
    ("float for int", lambda r: _with(r, num_lines=2.5), "wrong_type", "num_lines", None, "num_lines"),
    (
        "bool for float",
        lambda r: _with(r, data_usage_gb=True),
        "wrong_type",
        "data_usage_gb",
        None,
        "data_usage_gb",
    ),
    ("number for category", lambda r: _with(r, region=3), "unknown_category", "region", None, "region"),
    (
        "below range",
        lambda r: _with(r, tenure_months=-1),
        "out_of_range",
        "tenure_months",
        None,
        "tenure_months",
    ),
    (
        "above range",
        lambda r: _with(r, dropped_call_rate=1.5),
        "out_of_range",
        "dropped_call_rate",
        None,
        "dropped_call_rate",
    ),
    (
        "unknown category",
        lambda r: _with(r, internet_service="satellite"),
        "unknown_category",
        "internet_service",
        None,
        "internet_service",
    ),
    (
        "NaN",
        lambda r: _with(r, monthly_charges=float("nan")),
        "not_finite",
        "monthly_charges",
        None,
        "monthly_charges",
    ),
    (
        "Infinity",
        lambda r: _with(r, call_minutes=float("inf")),
        "not_finite",
        "call_minutes",
        None,
        "call_minutes",
    ),
    ("not an object", lambda r: [r], "wrong_type", "body", None, None),
    ("empty batch", lambda r: {"instances": []}, "empty_batch", "instances", None, None),
    (
        "bad row in batch",
        lambda r: {"instances": [r, _with(r, age=17)]},
        "out_of_range",
        "instances[1].age",
        None,
        "age",
    ),
    ("instances not a list", lambda r: {"instances": r}, "wrong_type", "instances", None, None),
]


@pytest.mark.parametrize(
    ("make_body", "reason", "field", "missing", "invalid"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_RECORDS],
)
async def test_bad_input_is_a_422_naming_the_field_and_is_counted(
    make_settings: Callable[..., Settings],
    strict_model_dir: Path,
    serving: Any,
    valid_records: list[dict[str, Any]],
    make_body: Callable[[dict[str, Any]], Any],
    reason: str,
    field: str,
    missing: str | None,
    invalid: str | None,
) -> None:
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(model_dir=strict_model_dir), registry)) as client:
        # json.dumps writes NaN/Infinity literals, as Python and JavaScript clients do.
        response = await client.post(
            "/v1/predict", content=json.dumps(make_body(valid_records[0])), headers=JSON
        )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["reason"] == reason
    assert body["detail"][0]["field"] == field
    assert body["error"].startswith(f"{field}: ")
    assert (
        registry.get_sample_value(
            "driftwatch_validation_failures_total", {"model": "churn", "reason": reason}
        )
        == 1.0
    )
    if missing:
        assert (
            registry.get_sample_value(
                "driftwatch_feature_missing_total", {"model": "churn", "feature": missing}
            )
            == 1.0
        )
    if invalid:
        assert (
            registry.get_sample_value(
                "driftwatch_feature_invalid_total",
                {"model": "churn", "feature": invalid, "action": "rejected"},
            )
            == 1.0
        )
    assert (
        registry.get_sample_value(
            "driftwatch_http_requests_total", {"route": "/v1/predict", "method": "POST", "status": "422"}
        )
        == 1.0
    )


UNSEEN_VALUES = [
    ("unknown category", {"internet_service": "satellite"}, "internet_service"),
    ("below range", {"tenure_months": -1}, "tenure_months"),
    ("above range", {"dropped_call_rate": 1.5}, "dropped_call_rate"),
]


@pytest.mark.parametrize(("change", "feature"), [pytest.param(*c[1:], id=c[0]) for c in UNSEEN_VALUES])
async def test_an_unseen_value_is_scored_counted_and_captured_as_sent(
    make_settings: Callable[..., Settings],
    serving: Any,
    valid_records: list[dict[str, Any]],
    tmp_path: Path,
    change: dict[str, Any],
    feature: str,
) -> None:
    """`unseen: accept` (the default): the new value is the drift signal, so the client is not broken."""
    registry = CollectorRegistry()
    record = _with(valid_records[0], **change)
    async with serving(create_app(make_settings(), registry)) as client:
        response = await client.post("/v1/predict", json={"instances": [record, valid_records[1]]})
    assert response.status_code == 200, response.text
    assert 0.0 <= response.json()["predictions"][0]["probability"] <= 1.0
    invalid = {"model": "churn", "feature": feature}
    accepted = registry.get_sample_value(
        "driftwatch_feature_invalid_total", {**invalid, "action": "accepted"}
    )
    assert accepted == 1.0
    assert (
        registry.get_sample_value("driftwatch_feature_invalid_total", {**invalid, "action": "rejected"}) == 0
    )
    captured = pd.read_parquet(tmp_path / "capture" / "churn")
    assert captured[feature].tolist()[:1] == list(change.values())


async def test_a_wrong_type_stays_a_422_when_unseen_values_are_accepted(
    make_settings: Callable[..., Settings], serving: Any, valid_records: list[dict[str, Any]]
) -> None:
    async with serving(create_app(make_settings(), CollectorRegistry())) as client:
        response = await client.post("/v1/predict", json=_with(valid_records[0], region=3))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "region"


@pytest.mark.parametrize(
    "payload",
    [b'{"tenure_months": 3,', b"\xff\xfe", b"\x80{}", b""],
    ids=["truncated", "utf16-bom", "not-utf8", "empty"],
)
async def test_malformed_json_is_a_422_naming_the_body(
    make_settings: Callable[..., Settings], serving: Any, payload: bytes
) -> None:
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(), registry)) as client:
        response = await client.post("/v1/predict", content=payload, headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "body"
    assert response.json()["error"].startswith("body: ")


async def test_truncated_json_counts_as_malformed(
    make_settings: Callable[..., Settings], serving: Any
) -> None:
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(), registry)) as client:
        response = await client.post("/v1/predict", content=b'{"age": ', headers=JSON)
    assert response.json()["reason"] == "malformed_json"
    assert (
        registry.get_sample_value(
            "driftwatch_validation_failures_total", {"model": "churn", "reason": "malformed_json"}
        )
        == 1.0
    )


async def test_batch_over_the_limit_is_a_413_that_states_the_limit(
    make_settings: Callable[..., Settings], serving: Any, valid_records: list[dict[str, Any]]
) -> None:
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(max_batch_size=5), registry)) as client:
        response = await client.post("/v1/predict", json={"instances": valid_records[:6]})
    assert response.status_code == 413
    assert response.json()["reason"] == "batch_too_large"
    assert "at most 5 items" in response.json()["error"]
    assert (
        registry.get_sample_value(
            "driftwatch_validation_failures_total", {"model": "churn", "reason": "batch_too_large"}
        )
        == 1.0
    )


async def test_feedback_is_accepted_counted_and_captured(
    make_settings: Callable[..., Settings], serving: Any, tmp_path: Path
) -> None:
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(), registry)) as client:
        accepted = await client.post(
            "/v1/feedback", json={"request_id": "abc123", "label": 1, "event_time": "2026-11-27T08:00:00Z"}
        )
        rejected = await client.post("/v1/feedback", json={"request_id": "abc123", "label": 2})
        missing = await client.post("/v1/feedback", json={"label": 1})
    assert accepted.status_code == 202
    assert accepted.json() == {"status": "accepted", "request_id": "abc123"}
    assert rejected.status_code == 422
    assert rejected.json()["detail"][0]["field"] == "label"
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["field"] == "request_id"
    assert registry.get_sample_value("driftwatch_feedback_total", {"model": "churn", "label": "1"}) == 1.0
    rows = ds.dataset(tmp_path / "capture" / "churn" / "feedback", format="parquet").to_table().to_pylist()
    assert [(r["request_id"], r["label"], r["event_time"].isoformat()) for r in rows] == [
        ("abc123", 1, "2026-11-27T08:00:00+00:00")
    ]


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (b'{"request_id": "a1", "label": 1', "body", "malformed_json"),
        (b'[{"request_id": "a1", "label": 1}]', "body", "wrong_type"),
        (b'{"request_id": "a1", "label": true}', "label", "wrong_type"),
        (b'{"request_id": "a1", "label": "1"}', "label", "wrong_type"),
        (b'{"request_id": "a1", "label": 1, "event_time": "2026-11-27T08:00:00"}', "event_time", None),
        (b'{"request_id": "a1", "label": 1, "event_time": "yesterday"}', "event_time", None),
        (b'{"request_id": "a b/c", "label": 1}', "request_id", None),
        (b'{"request_id": "a1", "label": 1, "time": "2026-11-27T08:00:00Z"}', "time", "extra_field"),
    ],
    ids=["malformed", "not-an-object", "bool-label", "string-label", "naive-time", "not-a-time",
         "bad-request-id", "unknown-field"],
)  # fmt: skip
async def test_bad_feedback_is_a_422_naming_the_field_and_writes_nothing(
    make_settings: Callable[..., Settings],
    serving: Any,
    tmp_path: Path,
    body: bytes,
    field: str,
    reason: str | None,
) -> None:
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(), registry)) as client:
        response = await client.post("/v1/feedback", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["field"] == field
    if reason:
        assert detail["reason"] == reason
    assert registry.get_sample_value("driftwatch_feedback_total", {"model": "churn", "label": "1"}) is None
    assert not list((tmp_path / "capture").rglob("*.parquet"))


async def test_health_model_card_and_openapi(
    make_settings: Callable[..., Settings], serving: Any, strict_model_dir: Path
) -> None:
    async with serving(create_app(make_settings(model_dir=strict_model_dir))) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        card = await client.get("/v1/model")
        openapi = (await client.get("/openapi.json")).json()
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json()["capture"] == "writable"
    assert card.json() == json.loads((strict_model_dir / "model-card.json").read_text())
    record = openapi["components"]["schemas"]["Record"]
    assert record["additionalProperties"] is False
    assert record["properties"]["tenure_months"]["maximum"] == 240
    assert record["properties"]["contract"]["enum"] == ["month-to-month", "one-year", "two-year"]
    assert {"/v1/predict", "/v1/feedback", "/healthz", "/readyz", "/v1/model", "/metrics"} <= set(
        openapi["paths"]
    )


async def test_unwritable_sink_fails_readiness_while_predictions_go_on(
    make_settings: Callable[..., Settings], serving: Any, valid_records: list[dict[str, Any]], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the capture directory should be")
    registry = CollectorRegistry()
    app = create_app(make_settings(capture_uri=(blocker / "capture").as_uri()), registry)
    async with serving(app) as client:
        ready = await client.get("/readyz")
        predicted = await client.post("/v1/predict", json=valid_records[0])
    assert ready.status_code == 503
    assert ready.json()["capture"] == "not writable"
    assert "not-a-directory" in ready.json()["error"]
    assert predicted.status_code == 200
    assert registry.get_sample_value("driftwatch_capture_sink_writable", {"model": "churn"}) == 0.0


async def test_metrics_and_capture_can_be_switched_off(
    make_settings: Callable[..., Settings], serving: Any, valid_records: list[dict[str, Any]], tmp_path: Path
) -> None:
    registry = CollectorRegistry()
    app = create_app(make_settings(metrics_enabled=False, capture_enabled=False), registry)
    async with serving(app) as client:
        predicted = await client.post("/v1/predict", json=valid_records[0])
        ready = await client.get("/readyz")
    assert predicted.status_code == 200
    assert ready.json()["capture"] == "disabled"
    assert (
        registry.get_sample_value(
            "driftwatch_http_requests_total", {"route": "/v1/predict", "method": "POST", "status": "200"}
        )
        is None
    )
    assert not (tmp_path / "capture").exists()


class _RaisingScorer:
    engine, engine_reason, max_abs_difference = "sklearn", "test", None

    def score(self, rows: Any) -> Any:
        raise ValueError("Input contains a value the encoder was not fitted for\nsecond line")


async def test_valid_input_the_model_raises_on_is_a_422_counted_never_a_500(
    make_settings: Callable[..., Settings], serving: Any, valid_records: list[dict[str, Any]], tmp_path: Path
) -> None:
    registry = CollectorRegistry()
    app = create_app(make_settings(), registry)
    app.state.service.scorer = _RaisingScorer()
    async with serving(app) as client:
        response = await client.post("/v1/predict", json=valid_records[0])
    assert response.status_code == 422
    body = response.json()
    assert body["reason"] == "model_error"
    assert "could not score the input: ValueError: Input contains a value" in body["error"]
    assert "second line" not in body["error"]
    failures = {"model": "churn", "reason": "model_error"}
    assert registry.get_sample_value("driftwatch_validation_failures_total", failures) == 1.0
    assert not list((tmp_path / "capture").rglob("*.parquet"))
