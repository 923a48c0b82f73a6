"""The request path counts through `Tally`: what the registry exposes is what direct updates would give."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from driftwatch_inference.app import create_app
from driftwatch_inference.metrics import LATENCY_BUCKETS, Tally
from driftwatch_inference.settings import Settings
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

pytestmark = pytest.mark.unit

# Bucket bounds themselves (an observation equal to a bound is in that bucket), zero, and past the last.
AMOUNTS = [0.0, 0.0005, 0.0004, 0.0021, 0.005, 0.0123, 0.1, 2.5, 3.7, 0.03, 1e-9, 0.75]


def _exposition(registry: CollectorRegistry) -> list[str]:
    """The text format without the `_created` timestamps (they differ between two registries)."""
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def _families(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    counter = Counter("demo_requests_total", "d", ("route",), registry=registry)
    histogram = Histogram("demo_seconds", "d", ("route",), buckets=LATENCY_BUCKETS, registry=registry)
    return counter, histogram


def test_tally_exposes_the_same_samples_as_direct_updates() -> None:
    direct_registry, tallied_registry = CollectorRegistry(), CollectorRegistry()
    tally = Tally()
    tallied_registry.register(tally)
    direct_counter, direct_histogram = _families(direct_registry)
    tallied_counter, tallied_histogram = _families(tallied_registry)
    counter = tally.counter(tallied_counter.labels("/v1/predict"))
    histogram = tally.histogram(tallied_histogram.labels("/v1/predict"))
    for i, amount in enumerate(AMOUNTS):
        direct_counter.labels("/v1/predict").inc()
        direct_histogram.labels("/v1/predict").observe(amount)
        counter.n += 1
        histogram.observe(amount)
        if i in (3, 4, 9):  # scrapes in between fold part of the counts; none is counted twice
            assert _exposition(tallied_registry) == _exposition(direct_registry)
    assert _exposition(tallied_registry) == _exposition(direct_registry)
    assert tallied_registry.get_sample_value("demo_requests_total", {"route": "/v1/predict"}) == len(AMOUNTS)
    assert tallied_registry.get_sample_value("demo_seconds_sum", {"route": "/v1/predict"}) == sum(AMOUNTS)


@pytest.mark.asyncio
async def test_metrics_after_n_requests_count_n(
    make_settings: Callable[..., Settings], serving: Any, valid_records: list[dict[str, Any]]
) -> None:
    registry = CollectorRegistry()
    records = valid_records[:23]
    probabilities: list[float] = []
    async with serving(create_app(make_settings(), registry)) as client:
        for i, record in enumerate(records):
            answer = (await client.post("/v1/predict", json=record)).json()
            probabilities.append(answer["probability"])
            if i == 9:
                await client.get("/metrics")  # a scrape folds the first ten
        metrics_text = (await client.get("/metrics")).text

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    n = len(records)
    predict = {"route": "/v1/predict", "method": "POST"}
    assert sample("driftwatch_http_requests_total", **predict, status="200") == n
    assert sample("driftwatch_http_request_duration_seconds_count", **predict) == n
    # Both scrapes: each is counted when it has answered, and folded by the next collect.
    assert sample("driftwatch_http_requests_total", route="/metrics", method="GET", status="200") == 2
    model = {"model": "churn"}
    by_class = [
        value
        for line in metrics_text.splitlines()
        if line.startswith("driftwatch_predictions_total{")
        for value in [float(line.rsplit(" ", 1)[1])]
    ]
    assert sum(by_class) == n
    version = _model_version(registry)
    assert sample("driftwatch_prediction_probability_count", **model, model_version=version) == n
    assert sample("driftwatch_prediction_probability_sum", **model, model_version=version) == sum(
        probabilities
    )
    assert sample("driftwatch_http_requests_in_flight") == 0.0


def _model_version(registry: CollectorRegistry) -> str:
    family = next(f for f in registry.collect() if f.name == "driftwatch_model_info")
    return str(family.samples[0].labels["model_version"])
