"""Check-pod mode of `driftwatch check --driftcheck NS/NAME`: read the DriftCheck, run it, patch /status.

Exit codes: 0 when a verdict was written (drift is not a failure); 2 when the spec or the data was
unusable and 1 on an unexpected failure, both after writing `verdict: Error` with why; 3 when the
DriftCheck could not be read or its status could not be written. The verdict Event is posted by
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

from driftwatch_controller import contracts
from driftwatch_controller.conditions import merge_conditions

log = logging.getLogger("driftwatch.checkpod")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNUSABLE = 2  # the owned Job fails at once on it, no retry (builders.EXIT_UNUSABLE)
EXIT_NO_API = 3
CHECK_CONDITIONS = ("Drifted", "RetrainRecommended")


def finalize_status(
    status: Mapping[str, Any], current: Mapping[str, Any] | None, generation: int | None
) -> dict[str, Any]:
    """The status to patch: the whole conditions list (the controller's Ready kept as it is now),
    observedGeneration on the check's conditions and at the top, history bounded."""
    result = dict(status)
    ours = []
    for condition in status.get("conditions") or []:
        if condition.get("type") in CHECK_CONDITIONS:
            condition = dict(condition)
            if generation is not None:
                condition["observedGeneration"] = int(generation)
            ours.append(condition)
    theirs = [c for c in (current or {}).get("conditions") or [] if c.get("type") not in CHECK_CONDITIONS]
    result["conditions"] = merge_conditions(theirs, ours)
    if generation is not None:
        result["observedGeneration"] = int(generation)
    result["history"] = list(status.get("history") or [])[: contracts.HISTORY_LIMIT]
    return result


def _now(text: str | None) -> dt.datetime:
    if not text:
        return dt.datetime.now(dt.UTC)
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _say(message: str) -> None:
    print(f"driftwatch check: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run the DriftCheck `args.driftcheck` (NS/NAME) and write its status."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    namespace, _, name = str(args.driftcheck).partition("/")
    if not namespace or not name or "/" in name:
        _say(f"--driftcheck wants NAMESPACE/NAME, got {args.driftcheck!r}")
        return EXIT_UNUSABLE

    from driftwatch_controller import kube

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
        status = finalize_status(status, fresh.get("status"), generation)
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
    from driftwatch_controller import engine
    from driftwatch_controller.spec import DriftCheckSpec, SpecError

    report_dir = getattr(args, "report_dir", None) or os.environ.get("DRIFTWATCH_REPORT_DIR") or None
    try:
        spec = DriftCheckSpec.from_manifest(dict(obj))
        outcome = engine.run_check(
            spec,
            previous_status=previous,
            now=now,
            report_dir=report_dir,
            force_report=bool(getattr(args, "report", None)),
            run_name=name,
            seed=int(getattr(args, "seed", 0) or 0),
        )
        return dict(outcome.status), EXIT_OK
    except (SpecError, engine.UnusableInput) as exc:
        _say(f"unusable: {_one_line(exc)}")
        return engine.error_status(previous, now, _one_line(exc)), EXIT_UNUSABLE
    except Exception as exc:  # still a readable status, then a non-zero exit (the Job shows failed)
        traceback.print_exc()
        message = f"{type(exc).__name__}: {_one_line(exc)}"
        return engine.error_status(previous, now, message), EXIT_FAILED


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:1000]
