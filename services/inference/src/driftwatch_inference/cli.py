"""`driftwatch-inference`: serve a model directory over HTTP, with metrics and prediction capture.

The demo's model, data and traffic come from `driftwatch-demo` (package driftwatch_demo).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from driftwatch_inference.settings import ENV_PREFIX, Settings

# (flag, settings field, what it is, argparse type); booleans get a --no-<flag> too.
_SERVE_FLAGS: tuple[tuple[str, str, str, Any], ...] = (
    ("host", "host", "bind address", str),
    ("port", "port", "port", int),
    ("model-dir", "model_dir", "model directory (model, card and reference, as `driftwatch-demo train` "
     "writes it)", Path),
    ("capture-uri", "capture_uri", "fsspec URI of the capture sink", str),
    ("max-batch-size", "max_batch_size", "largest {'instances': [...]} accepted", int),
    ("capture-queue-size", "capture_queue_size", "rows queued before capture drops", int),
    ("capture-flush-rows", "capture_flush_rows", "flush when this many rows wait", int),
    ("capture-flush-interval-s", "capture_flush_interval_s", "flush at least this often (seconds)", float),
    ("log-level", "log_level", "DEBUG, INFO, WARNING, ERROR", str),
    ("metrics", "metrics_enabled", "Prometheus metrics at /metrics", bool),
    ("capture", "capture_enabled", "prediction capture", bool),
    ("access-log", "access_log", "uvicorn access log lines", bool),
)  # fmt: skip

# Settings with no flag: set from the environment only.
_ENV_ONLY = {"capture_host": "the <pod> part of capture file names"}

EXIT_CODES = """exit codes:
  0  stopped by SIGTERM or SIGINT (the capture was flushed)
  1  the model directory or a setting could not be used
  2  usage error (unknown flag, bad value)"""


def setting_help(field: str, text: str) -> str:
    """`text (DRIFTWATCH_<FIELD>, default <value>)`, the default read from `Settings` itself."""
    info = Settings.model_fields[field]
    default = "this host's name" if info.default_factory is not None else info.default
    return f"{text} ({ENV_PREFIX}{field.upper()}, default {default})"


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    env_only = [f"  {setting_help(field, text)}" for field, text in _ENV_ONLY.items()]
    serve = sub.add_parser(
        "serve",
        help="serve the model over HTTP (uvicorn, one worker)",
        description=f"Every flag can also be set as {ENV_PREFIX}<FLAG> (e.g. {ENV_PREFIX}CAPTURE_URI); "
        "a flag given on the command line wins.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="environment:\n" + "\n".join(env_only) + "\n\n" + EXIT_CODES,
    )
    for flag, field, text, kind in _SERVE_FLAGS:
        if kind is bool:
            serve.add_argument(f"--{flag}", dest=field, action=argparse.BooleanOptionalAction, default=None,
                               help=setting_help(field, text))  # fmt: skip
        else:
            serve.add_argument(f"--{flag}", dest=field, type=kind, help=setting_help(field, text))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="driftwatch-inference",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"environment: {ENV_PREFIX}* variables, see `driftwatch-inference serve --help`.\n\n"
        + EXIT_CODES,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    return parser


def serve_settings(args: argparse.Namespace) -> Settings:
    """DRIFTWATCH_* environment variables, overridden by the flags given on the command line."""
    overrides = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    return Settings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from driftwatch_inference.server import serve

    return serve(serve_settings(args))
