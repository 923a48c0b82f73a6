"""`driftwatch-inference`: package a model directory from your own model, fetch one from a URI, or
serve one over HTTP.

The demo's model, data and traffic come from `driftwatch-demo` (package driftwatch_demo).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from driftwatch_inference.model_card import TASKS, UNSEEN_POLICIES
from driftwatch_inference.settings import ENV_PREFIX, ModelSourceSettings, Settings

# (flag, settings field, what it is, argparse type); booleans get a --no-<flag> too.
_SERVE_FLAGS: tuple[tuple[str, str, str, Any], ...] = (
    ("host", "host", "bind address", str),
    ("port", "port", "port", int),
    ("model-dir", "model_dir", "model directory (model, card and reference, as `driftwatch-demo train` "
     "writes it); with --model-uri, where the copy goes", Path),
    ("model-uri", "model_uri", "copy the model directory from this URI (file://, s3://, http(s)://) into "
     "--model-dir before it loads", str),
    ("capture-uri", "capture_uri", "fsspec URI of the capture sink", str),
    ("max-batch-size", "max_batch_size", "largest {'instances': [...]} accepted", int),
    ("capture-queue-size", "capture_queue_size", "rows queued before capture drops", int),
    ("capture-flush-rows", "capture_flush_rows", "flush when this many rows wait", int),
    ("capture-flush-interval-s", "capture_flush_interval_s", "flush at least this often (seconds)", float),
    ("capture-durable", "capture_durable", "durable capture: rows fsync'd to a local spool in groups, "
     "replayed into Parquet at start (a SIGKILL loses at most the last group)", bool),
    ("capture-spool-dir", "capture_spool_dir", "local directory of the durable capture's spool (one "
     "process each)", Path),
    ("capture-group-interval-s", "capture_group_interval_s", "durable capture: fsync a group this often "
     "(seconds)", float),
    ("capture-sample-rate", "capture_sample_rate", "share of predictions captured, in (0, 1], decided by "
     "request id (a label is captured exactly when its prediction was)", float),
    ("capture-exclude", "capture_exclude", "a feature never written to the capture (repeat the flag; the "
     "variable is comma-separated)", list),
    ("capture-hash", "capture_hash", "a feature captured as the HMAC-SHA256 of its value under "
     "DRIFTWATCH_CAPTURE_HASH_KEY (repeat; comma-separated variable)", list),
    ("capture-sketches", "capture_sketches", "a mergeable summary (.sketch sidecar) beside each "
     "prediction file, for checks on sketches (docs/drift-engine.md, \"Scale\")", bool),
    ("log-level", "log_level", "DEBUG, INFO, WARNING, ERROR", str),
    ("metrics", "metrics_enabled", "Prometheus metrics at /metrics", bool),
    ("capture", "capture_enabled", "prediction capture", bool),
    ("access-log", "access_log", "uvicorn access log lines", bool),
    ("trust", "trust", "a skops type to load beyond the card's trusted_types (repeat the flag; the "
     "variable is comma-separated)", list),
)  # fmt: skip

# Settings with no flag: set from the environment only.
_ENV_ONLY = {
    "capture_host": "the <pod> part of capture file names",
    "capture_hash_key": "the key of --capture-hash (from a Secret; never logged)",
    "capture_storage_options": "fsspec storage options of --capture-uri, a JSON object (as "
    "DRIFTWATCH_MODEL_STORAGE_OPTIONS); S3 credentials come from the AWS_* variables",
    "model_storage_options": "fsspec storage options of --model-uri, a JSON object (e.g. "
    '{"client_kwargs": {"endpoint_url": "http://minio:9000"}}); S3 credentials come from the AWS_* variables',
}

EXIT_CODES = """exit codes:
  0  stopped by SIGTERM or SIGINT (the capture was flushed)
  1  the model directory could not be served (a file missing or unreadable, a card or model
     unusable, an untrusted skops type) or fetched from --model-uri, or the capture spool is not
     usable (not writable, or held by another process): one line says which file and why
  2  usage error (unknown flag, a bad value of a flag or of a DRIFTWATCH_* variable)"""

PACKAGE_EPILOG = """environment:
  SOURCE_DATE_EPOCH  the card's trained_at, in seconds since 1970 (default: the model file's
                     modification time)

exit codes:
  0  the model directory was written
  2  usage error, or an artefact refused (the message says which; nothing was written)"""


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Each flag's default after its help (unless the help already says it); epilogs kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


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
        if kind is list:
            metavar = "TYPE" if field == "trust" else "FEATURE"
            serve.add_argument(f"--{flag}", dest=field, action="append", metavar=metavar,
                               help=setting_help(field, text))  # fmt: skip
        elif kind is bool:
            serve.add_argument(f"--{flag}", dest=field, action=argparse.BooleanOptionalAction, default=None,
                               help=setting_help(field, text))  # fmt: skip
        else:
            serve.add_argument(f"--{flag}", dest=field, type=kind, help=setting_help(field, text))


FETCH_EPILOG = f"""environment:
  {ENV_PREFIX}MODEL_URI, {ENV_PREFIX}MODEL_DIR  the flags' defaults
  {ENV_PREFIX}MODEL_STORAGE_OPTIONS  fsspec storage options of the URI, a JSON object
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ...  S3 credentials and endpoint (s3fs)

exit codes:
  0  the model directory was copied and checked
  1  it could not be (unreachable, a file missing, a card that is not JSON): one line names the file
  2  usage error (unknown flag, a bad {ENV_PREFIX}MODEL_STORAGE_OPTIONS)"""


def _fetch_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    about = (
        "Copy a model directory (model.skops, model-card.json and the reference the card names) from a\n"
        "URI into a local directory, atomically, and check it. The chart's initContainer runs it."
    )
    fetch = sub.add_parser(
        "fetch-model",
        help="copy a model directory from a URI (file://, s3://, http(s)://)",
        description=about,
        formatter_class=DefaultsHelpFormatter,
        epilog=FETCH_EPILOG,
    )
    fetch.add_argument(
        "--model-uri", dest="model_uri", help=f"where the model directory is ({ENV_PREFIX}MODEL_URI)"
    )
    fetch.add_argument(
        "--model-dir",
        dest="model_dir",
        type=Path,
        help=setting_help("model_dir", "local directory to write; replaced when it exists"),
    )


def _package_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    about = "write a model directory from your fitted Pipeline (skops file) and reference data"
    package = sub.add_parser("package", help=about, description=about, formatter_class=DefaultsHelpFormatter,
                             epilog=PACKAGE_EPILOG)  # fmt: skip
    package.add_argument(
        "--model",
        type=Path,
        required=True,
        help="the fitted scikit-learn estimator or Pipeline, saved with skops.io.dump",
    )
    package.add_argument(
        "--reference",
        type=Path,
        required=True,
        help="Parquet with every feature and the target (scored into the card's reference)",
    )
    package.add_argument("--target", required=True, help="the label column of the reference")
    package.add_argument("--name", default="model", help="model name (capture prefix, metric label)")
    package.add_argument(
        "--version", default=None, help="model version (default: 1.0.0-<12 hex of the model file's sha256>)"
    )
    package.add_argument(
        "--task",
        choices=list(TASKS),
        default=None,
        help="what the model predicts (default: read off the model: a classifier's class count, else "
        "regression)",
    )
    package.add_argument(
        "--unseen",
        choices=list(UNSEEN_POLICIES),
        default="accept",
        help="a category the reference never held or a number outside the valid range: scored, counted "
        "and captured (accept), or a 422 (reject)",
    )
    package.add_argument(
        "--trust",
        action="append",
        metavar="TYPE",
        help="a skops type you reviewed, beyond skops' default set (repeat; kept in the card)",
    )
    package.add_argument("--out", type=Path, required=True, help="model directory to write")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="driftwatch-inference",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"environment: {ENV_PREFIX}* variables, see `driftwatch-inference serve --help`.\n\n"
        + EXIT_CODES
        + "\n  (package: 0 written, 2 an artefact refused; see `driftwatch-inference package --help`)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _package_parser(sub)
    _fetch_parser(sub)
    _serve_parser(sub)
    return parser


def serve_settings(args: argparse.Namespace) -> Settings:
    """DRIFTWATCH_* environment variables, overridden by the flags given on the command line."""
    overrides = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    return Settings(**overrides)


def fetch_settings(args: argparse.Namespace) -> ModelSourceSettings:
    """Only the model source's DRIFTWATCH_* variables: another service setting never stops a copy."""
    overrides = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    return ModelSourceSettings(**overrides)


def run_fetch(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from driftwatch_inference.model_source import ModelSourceError, fetch_model

    try:
        settings = fetch_settings(args)
    except ValidationError as exc:
        return _command_error("fetch-model", 2, "; ".join(_setting_problem(e) for e in exc.errors()))
    if not settings.model_uri:
        return _command_error("fetch-model", 2, f"--model-uri / {ENV_PREFIX}MODEL_URI is required")
    try:
        files = fetch_model(settings.model_uri, settings.model_dir, settings.model_storage_options)
    except ModelSourceError as exc:
        return _command_error("fetch-model", 1, f"cannot fetch the model directory: {exc}")
    print(f"fetched {', '.join(files)} from {settings.model_uri} into {settings.model_dir}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "package":
        from driftwatch_inference.package_command import run_package

        return run_package(args)
    if args.command == "fetch-model":
        return run_fetch(args)
    from pydantic import ValidationError

    from driftwatch_inference.capture_controls import CaptureControlsError
    from driftwatch_inference.capture_spool import SpoolError
    from driftwatch_inference.model_source import ModelSourceError, fetch_model
    from driftwatch_inference.scoring import UntrustedTypesError
    from driftwatch_inference.server import serve
    from driftwatch_inference.service import ModelDirectoryError

    try:
        settings = serve_settings(args)
    except ValidationError as exc:
        return _serve_error(2, "; ".join(_setting_problem(e) for e in exc.errors()))
    try:
        if settings.model_uri:
            fetch_model(settings.model_uri, settings.model_dir, settings.model_storage_options)
        return serve(settings)
    except ModelSourceError as exc:
        return _serve_error(1, f"cannot fetch the model directory: {exc}")
    except UntrustedTypesError as exc:
        return _serve_error(1, untrusted_message(exc, "serve"))
    except ModelDirectoryError as exc:
        return _serve_error(1, f"cannot serve the model directory: {exc}")
    except SpoolError as exc:
        return _serve_error(1, str(exc))
    except CaptureControlsError as exc:
        return _serve_error(2, str(exc))


def _serve_error(code: int, message: str) -> int:
    return _command_error("serve", code, message)


def _command_error(command: str, code: int, message: str) -> int:
    print(f"driftwatch-inference {command}: error: {message}", file=sys.stderr)
    return code


def _setting_problem(error: Any) -> str:
    """`--port / DRIFTWATCH_PORT: Input should be a valid integer (got 'abc')`."""
    field = str(error["loc"][0]) if error.get("loc") else "?"
    flag = next((f"--{flag} / " for flag, name, *_ in _SERVE_FLAGS if name == field), "")
    # A JSON object of storage options: the input is long and may hold a secret.
    if field in ("model_storage_options", "capture_storage_options", "capture_hash_key"):
        return f"{ENV_PREFIX}{field.upper()}: {error['msg']}"
    return f"{flag}{ENV_PREFIX}{field.upper()}: {error['msg']} (got {error.get('input')!r})"


def untrusted_message(exc: Exception, command: str) -> str:
    """Which types were refused and the flag that trusts a type once it is reviewed."""
    types = getattr(exc, "types", ())
    where = (
        "pass --trust TYPE for each"
        if command == "package"
        else (f"list it in the card (package --trust), or pass --trust TYPE / {ENV_PREFIX}TRUST")
    )
    return f"untrusted skops type(s) in the model file: {', '.join(types)}; review them, then {where}"
