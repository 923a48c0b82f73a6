"""`serve` settings come from DRIFTWATCH_* variables, and a flag on the command line wins."""

from __future__ import annotations

from pathlib import Path

import pytest
from driftwatch_inference.cli import build_parser, serve_settings

pytestmark = pytest.mark.unit


def test_environment_sets_what_flags_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTWATCH_PORT", "9001")
    monkeypatch.setenv("DRIFTWATCH_CAPTURE_URI", "file:///env/capture")
    monkeypatch.setenv("DRIFTWATCH_METRICS_ENABLED", "false")
    args = build_parser().parse_args(["serve", "--capture-uri", "file:///flag/capture", "--model-dir", "m",
                                      "--max-batch-size", "7", "--no-capture"])  # fmt: skip
    settings = serve_settings(args)
    assert settings.port == 9001
    assert settings.capture_uri == "file:///flag/capture"
    assert settings.model_dir == Path("m")
    assert settings.max_batch_size == 7
    assert settings.metrics_enabled is False
    assert settings.capture_enabled is False


def test_bad_setting_is_refused_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTWATCH_MAX_BATCH_SIZE", "0")
    with pytest.raises(ValueError, match="max_batch_size"):
        serve_settings(build_parser().parse_args(["serve"]))
