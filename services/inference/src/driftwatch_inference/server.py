"""Run the app under uvicorn: one worker, JSON logs, graceful SIGTERM (the lifespan flushes capture)."""

from __future__ import annotations

from typing import Any

import uvicorn

from driftwatch_inference.app import create_app
from driftwatch_inference.json_logging import configure_logging
from driftwatch_inference.settings import Settings


def serve(overrides: dict[str, Any]) -> int:
    """Settings from DRIFTWATCH_* env vars, overridden by the flags given; blocks until shut down."""
    settings = Settings(**overrides)
    configure_logging(settings.log_level)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        workers=1,
        log_config=None,
        access_log=settings.access_log,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()
    return 0
