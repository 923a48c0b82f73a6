"""`driftwatch check` on datasets served over plain HTTP, by a server without range requests."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from driftwatch_controller.cli import main
from driftwatch_demo import synthetic

pytestmark = pytest.mark.integration


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    synthetic.generate(3000, 1).to_parquet(tmp_path / "reference.parquet", index=False)
    synthetic.generate(500, 2).to_csv(tmp_path / "current.csv", index=False)
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    # Python's http.server answers every GET with the whole file: no range requests.
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join(timeout=10)


def test_parquet_reference_and_csv_current_over_http(served: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--reference", f"{served}/reference.parquet", "--current", f"{served}/current.csv"]
    code = main(["check", *args, "--target", synthetic.TARGET, "-o", "json"])
    status = json.loads(capsys.readouterr().out)
    assert code == 0
    assert status["verdict"] == "NoDrift"
    assert status["rows"] == {
        "reference": 3000,
        "current": 500,
        "labelled": 500,
        "sampleRate": 1.0,
        "estimatedCurrent": 500,
    }


def test_missing_file_over_http_exits_2(served: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--reference", f"{served}/nope.parquet", "--current", f"{served}/current.csv"])
    assert code == 2
    assert capsys.readouterr().err == f"driftwatch check: reference: {served}/nope.parquet does not exist\n"
