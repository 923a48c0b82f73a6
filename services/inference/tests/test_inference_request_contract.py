"""The published request schema says exactly what is accepted (issue 12): integral floats are integers, as
JSON Schema's `integer` holds them; feedback `event_time` is an RFC 3339 string within sane bounds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
from driftwatch_inference.app import create_app
from driftwatch_inference.settings import Settings
from prometheus_client import CollectorRegistry

pytestmark = [pytest.mark.unit, pytest.mark.asyncio]


def _int_feature(record: dict[str, Any]) -> str:
    return next(k for k, v in record.items() if isinstance(v, int) and not isinstance(v, bool))


async def test_an_integral_float_is_the_integer_and_a_fraction_is_refused(
    make_settings: Callable[..., Settings], serving: Any, valid_records: list[dict[str, Any]], tmp_path: Path
) -> None:
    record = dict(valid_records[0])
    name = _int_feature(record)
    async with serving(create_app(make_settings(), CollectorRegistry())) as client:
        whole = await client.post("/v1/predict", json={**record, name: float(record[name])})
        fraction = await client.post("/v1/predict", json={**record, name: record[name] + 0.5})
        text = await client.post("/v1/predict", json={**record, name: str(record[name])})
    assert whole.status_code == 200, whole.text
    assert (fraction.status_code, fraction.json()["detail"][0]["field"]) == (422, name)
    assert fraction.json()["reason"] == "wrong_type"
    assert text.status_code == 422
    rows = ds.dataset(tmp_path / "capture" / "churn", format="parquet", partitioning="hive").to_table()
    assert rows.column(name).to_pylist() == [record[name]]  # stored as the int64 it is


async def test_a_label_may_be_a_whole_float_and_the_schema_lists_the_classes(
    make_settings: Callable[..., Settings], serving: Any
) -> None:
    async with serving(create_app(make_settings(), CollectorRegistry())) as client:
        whole = await client.post("/v1/feedback", json={"request_id": "r1", "label": 0.0})
        half = await client.post("/v1/feedback", json={"request_id": "r1", "label": 0.5})
        unknown = await client.post("/v1/feedback", json={"request_id": "r1", "label": 2.0})
        schema = (await client.get("/openapi.json")).json()
    assert whole.status_code == 202
    assert (half.status_code, unknown.status_code) == (422, 422)
    label = schema["components"]["schemas"]["Feedback"]["properties"]["label"]
    assert (label["type"], label["enum"]) == ("integer", [0, 1])


@pytest.mark.parametrize(
    ("event_time", "reason"),
    [
        (1700000000, "wrong_type"),  # pydantic alone reads a number as Unix seconds
        (1.7e9, "wrong_type"),
        ("1700000000", "wrong_type"),
        ("10000-01-01T00:00:00Z", "wrong_type"),
        ("9999-12-31T23:59:59Z", "out_of_range"),
        ("1999-12-31T23:59:59Z", "out_of_range"),
        ("2026-11-27 08:00", "wrong_type"),
    ],
)
async def test_an_event_time_not_rfc3339_or_out_of_bounds_is_refused_and_not_stored(
    make_settings: Callable[..., Settings], serving: Any, tmp_path: Path, event_time: Any, reason: str
) -> None:
    async with serving(create_app(make_settings(), CollectorRegistry())) as client:
        response = await client.post(
            "/v1/feedback", json={"request_id": "r1", "label": 1, "event_time": event_time}
        )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert (detail["field"], detail["reason"]) == ("event_time", reason)
    assert not list((tmp_path / "capture").rglob("*.parquet"))


async def test_an_event_time_up_to_a_day_ahead_is_stored_two_days_is_refused(
    make_settings: Callable[..., Settings], serving: Any, tmp_path: Path
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    soon = (now + dt.timedelta(hours=23)).isoformat().replace("+00:00", "Z")
    later = (now + dt.timedelta(days=2)).isoformat().replace("+00:00", "Z")
    async with serving(create_app(make_settings(), CollectorRegistry())) as client:
        accepted = await client.post(
            "/v1/feedback", json={"request_id": "r1", "label": 1, "event_time": soon}
        )
        refused = await client.post(
            "/v1/feedback", json={"request_id": "r2", "label": 1, "event_time": later}
        )
    assert accepted.status_code == 202
    assert refused.status_code == 422
    rows = ds.dataset(tmp_path / "capture" / "churn" / "feedback", format="parquet").to_table().to_pylist()
    assert [(r["request_id"], r["event_time"]) for r in rows] == [("r1", now + dt.timedelta(hours=23))]


async def test_the_schema_publishes_event_time_as_an_rfc3339_string_of_this_century(
    make_settings: Callable[..., Settings], serving: Any
) -> None:
    async with serving(create_app(make_settings(), CollectorRegistry())) as client:
        schema = (await client.get("/openapi.json")).json()
    event_time = schema["components"]["schemas"]["Feedback"]["properties"]["event_time"]
    [text, null] = event_time["anyOf"]
    assert null == {"type": "null"}
    assert (text["type"], text["format"]) == ("string", "date-time")
    assert text["pattern"].startswith("^20[0-9]{2}-")
