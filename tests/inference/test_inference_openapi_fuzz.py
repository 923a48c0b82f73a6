"""The published OpenAPI is fuzzed against the real service, every operation (/v1 and /v2): no generated
request gets a 5xx, and schemathesis' conformance checks hold (issue 12): a request the schema allows is
accepted, one it forbids is refused, and every answer matches its documented status and schema."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from driftwatch_inference.request_model import EVENT_TIME_MAX_AHEAD, EVENT_TIME_MIN
from hypothesis import HealthCheck, given, settings
from pydantic import AwareDatetime, TypeAdapter
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from support.inference_server import running_inference_service

pytestmark = pytest.mark.integration
EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    positive_data_acceptance,
    negative_data_rejection,
]
_TIME = TypeAdapter(AwareDatetime)


def _event_time_out_of_bounds(case: schemathesis.Case) -> bool:
    """The one bound the schema cannot state: feedback `event_time` at most one day after now (its
    pattern already keeps the years to 20xx; an offset can still put 2000-01-01 before 2000 in UTC)."""
    body = case.body if isinstance(case.body, dict) else {}
    text = body.get("event_time")
    if case.operation.path != "/v1/feedback" or not isinstance(text, str):
        return False
    try:
        when = _TIME.validate_python(text)
    except ValueError:
        return False
    return not EVENT_TIME_MIN <= when <= dt.datetime.now(dt.UTC) + EVENT_TIME_MAX_AHEAD


def _fuzz(operation: Any, mode: GenerationMode, url: str) -> set[int]:
    """Send a bounded, derandomized set of generated requests; returns the statuses seen."""
    seen: set[int] = set()

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        response = case.call(base_url=url, timeout=10)
        seen.add(response.status_code)
        assert response.status_code < 500, (case.as_curl_command(), response.text)
        if mode == GenerationMode.POSITIVE and _event_time_out_of_bounds(case):
            assert response.status_code == 422, response.text
            assert response.json()["detail"][0]["field"] == "event_time"
            return
        case.validate_response(response, checks=CHECKS)

    call()
    return seen


def test_every_operation_conforms_to_its_schema_and_none_gets_a_server_error(tmp_path: Path) -> None:
    statuses: dict[str, set[int]] = {}
    with running_inference_service(tmp_path) as svc:
        schema = schemathesis.openapi.from_url(f"{svc.url}/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()
            # Operations without inputs (the GETs) have nothing to make invalid.
            has_body = operation.method.upper() == "POST"
            modes = (
                (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if has_body else (GenerationMode.POSITIVE,)
            )
            for mode in modes:
                statuses[f"{operation.label} {mode.value}"] = _fuzz(operation, mode, svc.url)
    assert {"POST /v2/models/{model_name}/infer positive", "GET /v2/models/{model_name} positive"} <= set(
        statuses
    ), sorted(statuses)
    assert statuses["POST /v1/predict negative"] <= {413, 422}
    assert 200 in statuses["POST /v1/predict positive"]
    assert 202 in statuses["POST /v1/feedback positive"]
    assert statuses["POST /v1/feedback negative"] <= {422}
