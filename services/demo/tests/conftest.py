"""Fixtures of the demo tools' tests: the demo model, trained once per session at a fixed time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from driftwatch_demo.training import train


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(tmp_path_factory.mktemp("model"), seed=42, at=datetime(2026, 1, 1, tzinfo=UTC)).model_dir
