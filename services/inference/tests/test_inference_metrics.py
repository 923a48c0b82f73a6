"""Metric names and labels are the contract of docs/metrics.md; HTTP labels use route templates."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from driftwatch_inference.app import create_app
from driftwatch_inference.metrics import build_metrics
from driftwatch_inference.settings import Settings
from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.unit
DOCS = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"


def _documented_inference_metrics() -> dict[str, set[str]]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Inference service", 1)[1].split("\n## ", 1)[0]
    out: dict[str, set[str]] = {}
    for name, labels in re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|", section, flags=re.M):
        out[name] = set(re.findall(r"`(\w+)`", labels))
    return out


def _exposed_metrics(registry: CollectorRegistry) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for family in registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        labels: set[str] = set()
        for sample in family.samples:
            labels |= set(sample.labels) - {"le"}
        out[name] = labels
    return out


def test_every_documented_metric_is_declared_with_its_labels() -> None:
    registry = CollectorRegistry()
    metrics = build_metrics(registry)
    # Touch each labelled family once so its label names show in the samples.
    for family in vars(metrics).values():
        names = getattr(family, "_labelnames", ())
        if names:
            family.labels(*["x"] * len(names))
    # A regression's histogram is declared when such a model binds, on buckets from its card.
    metrics.prediction_value((1.0, 2.0)).labels("x", "x")
    documented = _documented_inference_metrics()
    assert len(documented) == 18
    assert _exposed_metrics(registry) == documented


@pytest.mark.asyncio
async def test_http_metrics_use_route_templates_and_one_value_for_unknown_paths(
    make_settings: Callable[..., Settings], serving: Any, valid_records: list[dict[str, Any]]
) -> None:
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(), registry)) as client:
        await client.post("/v1/predict", json=valid_records[0])
        await client.get("/no/such/path/1")
        await client.get("/no/such/path/2")
        await client.get("/v1/predict")
        metrics_text = (await client.get("/metrics")).text

    def requests(route: str, method: str, status: str) -> float | None:
        return registry.get_sample_value(
            "driftwatch_http_requests_total", {"route": route, "method": method, "status": status}
        )

    assert requests("/v1/predict", "POST", "200") == 1.0
    assert requests("<unmatched>", "GET", "404") == 2.0
    assert requests("/v1/predict", "GET", "405") == 1.0
    assert (
        registry.get_sample_value(
            "driftwatch_http_request_duration_seconds_count", {"route": "/v1/predict", "method": "POST"}
        )
        == 2.0 - 1.0
    )
    assert registry.get_sample_value("driftwatch_http_requests_in_flight") == 0.0
    assert "/no/such/path" not in metrics_text
    assert re.search(
        r'driftwatch_model_info\{engine="\w+",model="churn",model_version="1\.0\.0-', metrics_text
    )


def test_histograms_have_millisecond_latency_and_probability_buckets() -> None:
    registry = CollectorRegistry()
    metrics = build_metrics(registry)
    metrics.http_duration.labels("/v1/predict", "POST").observe(0.004)
    metrics.probability.labels("churn", "v1").observe(0.42)

    def bounds(name: str) -> list[float]:
        family = next(f for f in registry.collect() if f.name == name)
        return [float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket")]

    latency = bounds("driftwatch_http_request_duration_seconds")
    assert latency[0] <= 0.001
    assert 0.02 in latency
    assert latency[-1] == float("inf")
    assert bounds("driftwatch_prediction_probability")[:-1] == [round(0.05 * i, 2) for i in range(1, 21)]
    assert (
        registry.get_sample_value(
            "driftwatch_prediction_probability_bucket",
            {"model": "churn", "model_version": "v1", "le": "0.45"},
        )
        == 1.0
    )
