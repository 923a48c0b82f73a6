"""Reading reference and current data through fsspec: one Parquet/CSV file, or a window of a capture tree.

A capture tree (docs/architecture.md) is read only from the `date=`/`hour=` partitions the window
overlaps, then filtered on `ts`, so a check never scans the whole history. Feedback labels are joined
by `request_id`. A capture file that cannot be read, or whose column types disagree with the other
files', is skipped and named (`SkippedFile`), never a failed run (issue 12). So is a prediction file
captured under other capture controls (sample rate, excluded or hashed features: its Parquet metadata)
than the window's newest files: rows sampled at 10% and at 100%, or with a feature and without it, are
never pooled silently (issue 13).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
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


def file_controls(uri: str) -> capture.CaptureControls:
    """The capture controls one Parquet file records (a capture file given as `current.uri`); the
    defaults for CSV, for a file without them and for one whose footer cannot be read here (the read
    of its rows then says what is wrong)."""
    if not uri.lower().endswith((".parquet", ".pq")):
        return capture.CaptureControls()
    fs, path = _fs(uri)
    try:
        if "http" in fs.protocol:  # no range requests assumed, as `_read_parquet`: the footer needs the file
            metadata = pq.read_schema(pa.BufferReader(fs.cat_file(path))).metadata
        else:
            with fs.open(path, "rb") as handle:
                metadata = pq.read_schema(handle).metadata
        return capture.CaptureControls.from_metadata(metadata)
    except (OSError, ValueError, pa.ArrowException):
        return capture.CaptureControls()


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
            files.extend(sorted(p for p in fs.ls(directory, detail=False) if _is_capture_file(str(p))))
        except FileNotFoundError:
            continue
    return files


def _is_capture_file(path: str) -> bool:
    # A writer's `.<name>.parquet.partial` and other hidden or `_`-prefixed files are never data.
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name.endswith(".parquet") and not name.startswith((".", "_"))


# At most this many skipped files are named in status.skippedFiles (all are counted).
SKIPPED_FILES_NAMED = 10


@dataclass(frozen=True)
class SkippedFile:
    """A capture file of the window the check did not read, and why (one line)."""

    name: str
    reason: str

    def to_status(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason}


@dataclass
class WindowRead:
    """The rows of a capture window, with what was skipped or coerced on the way, and the capture
    controls its rows were captured under (the defaults for a file dataset: every row, every feature)."""

    frame: pd.DataFrame
    labelled: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    coerced: list[str] = field(default_factory=list)
    controls: capture.CaptureControls = field(default_factory=capture.CaptureControls)


@dataclass(frozen=True)
class ControlledFile:
    """A capture file of the window, the controls it was captured under, its newest `ts` in the window."""

    name: str
    controls: capture.CaptureControls
    newest: int | None  # microseconds since the epoch; None when none of its rows is in the window


def settle_controls(files: list[ControlledFile]) -> tuple[capture.CaptureControls, list[SkippedFile]]:
    """The controls the window is read under, the newest file's (the settings the model runs with
    now), and the files captured under others, skipped with the two settings named.

    A file with no row in the window decides nothing and is never named.
    """
    dated = [f for f in files if f.newest is not None]
    if not dated:
        return capture.CaptureControls(), []
    # The newest row wins; between files as new as each other, the last by name (the later writer).
    chosen = max(enumerate(dated), key=lambda item: (item[1].newest, item[0]))[1].controls
    skipped = [
        SkippedFile(
            f.name,
            f"captured under {f.controls.describe()}, the window's newest files under "
            f"{chosen.describe()}: not pooled",
        )
        for f in dated
        if not f.controls.same_capture(chosen)
    ]
    return chosen, skipped


def _type_family(type_: pa.DataType) -> str | None:
    """Types a column may change between and still be read as one column; None: all null."""
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    if pa.types.is_null(type_):
        return None
    if pa.types.is_integer(type_) or pa.types.is_floating(type_):
        return "number"
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return "string"
    if pa.types.is_timestamp(type_):
        return "timestamp"
    return str(type_)


def _common_type(types: list[pa.DataType], family: str) -> pa.DataType:
    """The type every file's column is cast to when the files disagree within one family."""
    values = [t.value_type if pa.types.is_dictionary(t) else t for t in types]
    if family == "number":
        return pa.int64() if all(pa.types.is_integer(t) for t in values) else pa.float64()
    if family == "string":
        return pa.large_string()
    if family == "timestamp":
        return capture.TIMESTAMP
    return values[0]


def column_families(frame: pd.DataFrame) -> dict[str, str]:
    """The type family (`_type_family`) of each column of a frame whose family is plain, e.g. the
    reference's: what decides between capture files that disagree."""
    out = {}
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            out[str(name)] = "bool"
        elif pd.api.types.is_numeric_dtype(dtype):
            out[str(name)] = "number"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            out[str(name)] = "timestamp"
        elif pd.api.types.infer_dtype(frame[name], skipna=True) == "string":
            out[str(name)] = "string"
    return out


def _harmonize(
    tables: list[tuple[str, pa.Table]],
    skipped: list[SkippedFile],
    coerced: list[str],
    expected: Mapping[str, str],
) -> list[pa.Table]:
    """Files whose columns disagree in type: a safe cast within a family (int64 and double read as
    double, say so), else the files of the other families are skipped: the family `expected` names
    (the reference's) wins, or the one most files hold."""
    by_column: dict[str, list[tuple[str, pa.DataType]]] = {}
    for name, table in tables:
        for column in table.schema:
            by_column.setdefault(column.name, []).append((name, column.type))
    target: dict[str, pa.DataType] = {}
    refused: dict[str, str] = {}
    for column, seen in by_column.items():
        if len({t for _, t in seen}) == 1:
            continue
        families: dict[str, list[tuple[str, pa.DataType]]] = {}
        for name, type_ in seen:
            if (family := _type_family(type_)) is not None:
                families.setdefault(family, []).append((name, type_))
        if not families:
            continue
        # Else the family most files hold wins (ties: the one the first file, by name, holds).
        winner = expected.get(column) or ""
        if winner not in families:
            winner = max(families, key=lambda f: (len(families[f]), -min(seen.index(x) for x in families[f])))
        kept = families[winner]
        target[column] = _common_type([t for _, t in kept], winner)
        for family, members in families.items():
            if family == winner:
                continue
            for name, type_ in members:
                refused.setdefault(name, f"column {column} is {type_}, the other files' {target[column]}")
        if len({t for _, t in kept}) > 1:
            kinds = ", ".join(sorted({str(t) for _, t in kept}))
            coerced.append(f"column {column}: {kinds} read as {target[column]}")
    out = []
    for name, table in tables:
        if name in refused:
            skipped.append(SkippedFile(name, refused[name]))
            continue
        try:
            for column, type_ in target.items():
                index = table.schema.get_field_index(column)
                if index >= 0 and table.schema.field(index).type != type_:
                    table = table.set_column(index, column, pc.cast(table.column(index), type_, safe=True))
        except pa.ArrowException as exc:  # e.g. an int64 beyond 2**53 read as double would lose digits
            skipped.append(SkippedFile(name, f"cannot read column {column} as {type_}: {_first_line(exc)}"))
            continue
        out.append(table)
    return out


def _read_window_table(
    uri: str, window: Window, read: WindowRead, *, feedback: bool, expected: Mapping[str, str]
) -> pa.Table | None:
    """The window's rows of every readable file, what was skipped or coerced noted in `read`; of the
    prediction files, only those captured under the newest controls (`settle_controls`), kept in
    `read.controls`. Feedback files are all read: a label joins its prediction by request id."""
    fs, root = _fs(uri)
    skipped, coerced = read.skipped, read.coerced
    root = root.rstrip("/")
    start = pa.scalar(window.start, type=capture.TIMESTAMP)
    end = pa.scalar(window.end, type=capture.TIMESTAMP)
    tables: list[tuple[str, pa.Table]] = []
    controlled: list[ControlledFile] = []
    for path in partition_files(uri, window, feedback=feedback):
        name = path[len(root) + 1 :] if path.startswith(f"{root}/") else path
        try:
            table = _read_parquet(fs, path)
        except (OSError, ValueError, pa.ArrowException) as exc:
            skipped.append(SkippedFile(name, f"unreadable: {_first_line(exc)}"))
            continue
        if capture.TS not in table.column_names:
            skipped.append(SkippedFile(name, f"no {capture.TS} column"))
            continue
        ts = table.column(capture.TS)
        try:
            if ts.type != capture.TIMESTAMP:
                ts = pc.cast(ts, capture.TIMESTAMP)
                table = table.set_column(table.schema.get_field_index(capture.TS), capture.TS, ts)
            mask = pc.and_(pc.greater_equal(ts, start), pc.less(ts, end))
        except pa.ArrowException:
            skipped.append(SkippedFile(name, f"column {capture.TS} is {ts.type}, not a UTC timestamp"))
            continue
        metadata = table.schema.metadata
        table = table.filter(mask)
        if not feedback:
            newest = pc.max(table.column(capture.TS)).cast(pa.int64()).as_py() if table.num_rows else None
            controlled.append(ControlledFile(name, capture.CaptureControls.from_metadata(metadata), newest))
        tables.append((name, table))
    if not feedback:
        read.controls, refused = settle_controls(controlled)
        skipped.extend(refused)
        names = {f.name for f in refused}
        tables = [(name, table) for name, table in tables if name not in names]
    if not tables:
        return None
    kept = _harmonize(tables, skipped, coerced, expected)
    if not kept:
        return None
    try:
        return pa.concat_tables(kept, promote_options="permissive")
    except pa.ArrowException as exc:  # not expected after _harmonize; still one line, not a traceback
        kind = "feedback" if feedback else "capture"
        reason = _first_line(exc)
        raise DataError(f"{kind} files of the window disagree on a column's type: {reason}") from None


def read_capture_window(
    uri: str, window: Window, *, target: str | None = None, expected: Mapping[str, str] | None = None
) -> WindowRead:
    """Predictions captured in `window`, with feedback labels joined into `target`; also the labelled
    rows, and the files skipped (unreadable, or of another column type) or coerced on the way.

    `expected` (`column_families` of the reference) decides which files are skipped when the files
    disagree on a column's type; without it, the type most files hold is kept.
    """
    expected = dict(expected or {})
    fs, root = _fs(uri)
    try:
        exists = fs.isdir(root)
    except OSError as exc:
        raise DataError(f"cannot list {uri}: {_first_line(exc)}") from None
    if not exists:
        raise DataError(f"capture location {uri} does not exist")
    read = WindowRead(pd.DataFrame())
    table = _read_window_table(uri, window, read, feedback=False, expected=expected)
    if table is None and not read.skipped:
        _require_capture_layout(fs, root, uri)
    if table is None or table.num_rows == 0:
        return read
    frame = _to_pandas(table)
    if target:
        # Labels arrive after the prediction: read feedback from the window's start up to its end
        # plus the same length again, bounded, so late labels of the window's predictions are found.
        feedback_window = Window(window.start, window.end + (window.end - window.start))
        label_family = {capture.LABEL: expected[target]} if target in expected else {}
        labels = _read_window_table(uri, feedback_window, read, feedback=True, expected=label_family)
        request_id, ts, label = capture.REQUEST_ID, capture.TS, capture.LABEL
        present = labels is not None and {request_id, label} <= set(labels.column_names)
        if labels is not None and labels.num_rows and present and request_id in frame.columns:
            fb = _to_pandas(labels.select([request_id, ts, label]))
            fb = fb.sort_values(ts).drop_duplicates(request_id, keep="last")
            frame = frame.drop(columns=[target], errors="ignore").merge(
                fb[[request_id, label]].rename(columns={label: target}), on=request_id, how="left"
            )
            read.labelled = int(frame[target].notna().sum())
    read.frame = frame
    return read


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
