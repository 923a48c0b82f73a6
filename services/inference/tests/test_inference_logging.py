"""Logs are one JSON object per line, and a rejected request logs its reason, never the values sent."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from driftwatch_inference.app import create_app
from driftwatch_inference.json_logging import JsonFormatter
from driftwatch_inference.settings import Settings

pytestmark = pytest.mark.unit


def test_formatter_writes_message_level_and_extra_fields_as_json() -> None:
    record = logging.LogRecord(
        "driftwatch_inference.app", logging.INFO, __file__, 1, "request %s", ("rejected",), None
    )
    record.reason = "out_of_range"
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "request rejected"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "driftwatch_inference.app"
    assert entry["reason"] == "out_of_range"
    assert entry["time"].endswith("+00:00")
    assert "\n" not in line


@pytest.mark.asyncio
async def test_rejected_request_logs_no_feature_value(
    make_settings: Callable[..., Settings],
    strict_model_dir: Path,
    serving: Any,
    valid_records: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with serving(create_app(make_settings(model_dir=strict_model_dir))) as client:
        response = await client.post("/v1/predict", json={**valid_records[0], "region": "atlantis-7731"})
    assert response.status_code == 422
    lines = [JsonFormatter().format(r) for r in caplog.records]
    assert any('"reason":"unknown_category"' in line for line in lines)
    assert not any("atlantis-7731" in line for line in lines)
