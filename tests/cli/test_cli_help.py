"""Every command's --help tells a user its defaults, the environment variables it reads and its exit codes."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from driftwatch_controller.cli import main as driftwatch
from driftwatch_demo.cli import DEFAULT_MAX_FAILED_SHARE
from driftwatch_demo.cli import main as driftwatch_demo
from driftwatch_inference.cli import main as driftwatch_inference
from driftwatch_inference.settings import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _demo_script() -> Callable[[Sequence[str]], int]:
    spec = importlib.util.spec_from_file_location("demo_script", ROOT / "scripts" / "demo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    main: Callable[[Sequence[str]], int] = module.main
    return main


COMMANDS: dict[str, tuple[Callable[..., int], list[str]]] = {
    "driftwatch-inference": (driftwatch_inference, []),
    "driftwatch-inference package": (driftwatch_inference, ["package"]),
    "driftwatch-inference serve": (driftwatch_inference, ["serve"]),
    "driftwatch-inference fetch-model": (driftwatch_inference, ["fetch-model"]),
    "driftwatch-demo": (driftwatch_demo, []),
    "driftwatch-demo train": (driftwatch_demo, ["train"]),
    "driftwatch-demo traffic": (driftwatch_demo, ["traffic"]),
    "driftwatch": (driftwatch, []),
    "driftwatch check": (driftwatch, ["check"]),
    "driftwatch controller": (driftwatch, ["controller"]),
}


def help_text(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    main, args = COMMANDS[command]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--help"])
    assert exited.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines where it likes


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_names_defaults_environment_and_exit_codes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_text(command, capsys)
    assert "environment" in text
    assert "exit codes" in text
    assert " 2 " in text or "2 on a usage error" in text  # argparse's usage error
    if command.count(" ") == 1:  # a sub-command: its own flags carry their defaults
        assert "default" in text


def test_serve_help_gives_every_setting_its_variable_and_default(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text("driftwatch-inference serve", capsys)
    for name, field in Settings.model_fields.items():
        default = "this host's name" if field.default_factory is not None else field.default
        assert f"DRIFTWATCH_{name.upper()}, default {default})" in text


def test_package_help_gives_the_version_default_the_trust_flag_and_the_refusal_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_text("driftwatch-inference package", capsys)
    assert "default: 1.0.0-<12 hex of the model file's sha256>" in text
    assert "--task {binary,multiclass,regression}" in text
    assert "--unseen {accept,reject}" in text
    assert "--trust TYPE" in text
    assert "2 usage error, or an artefact refused" in text


def test_traffic_help_gives_the_failure_threshold_and_the_seed_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_text("driftwatch-demo traffic", capsys)
    assert f"fail (default: {DEFAULT_MAX_FAILED_SHARE})" in text
    assert "default: a fresh one each run" in text
    assert "1 more failed (stderr says how many" in text


def test_controller_help_lists_each_variable_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text("driftwatch controller", capsys)
    for variable, default in (("WATCH_NAMESPACES", "[]"), ("CHECK_IMAGE_PULL_POLICY", "[IfNotPresent]"),
                              ("METRICS_PORT", "[8080]"), ("MAX_WORKERS", "[8]")):  # fmt: skip
        assert f"DRIFTWATCH_{variable} {default}" in text


def test_demo_script_help_gives_defaults_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    main = _demo_script()
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 60.0)" in text
    assert "exit codes: 0 every phase as expected" in text
