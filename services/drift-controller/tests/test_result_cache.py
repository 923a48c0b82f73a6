"""The engine's one cache of costly values: computed once, kept on disk, never fatal."""

from __future__ import annotations

from pathlib import Path

import pytest
from driftwatch_controller.engine.result_cache import scalar_cache

pytestmark = pytest.mark.unit


def test_a_value_is_computed_once_then_read_back_by_a_new_process_from_disk(tmp_path: Path) -> None:
    calls: list[int] = []
    first = scalar_cache(tmp_path, "threshold")
    assert first.get("k", lambda: calls.append(1) or 0.25) == 0.25
    assert first.get("k", lambda: calls.append(1) or 0.5) == 0.25
    assert scalar_cache(tmp_path, "threshold").get("k", lambda: 0.5) == 0.25
    assert calls == [1]
    assert (tmp_path / "k.json").read_text() == '{"threshold": 0.25}'


def test_a_damaged_entry_is_computed_again_and_rewritten(tmp_path: Path) -> None:
    (tmp_path / "k.json").write_text("{not json")
    assert scalar_cache(tmp_path, "margin").get("k", lambda: 0.125) == 0.125
    assert (tmp_path / "k.json").read_text() == '{"margin": 0.125}'


def test_an_unwritable_cache_location_only_costs_the_computation(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the directory should be: mkdir fails
    assert scalar_cache(blocked / "cache", "threshold").get("k", lambda: 0.75) == 0.75
    assert scalar_cache(None, "threshold").get("k", lambda: 1.0) == 1.0
