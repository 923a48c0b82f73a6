"""Every Prometheus metric of the inference service (docs/metrics.md), declared on a registry passed in."""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

# Milliseconds matter for inference: dense below 50 ms, then coarse up to the 2.5 s of a stuck request.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075,
    0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
PROBABILITY_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
VALUE_METRIC = "driftwatch_prediction_value"
UNMATCHED_ROUTE = "<unmatched>"


class PendingCounter:
    """A counter child's increments on the request path: a plain int, folded into the child on collect."""

    __slots__ = ("child", "folded", "n")

    def __init__(self, child: Counter) -> None:
        self.child = child
        self.n = 0  # every increment since the start; never reset, so a fold cannot lose one
        self.folded = 0

    def fold(self) -> None:
        n = self.n
        if n != self.folded:
            self.child.inc(n - self.folded)
            self.folded = n


class PendingHistogram:
    """A histogram child's observations on the request path, folded into the child on collect.

    `observe` is one bisect and two additions, where the child's own takes two locks and walks its
    buckets in Python (docs/benchmarks.md, "Inference service"). The sum is added up here in the same
    order as the child would, and set on it, so the exposed `_sum` is the same float."""

    __slots__ = ("bounds", "child", "counts", "folded", "total")

    def __init__(self, child: Histogram) -> None:
        self.child = child
        self.bounds: tuple[float, ...] = tuple(child._upper_bounds)  # ends with +Inf
        self.counts = [0] * len(self.bounds)
        self.folded = [0] * len(self.bounds)
        self.total = 0.0

    def observe(self, amount: float) -> None:
        """As `Histogram.observe` for a finite amount (the service observes finite values only)."""
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.total += amount

    def fold(self) -> None:
        child = self.child
        for i, n in enumerate(self.counts):
            if n != self.folded[i]:
                child._buckets[i].inc(n - self.folded[i])
                self.folded[i] = n
        child._sum.set(self.total)


class Tally:
    """Request-path counts kept as plain numbers and folded into their Prometheus children whenever the
    registry is collected (a scrape, `get_sample_value`): registered first, so it folds before any
    family is read. Requests and scrapes share the event loop thread; the lock only keeps two folds
    from other threads (tests) apart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[PendingCounter | PendingHistogram] = []

    def counter(self, child: Counter) -> PendingCounter:
        pending = PendingCounter(child)
        self._pending.append(pending)
        return pending

    def histogram(self, child: Histogram) -> PendingHistogram:
        pending = PendingHistogram(child)
        self._pending.append(pending)
        return pending

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            for pending in self._pending:
                pending.fold()
        return ()


@dataclass(frozen=True)
class InferenceMetrics:
    """The service's metric families; tests build one on a fresh CollectorRegistry."""

    registry: CollectorRegistry
    tally: Tally
    http_requests: Counter
    http_duration: Histogram
    http_in_flight: Gauge
    predictions: Counter
    probability: Histogram
    feature_missing: Counter
    feature_invalid: Counter
    validation_failures: Counter
    feedback: Counter
    capture_written: Counter
    capture_dropped: Counter
    capture_sampled_out: Counter
    capture_queue_depth: Gauge
    capture_sink_writable: Gauge
    model_info: Gauge
    model_trained: Gauge
    engine_difference: Gauge

    def prediction_value(self, buckets: tuple[float, ...]) -> Histogram:
        """A regression's predictions, on buckets from its card (made when a regression model binds)."""
        return Histogram(
            VALUE_METRIC,
            "Predicted value of a regression model.",
            ("model", "model_version"),
            buckets=buckets,
            registry=self.registry,
        )


def build_metrics(registry: CollectorRegistry) -> InferenceMetrics:
    tally = Tally()
    registry.register(tally)  # first: its fold runs before any family below is collected

    def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
        return Counter(name, doc, labels, registry=registry)

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, labels, registry=registry)

    def histogram(name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]) -> Histogram:
        return Histogram(name, doc, labels, buckets=buckets, registry=registry)

    return InferenceMetrics(
        registry=registry,
        tally=tally,
        http_requests=counter(
            "driftwatch_http_requests_total",
            "HTTP requests by route template and status code.",
            ("route", "method", "status"),
        ),
        http_duration=histogram(
            "driftwatch_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ("route", "method"),
            LATENCY_BUCKETS,
        ),
        http_in_flight=gauge("driftwatch_http_requests_in_flight", "Requests being served now."),
        predictions=counter(
            "driftwatch_predictions_total",
            "Predictions served, by predicted class (`value` for a regression).",
            ("model", "model_version", "class"),
        ),
        probability=histogram(
            "driftwatch_prediction_probability",
            "Predicted probability: of the positive class (binary), of the predicted class (multiclass).",
            ("model", "model_version"),
            PROBABILITY_BUCKETS,
        ),
        feature_missing=counter(
            "driftwatch_feature_missing_total",
            "Rejected rows where the feature was missing or null.",
            ("model", "feature"),
        ),
        feature_invalid=counter(
            "driftwatch_feature_invalid_total",
            "Rows where the feature was mistyped, out of range, not finite or an unknown category: "
            "rejected (422), or accepted and scored under the card's `unseen: accept`.",
            ("model", "feature", "action"),
        ),
        validation_failures=counter(
            "driftwatch_validation_failures_total", "Rejected requests by reason.", ("model", "reason")
        ),
        feedback=counter("driftwatch_feedback_total", "Labels received on /v1/feedback.", ("model", "label")),
        capture_written=counter(
            "driftwatch_capture_rows_written_total", "Rows written to the capture sink.", ("model", "kind")
        ),
        capture_dropped=counter(
            "driftwatch_capture_rows_dropped_total",
            "Capture rows lost, by reason.",
            ("model", "kind", "reason"),
        ),
        capture_sampled_out=counter(
            "driftwatch_capture_sampled_out_total",
            "Rows not captured by the model's sample rate (decided by request id; a label follows its "
            "prediction), by kind (prediction or feedback).",
            ("model", "kind"),
        ),
        capture_queue_depth=gauge(
            "driftwatch_capture_queue_depth", "Capture rows waiting to be written.", ("model",)
        ),
        capture_sink_writable=gauge(
            "driftwatch_capture_sink_writable",
            "1 when the last write or probe of the sink succeeded.",
            ("model",),
        ),
        model_info=gauge(
            "driftwatch_model_info",
            "The model being served (always 1), and the engine that scores it (onnx or sklearn).",
            ("model", "model_version", "engine"),
        ),
        model_trained=gauge(
            "driftwatch_model_trained_timestamp_seconds",
            "When the served model was trained.",
            ("model", "model_version"),
        ),
        engine_difference=gauge(
            "driftwatch_model_engine_max_abs_difference",
            "Largest |output difference| between the scoring engine and scikit-learn on the reference rows.",
            ("model", "model_version", "engine"),
        ),
    )
