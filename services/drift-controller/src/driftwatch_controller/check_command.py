"""`driftwatch check`: run a DriftCheck (or an ad-hoc comparison) locally; print the status it would write."""

from __future__ import annotations

import argparse
import importlib
import logging
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

EXIT_UNUSABLE = 2
EXIT_FAIL_ON = 1


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `check` on the `driftwatch` sub-command parser."""
    parser = sub.add_parser(
        "check",
        help="run a drift check and print the DriftCheck status it produces",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="environment:\n"
        "  DRIFTWATCH_REPORT_DIR  check-pod mode (--driftcheck): where the HTML report goes when no "
        "--report-dir is given\n"
        "  KUBECONFIG             check-pod mode outside a cluster: the kubeconfig file (default "
        "~/.kube/config)\n"
        "\nexit codes:\n"
        "  0  a verdict was produced (drift is not a failure)\n"
        "  1  --fail-on: the recommendation reached it; check-pod mode: an unexpected failure\n"
        "  2  unusable input (bad flags, manifest, spec or data)\n"
        "  3  check-pod mode: the DriftCheck could not be read or its status not written",
    )
    parser.add_argument(
        "-f",
        "--file",
        help="DriftCheck manifest (YAML) to run locally (default: none; then --reference and --current)",
    )
    parser.add_argument(
        "--driftcheck", metavar="NS/NAME", help="check-pod mode: read and patch this DriftCheck"
    )
    parser.add_argument("--reference", metavar="URI", help="reference dataset URI (overrides the manifest)")
    parser.add_argument(
        "--current", metavar="URI", help="current data URI: a capture tree or one Parquet/CSV file"
    )
    parser.add_argument(
        "--now", metavar="TIME", help="end of the current window, ISO 8601 (default: now, UTC)"
    )
    parser.add_argument(
        "--window",
        metavar="DURATION",
        help="length of the current window, e.g. 90s or 1h (overrides the manifest; default 1h)",
    )
    parser.add_argument(
        "--min-rows", type=int, metavar="N", help="minRows (overrides the manifest; default 200)"
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("table", "json", "yaml"),
        default="table",
        help="output format (default table)",
    )
    parser.add_argument("--report", metavar="PATH", help="always write Evidently's HTML report to PATH")
    parser.add_argument(
        "--report-dir",
        metavar="DIR",
        help="write the HTML report here when drift or a quality issue is found",
    )
    parser.add_argument(
        "--fail-on",
        choices=("investigate", "retrain"),
        help="exit 1 when the recommendation is at least this (for pipelines; default: never)",
    )
    parser.add_argument(
        "--numerical",
        nargs="+",
        default=[],
        metavar="COL",
        help="numerical columns (comma or space separated)",
    )
    parser.add_argument("--categorical", nargs="+", default=[], metavar="COL", help="categorical columns")
    parser.add_argument("--prediction", metavar="COL", help="predicted probability column")
    parser.add_argument("--target", metavar="COL", help="label column")
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed of the calibration bootstrap (default 0)"
    )
    parser.set_defaults(func=run)
    return parser


def _split(values: list[str]) -> list[str]:
    return [v for item in values for v in item.split(",") if v]


class _UnusableError(Exception):
    pass


def _spec_source(args: argparse.Namespace) -> dict[str, Any]:
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as handle:
                obj = yaml.safe_load(handle)
        except OSError as exc:
            raise _UnusableError(f"cannot read {args.file}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise _UnusableError(f"{args.file} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(obj, dict):
            raise _UnusableError(f"{args.file} does not hold a DriftCheck")
        return obj
    if not (args.reference and args.current):
        raise _UnusableError("give -f DRIFTCHECK.yaml, or both --reference and --current")
    columns: dict[str, Any] = {"numerical": _split(args.numerical), "categorical": _split(args.categorical)}
    if args.prediction:
        columns["prediction"] = args.prediction
    if args.target:
        columns["target"] = args.target
    current: dict[str, Any] = {"uri": args.current}
    if args.window:
        current["window"] = args.window
    if args.min_rows is not None:
        current["minRows"] = args.min_rows
    return {"reference": {"uri": args.reference}, "current": current, "columns": columns}


def _parse_now(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _UnusableError(f"--now {text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _fails(recommendation: str, fail_on: str | None) -> bool:
    if fail_on == "retrain":
        return recommendation == "Retrain"
    if fail_on == "investigate":
        return recommendation in ("Investigate", "Retrain")
    return False


def run(args: argparse.Namespace) -> int:
    """Entry point of `driftwatch check`: 0 when a verdict was produced, 2 on unusable input."""
    if args.driftcheck:
        # Lazy: the check-pod mode (Kubernetes client) belongs to the operator and is heavy to import.
        checkpod = importlib.import_module("driftwatch_controller.checkpod")
        return int(checkpod.run(args))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
    from driftwatch_controller import engine, report
    from driftwatch_controller.spec import DriftCheckSpec, SpecError

    try:
        obj = _spec_source(args)
        spec = DriftCheckSpec.from_manifest(obj)
        if args.file:
            spec = _with_flags(spec, args)
        now = _parse_now(args.now)
        report_dir: Path | str | None = args.report_dir
        if args.report:
            report_dir = Path(args.report).resolve().parent / ".driftwatch-report"
        outcome = engine.run_check(
            spec,
            now=now,
            reference_uri=args.reference,
            current_uri=args.current,
            report_dir=report_dir,
            force_report=bool(args.report),
            run_name=Path(args.file).stem if args.file else "check",
            seed=args.seed,
        )
    except (_UnusableError, SpecError, engine.UnusableInput) as exc:
        print(f"driftwatch check: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    status = outcome.status
    if args.report and outcome.report_path is None:
        # Asked for, but nothing was measured (too few rows) or Evidently failed (logged above).
        print(f"driftwatch check: no HTML report written to {args.report}", file=sys.stderr)
    if args.report and outcome.report_path is not None:
        target = Path(args.report).resolve()
        shutil.move(str(outcome.report_path), target)
        shutil.rmtree(outcome.report_path.parent, ignore_errors=True)
        status["report"] = {"uri": target.as_uri()}
    render = {"table": report.to_table, "json": report.to_json, "yaml": report.to_yaml}[args.output]
    sys.stdout.write(render(status))
    return EXIT_FAIL_ON if _fails(status["recommendation"], args.fail_on) else 0


def _with_flags(spec: Any, args: argparse.Namespace) -> Any:
    """Flags win over the manifest (columns, window, minRows), as --reference and --current do.

    The result is validated again, as the manifest was: a flag is no way around a field's rules.
    """
    from driftwatch_controller.spec import DriftCheckSpec, SpecError

    body = spec.to_dict()
    current, columns = body["current"], body.setdefault("columns", {})
    flags = {"window": ("current", "window", args.window), "min-rows": ("current", "minRows", args.min_rows)}
    for name, values in (("numerical", args.numerical), ("categorical", args.categorical)):
        flags[name] = ("columns", name, _split(values) or None)
    for name in ("prediction", "target"):
        flags[name] = ("columns", name, getattr(args, name))
    parts = {"current": current, "columns": columns}
    given = {flag: (section, field) for flag, (section, field, value) in flags.items() if value is not None}
    for flag, (section, field) in given.items():
        parts[section][field] = flags[flag][2]
    try:
        return DriftCheckSpec.from_manifest(body)
    except SpecError as exc:
        named = ", ".join(f"--{flag}" for flag, (section, field) in given.items() if field in str(exc))
        raise SpecError(f"{named}: {exc}" if named else str(exc)) from None
