"""Check-pod mode of `driftwatch check --driftcheck NS/NAME`: read the DriftCheck, run it, patch /status.

Exit codes: 0 when a verdict was written (drift is not a failure); 2 when the spec or the data was
unusable and 4 on an unexpected failure (a bug), both after writing `verdict: Error` with why; 3 when
the DriftCheck could not be read or its status could not be written. The verdict Event is posted by
the controller when it sees the new `status.runId`, so check pods need no right on Events.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import traceback
from collections.abc import Mapping
from typing import Any

from driftwatch_controller.api import status as dc_status
from driftwatch_controller.api.contracts import EXIT_INTERNAL, EXIT_NO_API, EXIT_OK, EXIT_UNUSABLE
from driftwatch_controller.api.times import parse_iso

log = logging.getLogger("driftwatch.checkpod")


def _now(text: str | None) -> dt.datetime:
    return parse_iso(text) if text else dt.datetime.now(dt.UTC)


def _say(message: str) -> None:
    print(f"driftwatch check: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run the DriftCheck `args.driftcheck` (NS/NAME) and write its status."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    namespace, _, name = str(args.driftcheck).partition("/")
    if not namespace or not name or "/" in name:
        _say(f"--driftcheck wants NAMESPACE/NAME, got {args.driftcheck!r}")
        return EXIT_UNUSABLE

    from driftwatch_controller.controller import kube

    try:
        client = kube.Kube(kube.new_api_client(), user_agent="driftwatch-check")
        obj = client.get_driftcheck(namespace, name)
    except Exception as exc:  # no API: nothing can be written, say why in one line
        _say(f"cannot read DriftCheck {namespace}/{name}: {_one_line(exc)}")
        return EXIT_NO_API

    previous = dict(obj.get("status") or {})
    generation = (obj.get("metadata") or {}).get("generation")
    try:
        now = _now(getattr(args, "now", None))
    except ValueError:
        _say(f"--now {args.now!r} is not an ISO 8601 time")
        return EXIT_UNUSABLE
    status, code = _run_engine(obj, previous, now, args, name)

    try:
        fresh = client.get_driftcheck(namespace, name)  # the controller may have moved Ready meanwhile
        status = dc_status.finalize_status(status, fresh.get("status"), generation)
        client.patch_driftcheck_status(namespace, name, status)
    except Exception as exc:
        _say(f"cannot write the status of DriftCheck {namespace}/{name}: {_one_line(exc)}")
        return EXIT_NO_API
    summary = {k: status.get(k) for k in ("runId", "verdict", "recommendation", "driftShare", "reason")}
    print(json.dumps({"driftcheck": f"{namespace}/{name}", **summary}, sort_keys=True))
    return code


def _run_engine(
    obj: Mapping[str, Any], previous: Mapping[str, Any], now: dt.datetime, args: argparse.Namespace, name: str
) -> tuple[dict[str, Any], int]:
    from driftwatch_controller.api.spec import DriftCheckSpec, SpecError
    from driftwatch_controller.engine import check

    report_dir = getattr(args, "report_dir", None) or os.environ.get("DRIFTWATCH_REPORT_DIR") or None
    try:
        spec = DriftCheckSpec.from_manifest(dict(obj), cluster=True)
        outcome = check.run_check(
            spec,
            previous_status=previous,
            now=now,
            report_dir=report_dir,
            force_report=bool(getattr(args, "report", None)),
            run_name=name,
            seed=int(getattr(args, "seed", 0) or 0),
        )
        return dict(outcome.status), EXIT_OK
    except (SpecError, check.UnusableInput) as exc:
        _say(f"unusable: {_one_line(exc)}")
        return dc_status.error_status(previous, now, _one_line(exc)), EXIT_UNUSABLE
    except Exception as exc:  # still a readable status, then a non-zero exit (the Job shows failed)
        traceback.print_exc()
        message = f"{type(exc).__name__}: {_one_line(exc)}"
        return dc_status.error_status(previous, now, message), EXIT_INTERNAL


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:1000]
