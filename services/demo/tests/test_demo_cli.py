"""`driftwatch-demo traffic` fails loudly when the service does not answer, and refuses what it cannot do."""

from __future__ import annotations

import json
import socket

import pytest
from driftwatch_demo.cli import build_parser, main

pytestmark = pytest.mark.unit


def _closed_port() -> int:
    """A port nothing listens on: every request to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_traffic_refuses_an_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["traffic", "--scenario", "weather"])
    assert exited.value.code == 2
    assert "invalid choice: 'weather'" in capsys.readouterr().err


def test_traffic_to_no_service_exits_1_and_says_how_many_failed(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    code = main(["traffic", "--url", url, "--rate", "400", "--duration", "0.1", "--seed", "5", "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    report = json.loads(captured.out)
    assert report["sent"] == report["errors"] == report["failed"] == 40
    assert report["seed"] == 5
    assert "40 of 40 requests failed (100.0%, more than the 1% allowed): 40 transport errors or 5xx" in (
        captured.err
    )
