"""Reading reference and current data through fsspec: one Parquet/CSV file, or a window of a capture tree.

A capture tree (docs/architecture.md) is read only from the `date=`/`hour=` partitions the window
overlaps, then filtered on `ts`, so a check never scans the whole history. Feedback labels are joined
by `request_id`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from driftwatch_capture import schema as capture

# Columns the capture writer adds around the features; never monitored as features.
CAPTURE_COLUMNS = capture.NON_FEATURE_COLUMNS
FILE_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz")
# fsspec storage options (a JSON object, e.g. an S3 endpoint) of the object-store URIs a check reads,
# beside the standard AWS_* variables; local files and HTTP take none (docs/inference.md, "S3").
STORAGE_OPTIONS_ENV = "DRIFTWATCH_STORAGE_OPTIONS"
_NO_OPTIONS_PROTOCOLS = frozenset({"file", "local", "http", "https"})


class DataError(Exception):
    """A dataset that cannot be read (the message says which and why, in one line)."""


@dataclass(frozen=True)
class Window:
    """The half-open time window `[start, end)` a capture read covers."""

    start: datetime
    end: datetime

    def hours(self) -> list[datetime]:
        """Every UTC hour that overlaps the window (the partitions to read)."""
        hour = self.start.replace(minute=0, second=0, microsecond=0)
        out = []
        while hour < self.end:
            out.append(hour)
            hour += timedelta(hours=1)
        return out


def storage_options(uri: str) -> dict[str, object]:
    """The DRIFTWATCH_STORAGE_OPTIONS object for an object-store URI; {} if unset, or for local or HTTP."""
    text = os.environ.get(STORAGE_OPTIONS_ENV, "")
    if not text.strip() or fsspec.utils.get_protocol(uri) in _NO_OPTIONS_PROTOCOLS:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{STORAGE_OPTIONS_ENV} is not JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(value, dict):
        raise DataError(f"{STORAGE_OPTIONS_ENV} must be a JSON object of fsspec storage options")
    return value


def _fs(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    try:
        fs, path = fsspec.core.url_to_fs(uri, **storage_options(uri))
    except (ImportError, ValueError, TypeError) as exc:
        raise DataError(f"cannot open {uri}: {exc}") from None
    return fs, path


def is_file_uri(uri: str) -> bool:
    """True when the URI names one Parquet/CSV file rather than a capture tree."""
    return uri.lower().rstrip("/").endswith(FILE_SUFFIXES)


def read_table(uri: str) -> pd.DataFrame:
    """One Parquet or CSV file (by suffix), or every Parquet file under a directory, as a DataFrame."""
    fs, path = _fs(uri)
    try:
        if uri.lower().endswith((".csv", ".csv.gz")):
            with fs.open(path, "rb", compression="infer") as handle:
                return pd.read_csv(handle)
        if not is_file_uri(uri) and fs.isdir(path):
            files = sorted(p for p in fs.find(path) if p.endswith((".parquet", ".pq")))
            if not files:
                raise DataError(f"no Parquet files under {uri}")
            return _to_pandas(
                pa.concat_tables([_read_parquet(fs, f) for f in files], promote_options="permissive")
            )
        return _to_pandas(_read_parquet(fs, path))
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{uri} does not exist") from None
    except (OSError, ValueError, pa.ArrowException, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {uri}: {_first_line(exc)}") from None


def _read_parquet(fs: fsspec.AbstractFileSystem, path: str, filters: object = None) -> pa.Table:
    if "http" in fs.protocol:
        # Parquet is read from its footer backwards, which over HTTP needs range requests; many
        # servers (Python's http.server among them) have none. The file is read whole anyway.
        return pq.read_table(pa.BufferReader(fs.cat_file(path)), filters=filters)
    with fs.open(path, "rb") as handle:
        return pq.read_table(handle, filters=filters)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def partition_files(uri: str, window: Window, *, feedback: bool = False) -> list[str]:
    """Parquet files of the partitions overlapping `window` (pruning: other hours are never listed)."""
    fs, root = _fs(uri)
    root = root.rstrip("/")
    if feedback:
        root = f"{root}/feedback"
    files: list[str] = []
    for hour in window.hours():
        directory = f"{root}/date={hour:%Y-%m-%d}/hour={hour:%H}"
        try:
            if not fs.isdir(directory):
                continue
            files.extend(sorted(p for p in fs.ls(directory, detail=False) if str(p).endswith(".parquet")))
        except FileNotFoundError:
            continue
    return files


def _read_window_table(uri: str, window: Window, *, feedback: bool) -> pa.Table | None:
    fs, _ = _fs(uri)
    start = pa.scalar(window.start, type=capture.TIMESTAMP)
    end = pa.scalar(window.end, type=capture.TIMESTAMP)
    tables = []
    for path in partition_files(uri, window, feedback=feedback):
        try:
            table = _read_parquet(fs, path)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot read capture file {path}: {_first_line(exc)}") from None
        if capture.TS not in table.column_names:
            raise DataError(f"capture file {path} has no {capture.TS} column")
        ts = table.column(capture.TS)
        if ts.type != capture.TIMESTAMP:
            ts = pc.cast(ts, capture.TIMESTAMP)
        mask = pc.and_(pc.greater_equal(ts, start), pc.less(ts, end))
        tables.append(table.filter(mask))
    if not tables:
        return None
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowException as exc:
        # e.g. one file's label int64, another's string: a model whose classes changed mid-window.
        kind = "feedback" if feedback else "capture"
        reason = _first_line(exc)
        raise DataError(f"{kind} files of the window disagree on a column's type: {reason}") from None


def read_capture_window(uri: str, window: Window, *, target: str | None = None) -> tuple[pd.DataFrame, int]:
    """Predictions captured in `window`, with feedback labels joined into `target`; also the labelled rows."""
    fs, root = _fs(uri)
    try:
        exists = fs.isdir(root)
    except OSError as exc:
        raise DataError(f"cannot list {uri}: {_first_line(exc)}") from None
    if not exists:
        raise DataError(f"capture location {uri} does not exist")
    table = _read_window_table(uri, window, feedback=False)
    if table is None:
        _require_capture_layout(fs, root, uri)
    if table is None or table.num_rows == 0:
        return pd.DataFrame(), 0
    frame = _to_pandas(table)
    labelled = 0
    if target:
        # Labels arrive after the prediction: read feedback from the window's start up to its end
        # plus the same length again, bounded, so late labels of the window's predictions are found.
        feedback_window = Window(window.start, window.end + (window.end - window.start))
        labels = _read_window_table(uri, feedback_window, feedback=True)
        request_id, ts, label = capture.REQUEST_ID, capture.TS, capture.LABEL
        if labels is not None and labels.num_rows and label in labels.column_names:
            fb = _to_pandas(labels.select([request_id, ts, label]))
            fb = fb.sort_values(ts).drop_duplicates(request_id, keep="last")
            frame = frame.drop(columns=[target], errors="ignore").merge(
                fb[[request_id, label]].rename(columns={label: target}), on=request_id, how="left"
            )
            labelled = int(frame[target].notna().sum())
    return frame, labelled


def _require_capture_layout(fs: fsspec.AbstractFileSystem, root: str, uri: str) -> None:
    """Raise when a directory with no partition in the window is not a capture tree at all.

    An empty directory is a capture nothing was written to yet (InsufficientData); a directory of
    other files, or the capture root above the model's folder, would otherwise read as 0 rows.
    """
    try:
        entries = fs.ls(root, detail=True)
    except OSError as exc:
        raise DataError(f"cannot list {uri}: {_first_line(exc)}") from None
    names = {str(e["name"]).rstrip("/").rsplit("/", 1)[-1]: e for e in entries}
    # Feedback alone, and hidden or `_`-prefixed files (a sink probe), do not make it something else.
    names = {n: e for n, e in names.items() if n != "feedback" and not n.startswith(("_", "."))}
    if not names or any(n.startswith("date=") for n in names):
        return
    for name, entry in sorted(names.items()):
        if entry.get("type") == "directory":
            children = fs.ls(str(entry["name"]), detail=False)
            if any(str(c).rstrip("/").rsplit("/", 1)[-1].startswith("date=") for c in children):
                raise DataError(f"{uri} is not a capture tree but holds one: use {uri.rstrip('/')}/{name}")
    raise DataError(
        f"{uri} is not a capture tree (no date=YYYY-MM-DD/hour=HH partitions): give one Parquet or CSV "
        "file, or the capture location of one model"
    )


@dataclass(frozen=True)
class Card:
    """What a check takes from the model card next to its reference: the label, the task, the classes."""

    target: str | None = None
    task: capture.Task | None = None
    classes: tuple[capture.ClassLabel, ...] = ()


def _card_classes(value: object) -> tuple[capture.ClassLabel, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)))


def read_card(reference_uri: str) -> Card | None:
    """The model card next to a reference file (`package` and `train` write both), if there is one.

    A field the card lacks, or holds in a shape that is not ours, is left out (None or empty).
    """
    if not is_file_uri(reference_uri):
        return None
    head, sep, _ = reference_uri.rpartition("/")
    card_uri = f"{head}{sep}model-card.json"
    try:
        fs, path = _fs(card_uri)
        with fs.open(path, "rb") as handle:
            card = json.load(handle)
    except (DataError, OSError, ValueError):
        return None  # no card, or not JSON: the columns are then inferred without a label
    if not isinstance(card, dict):
        return None
    target, task = card.get("target"), card.get("task")
    return Card(
        target=target if isinstance(target, str) and target else None,
        task=next((t for t in capture.TASKS if t == task), None),
        classes=_card_classes(card.get("classes")),
    )


def labelled_rows(frame: pd.DataFrame, target: str | None) -> int:
    """Rows of `frame` whose target is known."""
    if not target or target not in frame.columns:
        return 0
    return int(frame[target].notna().sum())


def window_of(now: datetime, length: timedelta) -> Window:
    """`[now - length, now)` in UTC."""
    now = now.astimezone(UTC)
    return Window(now - length, now)


def ts_bounds(frame: pd.DataFrame) -> Window | None:
    """The time span of a file dataset with a `ts` column (for the status' window), else None."""
    if capture.TS not in frame.columns or frame.empty:
        return None
    ts = pd.to_datetime(frame[capture.TS], utc=True, errors="coerce").dropna()
    if ts.empty:
        return None
    return Window(ts.min().to_pydatetime(), ts.max().to_pydatetime())


def category_label(value: object) -> str:
    """A category as text; 1.0 and 1 are the same category (a column gains floats from one missing value)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def as_float(series: pd.Series) -> np.ndarray:
    """A numeric column as float64 with NaN for missing (nullable Int64 included).

    Values that are not numbers (a mixed object column) become NaN, so they show up as missing in
    the data-quality report instead of crashing the check.
    """
    try:
        return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    except (TypeError, ValueError):
        return np.asarray(pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
