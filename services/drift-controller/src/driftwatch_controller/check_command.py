"""`driftwatch check`: run a DriftCheck (or an ad-hoc comparison) locally; print the status it would write."""

from __future__ import annotations

import argparse
import importlib
import logging
import shutil
import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from driftwatch_controller.api.contracts import EXIT_FAIL_ON, EXIT_INTERNAL, EXIT_OK, EXIT_UNUSABLE

# numpy takes any non-negative seed; pandas' and Evidently's samplers take 32 bits.
MAX_SEED = 2**32 - 1


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
        "\nexit codes (one meaning each):\n"
        "  0  a verdict was produced, whatever it is (drift is not a failure)\n"
        "  1  only with --fail-on: the recommendation reached it\n"
        "  2  unusable input, one line on stderr: bad flags, manifest (not YAML, not UTF-8, a bad\n"
        "     field), spec or data (unreadable, too few reference rows, no column in common)\n"
        "  3  check-pod mode: the DriftCheck could not be read or its status not written\n"
        "  4  internal error: an unexpected exception (a bug; the traceback is on stderr)",
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
        "--data",
        choices=("rows", "sketches", "auto"),
        help="what to read of a capture window: rows, the capture's sketches, or auto (overrides "
        "spec.drift.data; default rows; docs/drift-engine.md, Scale)",
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
    parser.add_argument(
        "--prediction",
        metavar="COL",
        help="numerical output column (a binary model's probability, a regression's prediction)",
    )
    parser.add_argument("--prediction-class", metavar="COL", help="predicted class column")
    parser.add_argument(
        "--class-probabilities",
        nargs="+",
        default=[],
        metavar="COL",
        help="a multiclass model's probability_<class> columns (comma or space separated)",
    )
    parser.add_argument("--target", metavar="COL", help="label column")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help=f"seed of the calibration bootstrap, 0 to {MAX_SEED} (default 0)",
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
        except UnicodeDecodeError as exc:
            where = f"byte {exc.start}"
            raise _UnusableError(f"{args.file} is not UTF-8 text ({exc.reason} at {where})") from None
        except yaml.YAMLError as exc:
            lines = str(exc).splitlines() or [type(exc).__name__]
            raise _UnusableError(f"{args.file} is not valid YAML: {lines[0]}") from None
        if not isinstance(obj, dict):
            raise _UnusableError(f"{args.file} does not hold a DriftCheck")
        return obj
    if not (args.reference and args.current):
        raise _UnusableError("give -f DRIFTCHECK.yaml, or both --reference and --current")
    flags = _flag_changes(args)
    columns = {"numerical": [], "categorical": [], **flags.get("columns", {})}
    current = {"uri": args.current, **flags.get("current", {})}
    source = {"reference": {"uri": args.reference}, "current": current, "columns": columns}
    return source | ({"drift": flags["drift"]} if "drift" in flags else {})


def _parse_now(text: str | None) -> datetime | None:
    from driftwatch_controller.api.times import parse_iso

    try:
        return parse_iso(text) if text else None
    except ValueError:
        raise _UnusableError(f"--now {text!r} is not an ISO 8601 time") from None


def _fails(recommendation: str, fail_on: str | None) -> bool:
    if fail_on == "retrain":
        return recommendation == "Retrain"
    if fail_on == "investigate":
        return recommendation in ("Investigate", "Retrain")
    return False


def run(args: argparse.Namespace) -> int:
    """Entry point of `driftwatch check`: the exit codes of its --help, an unexpected exception 4."""
    if args.driftcheck:
        # Lazy: the check-pod mode (Kubernetes client) belongs to the operator and is heavy to import.
        checkpod = importlib.import_module("driftwatch_controller.checkpod")
        return int(checkpod.run(args))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
    try:
        return _run_local(args)
    except Exception as exc:  # a bug: never an exit code a verdict or --fail-on could have given
        traceback.print_exc()
        print(
            f"driftwatch check: internal error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr
        )
        return EXIT_INTERNAL


def _run_local(args: argparse.Namespace) -> int:
    from driftwatch_controller.api.spec import DriftCheckSpec, SpecError
    from driftwatch_controller.engine import check, report

    try:
        if not 0 <= args.seed <= MAX_SEED:
            raise _UnusableError(f"--seed {args.seed}: must be between 0 and {MAX_SEED}")
        obj = _spec_source(args)
        spec = DriftCheckSpec.from_manifest(obj)
        if args.file:
            spec = _with_flags(spec, args)
        now = _parse_now(args.now)
        report_dir: Path | str | None = args.report_dir
        if args.report:
            report_dir = Path(args.report).resolve().parent / ".driftwatch-report"
        outcome = check.run_check(
            spec,
            now=now,
            reference_uri=args.reference,
            current_uri=args.current,
            report_dir=report_dir,
            force_report=bool(args.report),
            run_name=Path(args.file).stem if args.file else "check",
            seed=args.seed,
        )
    except (_UnusableError, SpecError, check.UnusableInput) as exc:
        print(f"driftwatch check: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    status = outcome.status
    if args.report and outcome.report_path is None:
        # Asked for, but nothing was measured (too few rows) or Evidently failed (logged above).
        print(f"driftwatch check: no HTML report written to {args.report}", file=sys.stderr)
    if args.report and outcome.report_path is not None:
        target = Path(args.report).resolve()
        try:
            shutil.move(str(outcome.report_path), target)
        except OSError as exc:
            print(f"driftwatch check: cannot write {args.report}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_UNUSABLE
        finally:
            shutil.rmtree(outcome.report_path.parent, ignore_errors=True)
        status["report"] = {"uri": target.as_uri()}
    render = {"table": report.to_table, "json": report.to_json, "yaml": report.to_yaml}[args.output]
    sys.stdout.write(render(status))
    return EXIT_FAIL_ON if _fails(status["recommendation"], args.fail_on) else EXIT_OK


# Flag -> (section, camelCase field) of the spec it overrides.
_FLAG_FIELDS = {
    "window": ("current", "window"),
    "min_rows": ("current", "minRows"),
    "numerical": ("columns", "numerical"),
    "categorical": ("columns", "categorical"),
    "prediction": ("columns", "prediction"),
    "prediction_class": ("columns", "predictionClass"),
    "class_probabilities": ("columns", "classProbabilities"),
    "target": ("columns", "target"),
    "data": ("drift", "data"),
}


def _flag_changes(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The spec fields the flags given set, camelCase, by section."""
    changes: dict[str, dict[str, Any]] = {}
    for flag, (section, name) in _FLAG_FIELDS.items():
        value = getattr(args, flag)
        if flag in ("numerical", "categorical", "class_probabilities"):
            value = _split(value) or None
        if value is not None:
            changes.setdefault(section, {})[name] = value
    return changes


def _with_flags(spec: Any, args: argparse.Namespace) -> Any:
    """Flags win over the manifest (columns, window, minRows), as --reference and --current do.

    The result is validated again, as the manifest was: a flag is no way around a field's rules.
    """
    from driftwatch_controller.api.spec import SpecError

    changes = _flag_changes(args)
    try:
        return spec.with_changes(changes)
    except SpecError as exc:
        given = [f"--{flag.replace('_', '-')}" for flag, (s, name) in _FLAG_FIELDS.items()
                 if name in changes.get(s, {}) and f".{name}" in str(exc)]  # fmt: skip
        raise SpecError([f"{', '.join(given)}: {exc}"] if given else exc.problems) from None
