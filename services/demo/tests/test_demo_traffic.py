"""The traffic generator counts failures by what the scenario expects, and draws each phase's rows anew."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from driftwatch_demo.traffic import TrafficPlan, TrafficReport, failure_message, run_traffic

pytestmark = pytest.mark.unit
ROWS = 200  # rate * duration of every plan below


class FakeService:
    """An in-process /v1/predict and /v1/feedback: records what it got, answers `status_for(n)`."""

    def __init__(self, status_for: Callable[[int], int] = lambda n: 200, feedback_status: int = 202) -> None:
        self.rows: list[dict[str, Any]] = []
        self.status_for = status_for
        self.feedback_status = feedback_status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/feedback":
            return httpx.Response(self.feedback_status)
        self.rows.append(json.loads(request.content))
        status = self.status_for(len(self.rows))
        body = {"request_id": f"r{len(self.rows)}"} if status == 200 else {"detail": "no"}
        return httpx.Response(status, json=body)


def send(service: FakeService, scenario: str = "none", seed: int | None = None, **plan: Any) -> TrafficReport:
    client = httpx.Client(transport=httpx.MockTransport(service), base_url="http://svc")
    with client:
        return run_traffic(
            TrafficPlan(url="http://svc", rate=2000, duration=0.1, scenario=scenario, seed=seed, **plan),
            client=client,
        )


def test_two_phases_with_the_default_seed_send_different_rows() -> None:
    normal, drifted = FakeService(), FakeService()
    first, second = send(normal), send(drifted, scenario="covariate")
    assert first.seed != second.seed
    # `age` is not drifted by the covariate scenario: with one seed for both phases it was the same
    # column twice, and scored exactly 0.
    assert [r["age"] for r in normal.rows] != [r["age"] for r in drifted.rows]


def test_an_explicit_seed_replays_the_same_rows() -> None:
    once, again = FakeService(), FakeService()
    assert send(once, seed=9).seed == send(again, seed=9).seed == 9
    assert once.rows == again.rows
    assert len(once.rows) == ROWS


def test_server_errors_count_as_failed_and_pass_up_to_one_percent() -> None:
    two = send(FakeService(lambda n: 500 if n in (50, 150) else 200))
    assert (two.errors, two.failed, two.requests) == (2, 2, ROWS)
    assert failure_message(two, 0.01) is None
    three = send(FakeService(lambda n: 503 if n in (50, 100, 150) else 200))
    assert failure_message(three, 0.01) == (
        "traffic: 3 of 200 requests failed (1.5%, more than the 1% allowed): "
        "3 transport errors or 5xx, 0 unexpected 4xx, 0 labels not accepted"
    )


def test_rejections_fail_valid_traffic_but_are_the_answer_to_broken_records() -> None:
    valid = send(FakeService(lambda n: 422))
    assert (valid.rejected, valid.failed) == (ROWS, ROWS)
    assert failure_message(valid, 0.01) is not None
    broken = send(FakeService(lambda n: 422), scenario="quality")
    assert (broken.rejected, broken.failed) == (ROWS, 0)
    assert failure_message(broken, 0.01) is None


def test_labels_not_accepted_count_as_failed_requests() -> None:
    report = send(FakeService(feedback_status=500), seed=1, feedback_delay=0.0)
    assert (report.ok, report.feedback_failed, report.requests, report.failed) == (ROWS, ROWS, 2 * ROWS, ROWS)
    assert "200 labels not accepted" in (failure_message(report, 0.01) or "")
