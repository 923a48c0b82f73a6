"""A request that never completes is not held open (issue 12): the real server, raw sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from support.inference_server import running_inference_service

pytestmark = pytest.mark.integration

LIMITS = {
    "DRIFTWATCH_HTTP_HEADER_TIMEOUT_S": "1",
    "DRIFTWATCH_HTTP_BODY_TIMEOUT_S": "1",
    "DRIFTWATCH_HTTP_KEEP_ALIVE_S": "1",
}


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    return sock


def _read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data, time.monotonic() - started


def test_slow_clients_are_answered_and_cut_off(tmp_path: Path) -> None:
    with running_inference_service(tmp_path, env=LIMITS) as svc:
        # Half a body: 408 from the app, named, and the connection closed.
        with _connect(svc.url) as sock:
            sock.sendall(
                b"POST /v1/feedback HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b'content-length: 100\r\n\r\n{"request_id": '
            )
            body, waited = _read_until_closed(sock)
        assert body.startswith(b"HTTP/1.1 408 "), body
        assert b'"reason":"body_timeout"' in body
        assert 0.8 < waited < 5
        # Half the headers: 408 from the protocol, then closed.
        with _connect(svc.url) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
            head, waited = _read_until_closed(sock)
        assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), head
        assert 0.8 < waited < 5
        # Nothing at all: closed too.
        with _connect(svc.url) as sock:
            nothing, waited = _read_until_closed(sock)
        assert nothing.startswith(b"HTTP/1.1 408 ")
        assert waited < 5
        # Idle after a response (keep-alive): closed without a word.
        with _connect(svc.url) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            answered, waited = _read_until_closed(sock)
        assert answered.startswith(b"HTTP/1.1 200 OK\r\n")
        assert answered.endswith(b'{"status":"ok"}')
        assert 0.8 < waited < 5
        # Headers past the limit: 431 at once.
        with _connect(svc.url) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 70_000)
            too_big, waited = _read_until_closed(sock)
        assert too_big.startswith(b"HTTP/1.1 431 ")
        assert waited < 1
        # Meanwhile, whole requests are served as ever, the 408 counted with the others.
        assert httpx.get(f"{svc.url}/healthz", timeout=10).status_code == 200
        metrics = httpx.get(f"{svc.url}/metrics", timeout=10).text
    # Refused before routing, so under the unmatched-route label, with its status code.
    [counted] = [
        line
        for line in metrics.splitlines()
        if line.startswith("driftwatch_http_requests_total{") and 'status="408"' in line
    ]
    assert counted.endswith(" 1.0")
