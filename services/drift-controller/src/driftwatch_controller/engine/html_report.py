"""Evidently's HTML report of a run, written locally or to an fsspec location (never fails the run)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import fsspec
import pandas as pd

from driftwatch_controller.engine import datasets
from driftwatch_controller.engine.measure import ColumnResult

log = logging.getLogger(__name__)

# Evidently's HTML report is slow and large; it is built on a seeded sample of at most this many rows.
REPORT_SAMPLE_ROWS = 50_000


def write_report(
    report_dir: str | Path,
    rid: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    results: Sequence[ColumnResult],
    seed: int,
) -> tuple[Path | None, str | None]:
    """Write Evidently's HTML report; returns the local file (if local) and the report's URI."""
    target = str(report_dir).rstrip("/")
    remote = "://" in target and not target.startswith("file://")
    directory = (
        Path(tempfile.mkdtemp(prefix="driftwatch-report-"))
        if remote
        else Path(target.removeprefix("file://"))
    )
    path = directory / f"{rid}.html"
    numerical = [r.name for r in results if r.type == "numerical"]
    categorical = [r.name for r in results if r.type == "categorical"]
    columns = numerical + categorical
    if not columns:
        return None, None

    def sample(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[columns]
        if len(frame) > REPORT_SAMPLE_ROWS:
            frame = frame.sample(REPORT_SAMPLE_ROWS, random_state=seed)
        frame = frame.copy()
        for name in numerical:
            frame[name] = datasets.as_float(frame[name])
        for name in categorical:
            frame[name] = frame[name].astype(object)
        return frame.reset_index(drop=True)

    from driftwatch_controller.engine import evidently_adapter  # lazy: importing Evidently costs seconds

    try:
        evidently_adapter.write_html_report(
            sample(reference),
            sample(current),
            numerical,
            categorical,
            {r.name: r.method for r in results},
            {r.name: r.threshold for r in results},
            path,
        )
        if remote:
            uri = f"{target}/{rid}.html"
            fs, remote_path = fsspec.core.url_to_fs(uri)
            fs.put_file(str(path), remote_path)
            shutil.rmtree(directory, ignore_errors=True)
            return None, uri
    except Exception as exc:  # the verdict must survive a report failure; say why in the log
        log.warning("HTML report not written to %s: %s", target, exc)
        return None, None
    return path, path.resolve().as_uri()
