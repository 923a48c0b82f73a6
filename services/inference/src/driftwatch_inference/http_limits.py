"""Time and size bounds on an HTTP connection, so that a client that never finishes cannot hold one open.

uvicorn bounds only the idle time after a response (`timeout_keep_alive`). A connection that sends no
request, or half a request line and headers, or headers and half a body, was held open forever
(issue 12). Headers are bounded in the protocol (`BoundedHttpToolsProtocol`), the body in the ASGI app
(`BodyDeadlineMiddleware`, which answers 408 and records the HTTP metrics).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Annotated, Any

import orjson
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from driftwatch_inference.http_metrics import HttpMetrics

ENV_PREFIX = "DRIFTWATCH_HTTP_"


class HttpLimits(BaseSettings):
    """The bounds, from DRIFTWATCH_HTTP_* variables (docs/inference.md, "Timeouts")."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # From a connection's first byte (or a new request's first byte) to the end of its headers.
    header_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    # From the app's first look at a request to the last byte of its body.
    body_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    # Idle time between two requests of a keep-alive connection (uvicorn's timeout_keep_alive).
    keep_alive_s: Annotated[int, Field(ge=1, le=600)] = 5
    # Request line and headers together; beyond it the answer is 431 and the connection closes.
    max_header_bytes: Annotated[int, Field(ge=1024, le=1024 * 1024)] = 64 * 1024


def _bare_response(status: int, reason: str) -> bytes:
    return f"HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode("ascii")


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit on each request's headers.

    The clock starts when the connection is made and again when a request's first byte arrives; the
    end of the headers stops it. Past the deadline the client gets 408 and the connection is closed.
    """

    limits: HttpLimits  # set by `protocol_class`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._in_headers = True

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.limits.header_timeout_s, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        self._refuse(408, "Request Timeout")

    def _refuse(self, status: int, reason: str) -> None:
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # never inside another response
            self.transport.write(_bare_response(status, reason))
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Counted after parsing: a chunk that ends the headers may carry a large body along with them.
        if self._in_headers and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._disarm_header_timer()
                self._refuse(431, "Request Header Fields Too Large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_bytes = 0
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._disarm_header_timer()
        super().on_headers_complete()


def protocol_class(limits: HttpLimits) -> type[BoundedHttpToolsProtocol]:
    """The protocol class uvicorn is given (`http=`), with these limits."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"limits": limits})


class BodyDeadlineMiddleware:
    """Reads a request's whole body within `timeout_s`, then hands it to the app; else answers 408.

    Bodies here are bounded JSON documents the app reads whole anyway, so reading them first costs
    nothing; the app then sees the body at once and the original `receive` afterwards (disconnects).

    With `http_metrics` it also times and counts every request, its 408 included, from the first look
    at it to its end (http_metrics.py says why here rather than in a middleware of their own).
    """

    def __init__(self, app: ASGIApp, timeout_s: float, http_metrics: HttpMetrics | None = None) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.http_metrics = http_metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.http_metrics
        status = 500  # what a request that never answers (the client left, the app raised) is counted as
        start = 0.0
        if metrics is not None:
            real_send = send

            # A plain function handing back the server's own awaitable: no coroutine of ours per message.
            def send_with_status(message: Message) -> Awaitable[None]:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                return real_send(message)

            send = send_with_status
            metrics.in_flight += 1
            start = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.timeout_s
            chunks: list[bytes] = []
            more = True
            try:
                while more:
                    message = await asyncio.wait_for(receive(), timeout=max(deadline - loop.time(), 0.0))
                    if message["type"] == "http.disconnect":
                        return  # the client left: nobody to answer
                    chunks.append(message.get("body", b""))
                    more = bool(message.get("more_body", False))
            except TimeoutError:
                await self._timed_out(send)
                return
            body = b"".join(chunks)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
        finally:
            if metrics is not None:
                metrics.finished(scope, status, time.perf_counter() - start)

    async def _timed_out(self, send: Send) -> None:
        body = orjson.dumps(
            {
                "error": f"the request body did not arrive within {self.timeout_s:g} s",
                "reason": "body_timeout",
            }
        )
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 408, "headers": headers})
        await send({"type": "http.response.body", "body": body})
