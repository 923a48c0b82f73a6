"""`serve` settings come from DRIFTWATCH_* variables, and a flag on the command line wins."""

from __future__ import annotations

import logging
from collections.abc import Iterator
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


@pytest.fixture
def root_logging() -> Iterator[None]:
    """`serve` routes the root logger to the stderr of the moment (here pytest's capture, closed after
    the test): put the handlers and level back so later tests do not log into a closed stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _broken_model_dirs(model_dir: Path, root: Path) -> dict[str, tuple[Path, str]]:
    """One unusable model directory per way it breaks, and what the error must name."""
    missing_card = root / "missing-card"
    missing_card.mkdir()
    no_features = root / "no-features"
    no_features.mkdir()
    (no_features / "model-card.json").write_text('{"name": "m"}', encoding="utf-8")
    not_json = root / "not-json"
    not_json.mkdir()
    (not_json / "model-card.json").write_text("{", encoding="utf-8")
    not_a_model = root / "not-a-model"
    not_a_model.mkdir()
    (not_a_model / "model-card.json").write_bytes((model_dir / "model-card.json").read_bytes())
    (not_a_model / "model.skops").write_text("junk", encoding="utf-8")
    return {
        "missing card": (missing_card, "missing-card/model-card.json: FileNotFoundError"),
        "card without features": (no_features, "the card has no 'features' field"),
        "card not JSON": (not_json, "not-json/model-card.json: JSONDecodeError"),
        "model file not a skops file": (not_a_model, "not-a-model/model.skops: BadZipFile"),
    }


@pytest.mark.parametrize("case", ["missing card", "card without features", "card not JSON",
                                  "model file not a skops file"])  # fmt: skip
@pytest.mark.usefixtures("root_logging")
def test_an_unusable_model_directory_is_one_line_and_exit_1(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    from driftwatch_inference.cli import main

    broken, expected = _broken_model_dirs(model_dir, tmp_path)[case]
    code = main(["serve", "--model-dir", str(broken), "--capture-uri", (tmp_path / "capture").as_uri()])
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot serve the model directory" in err
    assert expected in err
    assert len(err.strip().splitlines()) == 1  # no traceback


@pytest.mark.usefixtures("root_logging")
def test_a_bad_setting_value_is_a_usage_error_naming_flag_and_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from driftwatch_inference.cli import main

    monkeypatch.setenv("DRIFTWATCH_PORT", "abc")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("driftwatch-inference serve: error: --port / DRIFTWATCH_PORT: ")
    assert "'abc'" in err
    assert len(err.splitlines()) == 1
