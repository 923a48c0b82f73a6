"""`create_app(settings)`: the FastAPI application (routes are thin; the work is in InferenceService)."""

# No `from __future__ import annotations`: FastAPI must see the card-built body type, a local.

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from fastapi import Body, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException

from driftwatch_inference.http_limits import BodyDeadlineMiddleware, HttpLimits
from driftwatch_inference.http_metrics import HttpMetrics
from driftwatch_inference.metrics import build_metrics
from driftwatch_inference.rejections import UNDECODABLE_BODY, Rejection, classify
from driftwatch_inference.request_model import FeedbackAccepted, build_request_models
from driftwatch_inference.service import InferenceService, ScoringError
from driftwatch_inference.settings import Settings
from driftwatch_inference.v2_protocol import v2_router

log = logging.getLogger(__name__)


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


def create_app(
    settings: Settings, registry: CollectorRegistry | None = None, http_limits: HttpLimits | None = None
) -> FastAPI:
    """Load the model named by `settings.model_dir` and build the app; `registry` defaults to a new one,
    `http_limits` to the DRIFTWATCH_HTTP_* environment."""
    registry = registry if registry is not None else CollectorRegistry()
    metrics = build_metrics(registry) if settings.metrics_enabled else None
    service = InferenceService(settings, metrics)
    card = service.card
    models = build_request_models(card, settings.max_batch_size)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        log.info(
            "serving model",
            extra={"model": card.name, "model_version": card.version, "capture_uri": settings.capture_uri,
                   "capture_enabled": settings.capture_enabled, "metrics_enabled": settings.metrics_enabled},
        )  # fmt: skip
        try:
            yield
        finally:
            service.close()
            log.info("capture flushed, shutting down", extra={"model": card.name})

    app = FastAPI(
        title="driftwatch inference",
        version=card.version,
        summary=f"Typed predictions of the `{card.name}` model, with metrics and capture.",
        lifespan=lifespan,
    )
    app.state.service = service
    # The one middleware: the body's deadline, and the HTTP metrics (a 408 for a body that never arrived
    # is counted too).
    app.add_middleware(
        BodyDeadlineMiddleware,
        timeout_s=(http_limits or HttpLimits()).body_timeout_s,
        http_metrics=HttpMetrics(metrics) if metrics is not None else None,
    )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 400 and request.method == "POST":
            return reject([UNDECODABLE_BODY])
        return await http_exception_handler(request, exc)

    @app.exception_handler(ScoringError)
    async def unscorable(_: Request, exc: ScoringError) -> Response:
        # Validated input the model cannot score: the client's input meets a model limit, so 422.
        return reject([{"type": "model_error", "loc": ("body",), "msg": str(exc)}])

    @app.exception_handler(RequestValidationError)
    async def rejected(_: Request, exc: RequestValidationError) -> Response:
        return reject(exc.errors())

    def count_rejection(errors: Sequence[Any]) -> Rejection:
        rejection = classify(errors, card.feature_names)
        service.count_rejection(rejection)
        log.info("request rejected", extra={"reason": rejection.reason, "errors": len(rejection.detail)})
        return rejection

    def reject(errors: Sequence[Any]) -> Response:
        rejection = count_rejection(errors)
        status = 413 if rejection.reason == "batch_too_large" else 422
        body = {"error": rejection.message, "reason": rejection.reason, "detail": rejection.detail}
        return JSONResponse(body, status_code=status)

    body_type: Any = Annotated[models.predict_body, Body()]
    feedback_type: Any = models.feedback
    version = card.version

    @app.post(
        "/v1/predict",
        response_model=models.predict_response | models.batch_response,
        responses={413: {"description": f"more than {settings.max_batch_size} instances"}},
        summary='Score one record, or a batch {"instances": [...]}',
    )
    async def predict(payload: body_type) -> Response:
        batch = isinstance(payload, models.batch)
        rows = [r.__dict__ for r in payload.instances] if batch else [payload.__dict__]
        scored = service.predict(rows)
        if batch:
            return _json({"predictions": [s.answer() for s in scored], "model_version": version})
        return _json({**scored[0].answer(), "model_version": version})

    @app.post(
        "/v1/feedback", status_code=202, response_model=FeedbackAccepted, summary="Record a delayed label"
    )
    async def feedback(payload: feedback_type) -> Response:
        service.record_feedback(payload.request_id, payload.label, payload.event_time)
        return _json({"status": "accepted", "request_id": payload.request_id}, status_code=202)

    @app.get("/healthz", summary="The process is alive")
    async def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz", summary="Model loaded and capture sink writable")
    async def readyz() -> Response:
        capture = "disabled" if not settings.capture_enabled else (
            "writable" if service.capture_writable else "not writable"
        )  # fmt: skip
        ready = capture != "not writable"
        body = {
            "status": "ready" if ready else "not ready",
            "model_version": card.version,
            "capture": capture,
        }
        if not ready:
            body["error"] = f"capture sink {settings.capture_uri} is not writable"
        return _json(body, status_code=200 if ready else 503)

    @app.get("/v1/model", summary="The model card")
    async def model_card() -> Response:
        return _json(card.raw)

    # The Open Inference Protocol (KServe V2) routes: same validation, counters, scoring and capture.
    app.include_router(v2_router(service, models, count_rejection))

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
