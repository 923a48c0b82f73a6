"""The real service under uvicorn on 127.0.0.1: exact metric counts, capture after SIGTERM, feedback join."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pyarrow.dataset as ds
import pytest
from driftwatch_demo import synthetic
from prometheus_client.parser import text_string_to_metric_families
from support.control_plane import wait_until
from support.inference_server import demo_traffic, running_inference_service

pytestmark = pytest.mark.integration
N_VALID = 60
FEATURE_NAMES = list(synthetic.FEATURE_NAMES)


def _invalid_bodies(record: dict[str, Any]) -> list[Any]:
    """One of each kind of bad request, repeated; all must be 4xx and none may reach the capture."""
    kinds: list[Any] = [
        {k: v for k, v in record.items() if k != "age"},
        {**record, "tenure_months": "12"},
        {**record, "contract": 7},
        {**record, "extra": 1},
        {"instances": []},
    ]
    return kinds * 5


def _unseen_bodies(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Values outside the card's domain: scored, counted and captured (the card's `unseen: accept`)."""
    return [{**record, "contract": "weekly"}, {**record, "dropped_call_rate": 3.0}] * 5


def _samples(metrics_text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def _send_concurrently(url: str, bodies: list[Any]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:
        return await asyncio.gather(*(client.post("/v1/predict", json=b) for b in bodies))


def _read_capture(root: Path) -> list[dict[str, Any]]:
    dataset = ds.dataset(root, format="parquet", partitioning="hive", exclude_invalid_files=False)
    return dataset.to_table().to_pylist()


def _accepted(metrics_text: str) -> dict[Any, float]:
    """The non-zero `driftwatch_feature_invalid_total{action="accepted"}` samples."""
    invalid_features = _samples(metrics_text, "driftwatch_feature_invalid_total")
    return {k: v for k, v in invalid_features.items() if ("action", "accepted") in k and v}


def test_concurrent_requests_are_counted_exactly_and_captured_with_feedback_after_sigterm(
    tmp_path: Path,
) -> None:
    valid, labels = demo_traffic(N_VALID, seed=21)
    invalid = _invalid_bodies(valid[0])
    unseen = _unseen_bodies(valid[1])
    with running_inference_service(tmp_path) as svc:
        responses = asyncio.run(_send_concurrently(svc.url, [*valid, *invalid, *unseen]))
        ids = [r.json().get("request_id") for r in responses[:N_VALID]]
        with httpx.Client(base_url=svc.url) as client:
            feedback_statuses = {
                client.post("/v1/feedback", json={"request_id": i, "label": y}).status_code
                for i, y in zip(ids, labels, strict=True)
            }

            # Accepted unseen values are counted when the capture writes their rows (docs/metrics.md):
            # within its flush interval (5 s), so the scrape that is checked is the one that shows them.
            def scrape_with_accepted() -> str | None:
                text = client.get("/metrics").text
                return text if _accepted(text) else None

            metrics_text = wait_until(
                scrape_with_accepted,
                timeout=20,
                what="the accepted unseen values in /metrics",
            )
        capture_dir = svc.capture_dir
        process = svc.process
    assert process.returncode is not None  # SIGTERM'd and exited
    ok = [r for r in responses if r.status_code == 200]
    assert len(ok) == N_VALID + len(unseen)
    assert sorted(r.status_code for r in responses[N_VALID : N_VALID + len(invalid)]) == [422] * len(invalid)
    assert feedback_statuses == {202}

    requests = _samples(metrics_text, "driftwatch_http_requests_total")
    predict = {k: v for k, v in requests.items() if ("route", "/v1/predict") in k}
    assert predict == {
        (("method", "POST"), ("route", "/v1/predict"), ("status", "200")): N_VALID + len(unseen),
        (("method", "POST"), ("route", "/v1/predict"), ("status", "422")): len(invalid),
    }
    failures = _samples(metrics_text, "driftwatch_validation_failures_total")
    assert sum(failures.values()) == len(invalid)
    assert failures[(("model", "churn"), ("reason", "wrong_type"))] == 10
    assert _accepted(metrics_text) == {
        (("action", "accepted"), ("feature", "contract"), ("model", "churn")): 5,
        (("action", "accepted"), ("feature", "dropped_call_rate"), ("model", "churn")): 5,
    }
    assert sum(_samples(metrics_text, "driftwatch_predictions_total").values()) == N_VALID + len(unseen)
    assert sum(_samples(metrics_text, "driftwatch_feedback_total").values()) == N_VALID

    # The capture is read only after the process exited: what SIGTERM flushed is all there is.
    rows = [r for r in _read_capture(capture_dir / "churn") if r.get("prediction") is not None]
    assert len(rows) == N_VALID + len(unseen)
    assert sum(row["contract"] == "weekly" for row in rows) == 5
    expected_columns = {"request_id", "ts", "model_version", *FEATURE_NAMES, "prediction", "probability"}
    assert expected_columns <= set(rows[0])
    by_id = {row["request_id"]: row for row in rows}
    assert set(ids) <= set(by_id)
    for response, record in zip(responses[:N_VALID], valid, strict=True):
        row = by_id[response.json()["request_id"]]
        assert {name: row[name] for name in FEATURE_NAMES} == record
        assert row["probability"] == response.json()["probability"]
        assert row["prediction"] == response.json()["prediction"]
    feedback = _read_capture(capture_dir / "churn" / "feedback")
    assert {f["request_id"]: f["label"] for f in feedback if f["request_id"] in by_id} == dict(
        zip(ids, labels, strict=True)
    )
    assert sum(_samples(metrics_text, "driftwatch_capture_rows_dropped_total").values()) == 0


def test_unwritable_capture_sink_fails_readiness_while_traffic_is_served(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, so nothing can be created below it")
    with running_inference_service(tmp_path, capture_dir=blocker / "capture", expect_ready=False) as svc:
        ready = httpx.get(f"{svc.url}/readyz")
        result = subprocess.run(
            [sys.executable, "-m", "driftwatch_demo", "traffic", "--url", svc.url, "--rate", "40",
             "--duration", "1", "--scenario", "covariate", "--feedback-delay", "0.2", "--seed", "3"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        metrics_text = httpx.get(f"{svc.url}/metrics").text
    assert ready.status_code == 503
    assert "not writable" in ready.json()["error"]
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sent"] == report["ok"] == report["feedback_sent"] == 40
    assert "(done)" in result.stderr
    assert _samples(metrics_text, "driftwatch_capture_sink_writable") == {(("model", "churn"),): 0.0}
    assert sum(_samples(metrics_text, "driftwatch_feedback_total").values()) == 40
