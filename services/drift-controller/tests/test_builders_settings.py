"""Controller settings from DRIFTWATCH_* variables, as the chart sets them."""

from __future__ import annotations

import pytest
from driftwatch_controller.controller.settings import load_settings
from pydantic import ValidationError

pytestmark = pytest.mark.unit


def test_chart_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTWATCH_WATCH_NAMESPACES", " team-a, ,team-b ")
    monkeypatch.setenv("DRIFTWATCH_CHECK_RESOURCES", '{"requests": {"cpu": "250m"}}')
    monkeypatch.setenv("DRIFTWATCH_DATA_PVC", "dw-data")
    monkeypatch.setenv("DRIFTWATCH_METRICS_PORT", "9090")
    settings = load_settings()
    assert settings.namespaces == ["team-a", "team-b"]
    assert settings.check_resources == {"requests": {"cpu": "250m"}}
    assert (settings.data_pvc, settings.metrics_port, settings.health_port) == ("dw-data", 9090, 8081)


def test_empty_values_mean_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTWATCH_WATCH_NAMESPACES", "")
    monkeypatch.setenv("DRIFTWATCH_CHECK_RESOURCES", "")
    settings = load_settings()
    assert settings.namespaces == []
    assert settings.check_resources is None


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTWATCH_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError, match="log_format"):
        load_settings()


def test_controller_refuses_bad_settings_in_one_line_per_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from driftwatch_controller import controller_command

    monkeypatch.setenv("DRIFTWATCH_METRICS_PORT", "eighty")
    assert controller_command.run(argparse.Namespace(kubeconfig=None, verbose=False)) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith("driftwatch controller: DRIFTWATCH_METRICS_PORT: ")
