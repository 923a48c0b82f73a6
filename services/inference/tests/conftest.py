"""Fixtures of the inference unit tests: one trained model per session, apps on fresh registries."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from driftwatch_demo import synthetic
from driftwatch_demo.training import train
from driftwatch_inference.model_card import CARD_FILE
from driftwatch_inference.settings import Settings
from fastapi import FastAPI

TRAINED_AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's churn model (seed 42, fixed training time): what the image serves."""
    return train(tmp_path_factory.mktemp("model"), seed=42, at=TRAINED_AT).model_dir


@pytest.fixture(scope="session")
def strict_model_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same model with `unseen: reject`: a value outside the card's domain is a 422."""
    out = tmp_path_factory.mktemp("strict-model")
    for item in model_dir.iterdir():
        shutil.copy(item, out / item.name)
    card = json.loads((out / CARD_FILE).read_text())
    (out / CARD_FILE).write_text(json.dumps({**card, "unseen": "reject"}))
    return out


@pytest.fixture(scope="session")
def valid_records() -> list[dict[str, Any]]:
    return synthetic.records(synthetic.generate(50, seed=7))


@pytest.fixture
def make_settings(model_dir: Path, tmp_path: Path) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "model_dir": model_dir,
            "capture_uri": (tmp_path / "capture").as_uri(),
            "capture_host": "testhost",
            "capture_flush_interval_s": 60.0,
        }
        values.update(overrides)
        return Settings(**values)

    return build


@asynccontextmanager
async def _serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://inference.test") as client:
            yield client


Serving = Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def serving() -> Serving:
    """`async with serving(app) as client`: the app with its lifespan running (capture threads
    started, flushed on exit), reached over ASGI (no socket)."""
    return _serving
