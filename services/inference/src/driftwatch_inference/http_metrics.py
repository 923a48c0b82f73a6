"""HTTP RED metrics, labelled by route template, recorded by the app's one middleware.

Not `@app.middleware("http")`: Starlette's BaseHTTPMiddleware cost about 40% of throughput here
(issue 2). Not a pure-ASGI middleware of their own either: one more layer in the ASGI chain cost 5,100
instructions a request (scripts/bench/request_cost.py), so the body-deadline middleware, which every
request goes through anyway, records them (http_limits.BodyDeadlineMiddleware). The route template comes
from `scope["route"]`, which Starlette's router sets on the shared scope; a path that matched no route
is labelled `<unmatched>` so label values stay finite.

Per request this is one dict lookup and additions to plain numbers (issue 10, docs/benchmarks.md
"Inference service"): the request counter and latency histogram are `Tally` entries folded into their
children when the registry is collected, and the in-flight gauge reads an integer when scraped, instead
of four locked updates per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftwatch_inference.metrics import UNMATCHED_ROUTE, InferenceMetrics, PendingCounter, PendingHistogram

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# What a finished request updates: its route/method/status count and its route/method latency.
Recorder = tuple[PendingCounter, PendingHistogram]


class HttpMetrics:
    """Counts requests by route/method/status, times them, and tracks in-flight requests.

    The middleware adds to `in_flight` when a request starts and calls `finished` when it ends."""

    def __init__(self, metrics: InferenceMetrics) -> None:
        self.metrics = metrics
        # Requests and scrapes run on the one event loop thread, so a plain int needs no lock.
        self.in_flight = 0
        metrics.http_in_flight.set_function(lambda: float(self.in_flight))
        # Bound children per (route template, method, status): `.labels()` takes a lock and builds a key.
        self._recorders: dict[tuple[str, str, int], Recorder] = {}
        self._histograms: dict[tuple[str, str], PendingHistogram] = {}

    def finished(self, scope: Mapping[str, Any], status: int, elapsed: float) -> None:
        """A request of `scope` answered `status` (500 if it never answered) after `elapsed` seconds."""
        self.in_flight -= 1
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
