"""The loaded model and its side effects (metrics, capture) behind the HTTP handlers."""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftwatch_capture.schema import FEEDBACK_SCHEMA
from prometheus_client import Counter, Histogram

from driftwatch_inference.arrow_schema import prediction_schema
from driftwatch_inference.capture import CaptureWriter, utc_micros
from driftwatch_inference.metrics import InferenceMetrics
from driftwatch_inference.model_card import CARD_FILE, MODEL_FILE, ModelCard, load_card
from driftwatch_inference.rejections import Rejection
from driftwatch_inference.scoring import Scorer, UntrustedTypesError, build_scorer, load_pipeline
from driftwatch_inference.settings import Settings

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


@dataclass
class ModelMetrics:
    """Children of the model metric families, bound once to this model's labels."""

    by_class: dict[int, Counter]
    probability: Histogram


class ModelDirectoryError(RuntimeError):
    """The model directory cannot be served: a file missing or unreadable, a card or model unusable."""


def _load(model_dir: Path, trust: Sequence[str]) -> tuple[ModelCard, Pipeline]:
    """The card and the Pipeline, or ModelDirectoryError saying which file and why (no traceback)."""
    try:
        card = load_card(model_dir)
    except KeyError as exc:
        raise ModelDirectoryError(f"{model_dir / CARD_FILE}: the card has no {exc} field") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise ModelDirectoryError(f"{model_dir / CARD_FILE}: {_first_line(exc)}") from exc
    try:
        pipeline = load_pipeline(model_dir / MODEL_FILE, (*card.trusted_types, *trust))
    except UntrustedTypesError:
        raise  # its own message names the types and the flag
    except Exception as exc:  # skops raises many kinds for a file that is not a model
        raise ModelDirectoryError(f"{model_dir / MODEL_FILE}: {_first_line(exc)}") from exc
    return card, pipeline


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class InferenceService:
    """Scores validated rows, counts them, queues them for capture; also records feedback."""

    def __init__(self, settings: Settings, metrics: InferenceMetrics | None) -> None:
        self.settings = settings
        self.card: ModelCard
        self.card, pipeline = _load(settings.model_dir, settings.trust)
        self.scorer: Scorer = build_scorer(pipeline, self.card.feature_names)
        self.metrics = metrics
        self.negative, self.positive = self.card.classes
        # One C call per row pulls the features, in schema order, into the capture tuple.
        names = self.card.feature_names
        self._features_of: Callable[[dict[str, Any]], tuple[Any, ...]] = (
            operator.itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
        )
        self.predictions: CaptureWriter | None = None
        self.feedback: CaptureWriter | None = None
        if settings.capture_enabled:
            self.predictions = self._writer(
                self.card.name, prediction_schema(self.card.features), "prediction"
            )
            self.feedback = self._writer(f"{self.card.name}/feedback", FEEDBACK_SCHEMA, "feedback")
        self._model_metrics = self._bind_metrics() if metrics is not None else None

    def _writer(self, prefix: str, schema: Any, kind: str) -> CaptureWriter:
        s, metrics, model = self.settings, self.metrics, self.card.name
        hooks: dict[str, Any] = {}
        if metrics is not None:
            hooks["on_written"] = metrics.capture_written.labels(model, kind).inc
            hooks["on_dropped"] = lambda n, reason: metrics.capture_dropped.labels(model, kind, reason).inc(n)
        return CaptureWriter(
            s.capture_uri, prefix, schema, host=s.capture_host, queue_size=s.capture_queue_size,
            flush_rows=s.capture_flush_rows, flush_interval_s=s.capture_flush_interval_s, **hooks,
        )  # fmt: skip

    def _bind_metrics(self) -> ModelMetrics:
        assert self.metrics is not None
        m, name, version = self.metrics, self.card.name, self.card.version
        m.model_info.labels(name, version).set(1)
        trained = datetime.fromisoformat(self.card.trained_at.replace("Z", "+00:00"))
        m.model_trained.labels(name, version).set(trained.timestamp())
        m.capture_queue_depth.labels(name).set_function(lambda: float(self.queue_depth))
        m.capture_sink_writable.labels(name).set_function(lambda: float(self.capture_writable))
        for feature in self.card.feature_names:
            m.feature_missing.labels(name, feature)
            m.feature_invalid.labels(name, feature)
        return ModelMetrics(
            by_class={c: m.predictions.labels(name, version, str(c)) for c in self.card.classes},
            probability=m.probability.labels(name, version),
        )

    @property
    def queue_depth(self) -> int:
        return sum(w.depth for w in (self.predictions, self.feedback) if w is not None)

    @property
    def capture_writable(self) -> bool:
        return all(w.writable for w in (self.predictions, self.feedback) if w is not None)

    def start(self) -> None:
        for writer in (self.predictions, self.feedback):
            if writer is not None:
                writer.start()

    def close(self) -> None:
        for writer in (self.predictions, self.feedback):
            if writer is not None:
                writer.close()

    def predict(self, rows: Sequence[dict[str, Any]]) -> list[tuple[int, float, str]]:
        """(class, probability, request_id) per row; capture and metrics never fail the request."""
        probabilities = self.scorer.probabilities(rows)
        now = utc_micros()
        version, features_of = self.card.version, self._features_of
        results: list[tuple[int, float, str]] = []
        captured = []
        for row, probability in zip(rows, probabilities, strict=True):
            label = self.positive if probability > 0.5 else self.negative
            request_id = uuid.uuid4().hex
            results.append((label, probability, request_id))
            if self.predictions is not None:
                captured.append((request_id, now, version, *features_of(row), label, probability))
        if self.predictions is not None:
            self.predictions.submit(captured)
        if self._model_metrics is not None:
            for label, probability, _ in results:
                self._model_metrics.by_class[label].inc()
                self._model_metrics.probability.observe(probability)
        return results

    def record_feedback(self, request_id: str, label: int, event_time: datetime | None) -> None:
        if self.feedback is not None:
            self.feedback.submit([(request_id, utc_micros(), event_time, label)])
        if self.metrics is not None:
            self.metrics.feedback.labels(self.card.name, str(label)).inc()

    def count_rejection(self, rejection: Rejection) -> None:
        if self.metrics is None:
            return
        m, name = self.metrics, self.card.name
        m.validation_failures.labels(name, rejection.reason).inc()
        for feature in rejection.missing:
            m.feature_missing.labels(name, feature).inc()
        for feature in rejection.invalid:
            m.feature_invalid.labels(name, feature).inc()
