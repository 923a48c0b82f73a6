"""`driftwatch-demo`: train the demo's churn model, or send generated traffic to a running service."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from driftwatch_inference.cli import DefaultsHelpFormatter

from driftwatch_demo.synthetic import SCENARIOS

EXIT_OK = 0
EXIT_FAILED = 1  # traffic: more than --max-failed-share of the requests failed
# A small share of failures is normal traffic (a timeout, a restart); 1,713 of 2,000 is not (issue 9).
DEFAULT_MAX_FAILED_SHARE = 0.01

TRAIN_EPILOG = """environment:
  SOURCE_DATE_EPOCH  the card's trained_at, in seconds since 1970 (default: now); with the same
                     seed, the same model file, card and reference, byte for byte

exit codes:
  0  the model directory was written
  1  training failed
  2  usage error (unknown flag, bad value)"""

TRAFFIC_EPILOG = """environment:
  HTTP_PROXY, HTTPS_PROXY, NO_PROXY  honoured by the HTTP client

exit codes:
  0  at most --max-failed-share of the requests failed
  1  more failed (stderr says how many, and of which kind)
  2  usage error (unknown flag, bad value)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="driftwatch-demo",
        description=__doc__,
        formatter_class=DefaultsHelpFormatter,
        epilog="environment and exit codes: see `driftwatch-demo train --help` and "
        "`driftwatch-demo traffic --help`; 2 on a usage error.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    about = "fit the churn model; write model, card and reference"
    train = sub.add_parser("train", help=about, description=about, formatter_class=DefaultsHelpFormatter,
                           epilog=TRAIN_EPILOG)  # fmt: skip
    train.add_argument("--out", type=Path, required=True, help="model directory to write")
    train.add_argument("--seed", type=int, default=42, help="data and model seed")
    about = "send generated records to a running service, paced, then the labels still due"
    traffic = sub.add_parser("traffic", help=about, description=about, formatter_class=DefaultsHelpFormatter,
                             epilog=TRAFFIC_EPILOG)  # fmt: skip
    traffic.add_argument("--url", default="http://127.0.0.1:8000", help="service base URL")
    traffic.add_argument("--rate", type=float, default=20.0, help="requests per second")
    traffic.add_argument("--duration", type=float, default=30.0, help="seconds to run")
    traffic.add_argument("--scenario", choices=SCENARIOS, default="none", help="drift to plant")
    traffic.add_argument("--feedback-delay", type=float, default=None,
                         help="post each true label this many seconds after its prediction "
                         "(default: no labels)")  # fmt: skip
    traffic.add_argument("--seed", type=int, default=None,
                         help="data seed (default: a fresh one each run, printed, so that two phases "
                         "never resend the same rows)")  # fmt: skip
    traffic.add_argument("--max-failed-share", type=float, default=DEFAULT_MAX_FAILED_SHARE,
                         help="exit 1 when more than this share of the requests fail")  # fmt: skip
    traffic.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        from driftwatch_demo.training import train

        result = train(args.out, seed=args.seed)
        summary = {"model_dir": str(result.model_dir), "version": result.card["version"],
                   "holdout": result.card["metrics"]["holdout"]}  # fmt: skip
        print(json.dumps(summary))
        return EXIT_OK
    from driftwatch_demo.traffic import TrafficPlan, failure_message, run_traffic

    plan = TrafficPlan(url=args.url, rate=args.rate, duration=args.duration, scenario=args.scenario,
                       feedback_delay=args.feedback_delay, seed=args.seed)  # fmt: skip
    report = run_traffic(plan, progress=None if args.quiet else sys.stderr)
    print(json.dumps(report.as_dict()))
    failure = failure_message(report, args.max_failed_share)
    if failure is not None:
        print(failure, file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
