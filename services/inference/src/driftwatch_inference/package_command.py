"""`driftwatch-inference package`: read the user's files, package them, report a refusal in one line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

import pandas as pd

from driftwatch_inference.cli import untrusted_message
from driftwatch_inference.packaging import PackagingError, package_model, trained_at
from driftwatch_inference.scoring import UntrustedTypesError

EXIT_OK = 0
EXIT_REFUSED = 2  # the same code as a usage error: the command was given something it cannot use


def run_package(args: argparse.Namespace) -> int:
    """Write the model directory and print its card; exit 2 with one line on stderr if refused."""
    try:
        card = _package(args)
    except UntrustedTypesError as exc:
        return _refuse(untrusted_message(exc, "package"))
    except PackagingError as exc:
        return _refuse(str(exc))
    summary = {key: card[key] for key in ("name", "version", "task", "classes", "unseen", "trusted_types")}
    print(json.dumps({"model_dir": str(args.out), **summary}))
    return EXIT_OK


def _package(args: argparse.Namespace) -> dict[str, object]:
    try:
        blob = args.model.read_bytes()
        modified = datetime.fromtimestamp(args.model.stat().st_mtime, UTC)
    except OSError as exc:
        raise PackagingError(f"cannot read the model file {args.model}: {exc.strerror}") from None
    try:
        reference = pd.read_parquet(args.reference)
    except Exception as exc:  # pyarrow raises several types for a missing or non-Parquet file
        raise PackagingError(f"cannot read the reference {args.reference} as Parquet: {exc}") from None
    # SOURCE_DATE_EPOCH wins over the file's time, as in `driftwatch-demo train` (reproducible builds).
    moment = None if "SOURCE_DATE_EPOCH" in os.environ else modified
    return package_model(
        blob,
        reference,
        args.target,
        args.out,
        name=args.name,
        version=args.version,
        trained=trained_at(moment),
        trust=args.trust or (),
        task=args.task,
        unseen=args.unseen,
    )


def _refuse(message: str) -> int:
    print(f"driftwatch-inference package: error: {message}", file=sys.stderr)
    return EXIT_REFUSED
