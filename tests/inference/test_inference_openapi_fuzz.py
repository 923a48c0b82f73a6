"""The published OpenAPI is fuzzed against the real service: no generated request may get a 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from support.inference_server import running_inference_service

pytestmark = pytest.mark.integration
EXAMPLES_PER_OPERATION = 25


def _fuzz(operation: Any, mode: GenerationMode, url: str) -> set[int]:
    """Send a bounded, derandomized set of generated requests; returns the statuses seen."""
    seen: set[int] = set()

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        response = case.call(base_url=url, timeout=10)
        seen.add(response.status_code)
        assert response.status_code < 500, (case.as_curl_command(), response.text)

    call()
    return seen


def test_no_schema_driven_request_gets_a_server_error(tmp_path: Path) -> None:
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
    assert statuses["POST /v1/predict negative"] <= {413, 422}
    assert 200 in statuses["POST /v1/predict positive"]
    assert statuses["POST /v1/feedback negative"] <= {422}
