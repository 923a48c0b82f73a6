"""Accepted unseen values are counted once each, whichever side counts them (unseen.py, service.py).

The capture's flusher counts the features it converts as sent, column by column; the request path
counts the rest (capture off, sampling, excluded or hashed features) and the rows the queue refused.
Whatever the capture settings, `driftwatch_feature_invalid_total{action="accepted"}` must be the same.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from driftwatch_inference.app import create_app
from driftwatch_inference.model_card import load_card
from driftwatch_inference.settings import Settings
from driftwatch_inference.unseen import unseen_features
from prometheus_client import CollectorRegistry

pytestmark = pytest.mark.unit

CATEGORY, NUMBER = "internet_service", "dropped_call_rate"


def _unseen_rows(valid: list[dict[str, Any]], every: int) -> tuple[list[dict[str, Any]], int]:
    """The valid records, every `every`-th with an unseen category and an out-of-range number."""
    rows = [dict(r) for r in valid]
    for row in rows[::every]:
        row[CATEGORY] = "satellite"
        row[NUMBER] = 1.5
    return rows, len(rows[::every])


def test_counting_by_column_finds_what_the_row_check_finds(
    model_dir: Path, valid_records: list[dict[str, Any]]
) -> None:
    card = load_card(model_dir)
    check = unseen_features(card)
    assert check is not None
    rng = random.Random(3)
    rows = [dict(r) for r in valid_records]
    numbers = [f for f in card.features if f.kind == "numerical" and f.valid_max is not None]
    categories = [f for f in card.features if f.kind == "categorical"]
    for row in rows:
        for f in rng.sample(numbers, 3):
            row[f.name] = rng.choice([f.valid_min, f.valid_max, f.valid_max + 1, f.valid_min - 1])
        for f in rng.sample(categories, 2):
            row[f.name] = rng.choice([*f.categories, "never-seen"])
    by_row: dict[str, int] = dict.fromkeys(check.features, 0)
    for row in rows:
        for feature in check(row):
            by_row[feature] += 1
    table = pa.Table.from_pylist(rows)
    assert check.count_columns(table) == by_row
    assert sum(by_row.values()) > 0  # the sample holds unseen values


def test_a_check_restricted_to_some_features_checks_only_those(model_dir: Path) -> None:
    check = unseen_features(load_card(model_dir))
    assert check is not None
    only = check.only([CATEGORY, "not-a-feature"])
    assert only is not None
    assert only.features == (CATEGORY,)
    assert check.only(["not-a-feature"]) is None


CAPTURE_SETTINGS = {
    "capture counts both": {},
    "capture off": {"capture_enabled": False},
    "sampled": {"capture_sample_rate": 0.5},
    "number excluded": {"capture_exclude": (NUMBER,)},
    "category hashed": {"capture_hash": (CATEGORY,), "capture_hash_key": "k" * 32},
    "queue too small": {"capture_queue_size": 7},
    "durable": {"capture_durable": True},
}


@pytest.mark.asyncio
@pytest.mark.parametrize("overrides", CAPTURE_SETTINGS.values(), ids=CAPTURE_SETTINGS.keys())
async def test_each_accepted_unseen_value_is_counted_once_whatever_the_capture_does(
    make_settings: Callable[..., Settings],
    serving: Any,
    valid_records: list[dict[str, Any]],
    tmp_path: Path,
    overrides: dict[str, Any],
) -> None:
    rows, unseen = _unseen_rows(valid_records, every=3)
    if overrides.get("capture_durable"):
        overrides = {**overrides, "capture_spool_dir": tmp_path / "spool"}
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(**overrides), registry)) as client:
        for start in range(0, len(rows), 10):  # batches: some rows of each refused by a full queue
            response = await client.post("/v1/predict", json={"instances": rows[start : start + 10]})
            assert response.status_code == 200, response.text
    for feature in (CATEGORY, NUMBER):
        labels = {"model": "churn", "feature": feature, "action": "accepted"}
        assert registry.get_sample_value("driftwatch_feature_invalid_total", labels) == unseen, feature
    other = {"model": "churn", "feature": "tenure_months", "action": "accepted"}
    assert registry.get_sample_value("driftwatch_feature_invalid_total", other) == 0
