"""`driftwatch controller`: run the DriftCheck operator (kopf) with settings from DRIFTWATCH_* variables."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import socket
import sys
import time
from typing import Any, cast


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "controller",
        help="run the DriftCheck operator",
        description="Watch DriftChecks, own one CronJob each, mirror their status as metrics, "
        "gate retraining. Configured by DRIFTWATCH_* environment variables (see docs/driftcheck.md).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_environment_help()
        + "\n\nexit codes:\n  0  the operator stopped (SIGTERM)\n  2  a DRIFTWATCH_* variable is invalid",
    )
    parser.add_argument(
        "--kubeconfig", default=None, help="kubeconfig file (default: in-cluster, else KUBECONFIG)"
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging (default: off)")
    parser.set_defaults(func=run)


def _environment_help() -> str:
    """One line per DRIFTWATCH_* variable with its default, read from the settings model itself."""
    from driftwatch_controller.controller.settings import ControllerSettings

    lines = ["environment (default in brackets):"]
    for name, field in ControllerSettings.model_fields.items():
        default = "" if field.default is None else field.default
        lines.append(f"  DRIFTWATCH_{name.upper():<26} [{default}]")
    return "\n".join(lines)


def oldest_first_priority(started_ns: int | None = None) -> int:
    """kopf peering priority of a replica started at `started_ns`: the earlier, the higher.

    kopf pauses every replica that sees a live peer of higher priority, and pauses *all* of them when
    two share one, so each replica needs its own. The start time in microseconds, negated, gives the
    oldest replica the lead: a replica restarted after a crash comes back as the standby instead of
    taking the lead back (no second hand-over), and a rolling update's new pods wait until the old ones
    are gone. Microseconds since 1970 stay below 2**53, exact in JSON; kopf's `--dev` priority (666)
    still outranks every replica, as kopf intends for a developer's operator.
    """
    return -((time.time_ns() if started_ns is None else started_ns) // 1000)


def peer_identity() -> str:
    """This replica's name in the peering object: POD_ID (the chart sets the pod name), as kopf reads it,
    else user@host/start time. A container restarted in place keeps its pod's identity: its entry, with
    the new (lower) priority, replaces the dead one's at once."""
    started = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    return os.environ.get("POD_ID") or f"{getpass.getuser()}@{socket.gethostname()}/{started}"


def run(args: argparse.Namespace) -> int:
    # Imported here, not at module level: `driftwatch check` builds the same parser in every check
    # pod, and importing kopf and the Kubernetes client there cost ~4 s of start time for nothing.
    import kopf
    from pydantic import ValidationError

    from driftwatch_controller.controller.handlers import ControllerContext, register
    from driftwatch_controller.controller.settings import load_settings

    overrides = {"kubeconfig": args.kubeconfig} if args.kubeconfig else {}
    try:
        settings = load_settings(**overrides)
    except ValidationError as exc:
        for error in exc.errors():
            variable = "DRIFTWATCH_" + "_".join(str(part) for part in error["loc"][:1]).upper()
            print(f"driftwatch controller: {variable}: {error['msg']}", file=sys.stderr)
        return 2
    kopf.configure(
        debug=bool(args.verbose),
        verbose=bool(args.verbose),
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    registry = kopf.OperatorRegistry()
    peer = (peer_identity(), oldest_first_priority()) if settings.peering else None
    register(registry, ControllerContext(settings=settings, peer=peer))
    namespaces = settings.namespaces
    kopf.run(
        registry=registry,
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=not settings.peering,
        peering_name=settings.peering or None,
        identity=cast(Any, peer[0]) if peer else None,
        priority=peer[1] if peer else None,
        liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None,
    )
    return 0
