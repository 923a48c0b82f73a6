"""Run the app under uvicorn: one worker, JSON logs, graceful SIGTERM (the lifespan flushes capture)."""

from __future__ import annotations

import gc

import uvicorn

from driftwatch_inference.app import create_app
from driftwatch_inference.http_limits import HttpLimits, protocol_class
from driftwatch_inference.json_logging import configure_logging
from driftwatch_inference.settings import Settings


def serve(settings: Settings) -> int:
    """Blocks until shut down (SIGTERM or SIGINT: graceful, the capture is flushed)."""
    configure_logging(settings.log_level)
    limits = HttpLimits()
    app = create_app(settings, http_limits=limits)
    # Everything loaded so far (libraries, the model) lives as long as the process: moving it out of
    # the collector's generations keeps full collections, and their pauses in p99, short.
    gc.freeze()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        workers=1,
        log_config=None,
        access_log=settings.access_log,
        timeout_graceful_shutdown=10,
        # A client that never finishes its request cannot hold a connection (issue 12): headers and
        # the idle time between requests are bounded here, the body by the app (BodyDeadlineMiddleware).
        http=protocol_class(limits),
        timeout_keep_alive=limits.keep_alive_s,
    )
    uvicorn.Server(config).run()
    return 0
