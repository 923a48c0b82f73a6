"""`driftwatch prefect run|serve`: a DriftCheck as a Prefect flow run now, or served on its own schedule.

Both talk to the Prefect API of PREFECT_API_URL (or the active Prefect profile). Prefect is imported
only when a sub-command runs: the parser is registered in every install, the flow needs the extra
`driftwatch-controller[prefect]`.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Any

from driftwatch_controller.api.contracts import EXIT_FAIL_ON, EXIT_INTERNAL, EXIT_OK, EXIT_UNUSABLE


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `prefect` (with `run` and `serve`) on the `driftwatch` sub-command parser."""
    parser = sub.add_parser(
        "prefect",
        help="run a DriftCheck as a Prefect flow, or serve it on its schedule (docs/prefect.md)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="environment:\n"
        "  PREFECT_API_URL  the Prefect server's API, e.g. http://127.0.0.1:4200/api (default: profile)\n"
        "  DRIFTWATCH_CALIBRATION_*  the engine's settings, as for `driftwatch check`\n"
        "\nexit codes:\n"
        "  run    0 a verdict, 1 --fail-on reached, 2 unusable manifest or data, 4 internal error\n"
        "  serve  0 when stopped, 2 unusable manifest",
    )
    commands = parser.add_subparsers(dest="prefect_command", required=True)
    run = commands.add_parser(
        "run",
        help="one flow run now; prints the status `driftwatch check` prints",
        epilog="exit codes: 0 a verdict, 1 --fail-on reached, 2 unusable manifest or data, 4 internal error",
    )
    run.add_argument("-f", "--file", required=True, help="DriftCheck manifest (YAML)")
    run.add_argument("--now", metavar="TIME", help="end of the current window, ISO 8601 (default: now)")
    run.add_argument("--report-dir", metavar="DIR", help="HTML report directory (drift or a quality issue)")
    run.add_argument(
        "--fail-on", choices=("investigate", "retrain"), help="fail the run at this recommendation"
    )
    run.add_argument("--retrain-deployment", metavar="FLOW/DEPLOYMENT", help="instead of the annotation's")
    run.add_argument("--no-carry-status", action="store_true", help="do not read or write the carried status")
    run.add_argument("--approval-timeout", type=int, default=3600, metavar="S", help="Manual mode (3600)")
    run.add_argument("--approval-poll", type=int, default=10, metavar="S", help="Manual mode (default 10)")
    run.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    run.set_defaults(func=_run)
    serve = commands.add_parser(
        "serve",
        help="serve the flow as a deployment on the DriftCheck's schedule and timeZone (blocks)",
    )
    serve.add_argument("-f", "--file", required=True, help="DriftCheck manifest (YAML)")
    serve.add_argument("--name", help="deployment name (default: metadata.name)")
    serve.add_argument("--report-dir", metavar="DIR", help="the runs' HTML report directory")
    serve.add_argument("--fail-on", choices=("investigate", "retrain"))
    serve.set_defaults(func=_serve)
    return parser


def _unusable(exc: Exception) -> int:
    print(f"driftwatch prefect: {exc}", file=sys.stderr)
    return EXIT_UNUSABLE


def _run(args: argparse.Namespace) -> int:
    from driftwatch_controller.api.spec import SpecError
    from driftwatch_controller.engine import check, report
    from driftwatch_controller.prefect_flow import decisions
    from driftwatch_controller.prefect_flow.flow import drift_check_flow

    state = drift_check_flow(
        str(Path(args.file).resolve()),
        now=args.now,
        report_dir=args.report_dir,
        fail_on=args.fail_on,
        retrain_deployment=args.retrain_deployment,
        carry_status=not args.no_carry_status,
        approval_timeout_seconds=args.approval_timeout,
        approval_poll_seconds=args.approval_poll,
        return_state=True,
    )
    try:
        status = state.result(raise_on_failure=False)
    except Exception as exc:  # the result could not be read back
        return _internal(exc)
    if isinstance(status, SpecError | check.UnusableInput):
        return _unusable(status)
    if isinstance(status, BaseException):
        return _internal(status)
    render = {"table": report.to_table, "json": report.to_json, "yaml": report.to_yaml}[args.output]
    sys.stdout.write(render(status))
    return EXIT_FAIL_ON if decisions.fails(status["recommendation"], args.fail_on) else EXIT_OK


def _internal(exc: BaseException) -> int:
    traceback.print_exception(exc)
    print(f"driftwatch prefect: internal error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
    return EXIT_INTERNAL


def _serve(args: argparse.Namespace) -> int:
    from driftwatch_controller.api.spec import SpecError
    from driftwatch_controller.prefect_flow.manifest import parse_manifest
    from driftwatch_controller.prefect_flow.schedule import serve_check

    path = str(Path(args.file).resolve())
    try:
        manifest = parse_manifest(path)
    except SpecError as exc:
        return _unusable(exc)
    serve_check(manifest, path, name=args.name, report_dir=args.report_dir, fail_on=args.fail_on)
    return EXIT_OK
