"""`driftwatch-inference`: train a model, serve it, or send generated traffic to it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from driftwatch_inference.settings import Settings
from driftwatch_inference.synthetic import SCENARIOS


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser(
        "serve",
        help="serve the model over HTTP (uvicorn, one worker)",
        description="Every flag can also be set as DRIFTWATCH_<FLAG> (e.g. DRIFTWATCH_CAPTURE_URI); "
        "a flag given on the command line wins.",
    )
    serve.add_argument("--host", help="bind address (DRIFTWATCH_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (DRIFTWATCH_PORT, default 8000)")
    serve.add_argument("--model-dir", type=Path, help="directory written by `train` (DRIFTWATCH_MODEL_DIR)")
    serve.add_argument("--capture-uri", help="fsspec URI of the capture sink (DRIFTWATCH_CAPTURE_URI)")
    serve.add_argument("--max-batch-size", type=int, help="largest {'instances': [...]} accepted")
    serve.add_argument("--capture-queue-size", type=int, help="rows queued before capture drops")
    serve.add_argument("--capture-flush-rows", type=int, help="flush when this many rows wait")
    serve.add_argument("--capture-flush-interval-s", type=float, help="flush at least this often")
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")
    for flag, dest, text in (
        ("metrics", "metrics_enabled", "Prometheus metrics (DRIFTWATCH_METRICS_ENABLED)"),
        ("capture", "capture_enabled", "prediction capture (DRIFTWATCH_CAPTURE_ENABLED)"),
        ("access-log", "access_log", "uvicorn access log lines (DRIFTWATCH_ACCESS_LOG)"),
    ):
        serve.add_argument(
            f"--{flag}", dest=dest, action=argparse.BooleanOptionalAction, default=None, help=text
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="driftwatch-inference", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="fit the churn model; write model, card and reference")
    train.add_argument("--out", type=Path, required=True, help="model directory to write")
    train.add_argument("--seed", type=int, default=42, help="data and model seed (default 42)")
    _serve_parser(sub)
    traffic = sub.add_parser("traffic", help="send generated records to a running service")
    traffic.add_argument("--url", default="http://127.0.0.1:8000", help="service base URL")
    traffic.add_argument("--rate", type=float, default=20.0, help="requests per second")
    traffic.add_argument("--duration", type=float, default=30.0, help="seconds to run")
    traffic.add_argument("--scenario", choices=SCENARIOS, default="none", help="drift to plant")
    traffic.add_argument("--feedback-delay", type=float, default=None,
                         help="post each true label this many seconds after its prediction")  # fmt: skip
    traffic.add_argument("--seed", type=int, default=0, help="data seed")
    traffic.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def serve_settings(args: argparse.Namespace) -> Settings:
    """DRIFTWATCH_* environment variables, overridden by the flags given on the command line."""
    overrides = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    return Settings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        from driftwatch_inference.training import train

        result = train(args.out, seed=args.seed)
        summary = {"model_dir": str(result.model_dir), "version": result.card["version"],
                   "holdout": result.card["metrics"]["holdout"]}  # fmt: skip
        print(json.dumps(summary))
        return 0
    if args.command == "serve":
        from driftwatch_inference.server import serve

        return serve(serve_settings(args))
    from driftwatch_inference.traffic import TrafficPlan, run_traffic

    plan = TrafficPlan(url=args.url, rate=args.rate, duration=args.duration, scenario=args.scenario,
                       feedback_delay=args.feedback_delay, seed=args.seed)  # fmt: skip
    report = run_traffic(plan, progress=None if args.quiet else sys.stderr)
    print(json.dumps(report.as_dict()))
    return 0 if report.sent else 1
