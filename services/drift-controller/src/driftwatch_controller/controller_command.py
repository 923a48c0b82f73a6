"""`driftwatch controller`: run the DriftCheck operator (kopf) with settings from DRIFTWATCH_* variables."""

from __future__ import annotations

import argparse
import logging
import sys


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
    register(registry, ControllerContext(settings=settings))
    namespaces = settings.namespaces
    kopf.run(
        registry=registry,
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=not settings.peering,
        peering_name=settings.peering or None,
        liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None,
    )
    return 0
