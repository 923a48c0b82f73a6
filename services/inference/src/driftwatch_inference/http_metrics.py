"""Pure-ASGI middleware for HTTP RED metrics, labelled by route template.

Not `@app.middleware("http")`: Starlette's BaseHTTPMiddleware cost about 40% of throughput here
(issue 2). The route template comes from `scope["route"]`, which Starlette's router sets on the
shared scope; a path that matched no route is labelled `<unmatched>` so label values stay finite.

Per request the middleware does one dict lookup and adds to plain numbers (issue 10, docs/benchmarks.md
"Inference service"): the request counter and latency histogram are `Tally` entries folded into their
children when the registry is collected, and the in-flight gauge reads an integer when scraped, instead
of four locked updates per request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from driftwatch_inference.metrics import UNMATCHED_ROUTE, InferenceMetrics, PendingCounter, PendingHistogram

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# What a finished request updates: its route/method/status count and its route/method latency.
Recorder = tuple[PendingCounter, PendingHistogram]


class MetricsMiddleware:
    """Counts requests by route/method/status, times them, and tracks in-flight requests."""

    def __init__(self, app: ASGIApp, metrics: InferenceMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # Requests and scrapes run on the one event loop thread, so a plain int needs no lock.
        self._in_flight = 0
        metrics.http_in_flight.set_function(lambda: float(self._in_flight))
        # Bound children per (route template, method, status): `.labels()` takes a lock and builds a key.
        self._recorders: dict[tuple[str, str, int], Recorder] = {}
        self._histograms: dict[tuple[str, str], PendingHistogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        # A plain function handing back the server's own awaitable: no coroutine of ours per message.
        def send_with_status(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        self._in_flight += 1
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - start
            self._in_flight -= 1
            method = scope["method"]
            template = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            key = (template, method if method in _METHODS else "OTHER", status)
            recorder = self._recorders.get(key) or self._bind(key)
            recorder[0].n += 1
            recorder[1].observe(elapsed)

    def _bind(self, key: tuple[str, str, int]) -> Recorder:
        template, method, status = key
        m = self.metrics
        histogram = self._histograms.get((template, method))
        if histogram is None:  # one latency series per route and method, whatever the status
            histogram = self._histograms[(template, method)] = m.tally.histogram(
                m.http_duration.labels(template, method)
            )
        recorder = (m.tally.counter(m.http_requests.labels(template, method, str(status))), histogram)
        self._recorders[key] = recorder
        return recorder
