"""Mergeable per-file summaries of a capture file (its `.sketch` sidecar), shared by writer and check.

The capture writer summarizes each Parquet file it publishes (`summarize`) and writes the summary
next to it as `_<file>.parquet.sketch` (`write_sidecar`; the `_` prefix keeps it out of what Parquet
readers such as pyarrow datasets, Spark or Hive, and the check's own listing, take for data). A check
merges the window's summaries (`FileSketch.merge`) instead of reading rows (docs/drift-engine.md,
"Scale"). Per column: rows, missing, non-finite, min, max, sum; an Apache DataSketches KLL sketch of
the finite values of a numeric column; exact value counts of up to `VALUE_CAP` distinct values (text
labels, as a check names categories), the rest summed into an "other" count.

The summary carries the capture controls of its file (sample rate, excluded and hashed features, from
the Parquet metadata), so a check on sketches pools only files captured alike, as the row path does.

Sidecar layout: `MAGIC`, a 4-byte big-endian header length, a JSON header, then the KLL sketches'
bytes, each addressed in the header by offset and length.
"""

from __future__ import annotations

import json
import math
import struct
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftwatch_capture.schema import REQUEST_ID, TS, CaptureControls

MAGIC = b"DWSKETCH1\n"
SUFFIX = ".sketch"
# KLL's k: normalized rank error about 0.68% for one query (0.86% for a bin's mass), 99% confidence
# (DataSketches' get_normalized_rank_error(400, ...)); ~8.5 KB per column of a 20,000-row file.
KLL_K = 400
# Distinct values counted exactly per column of one file (and of a merged window, `MERGED_VALUE_CAP`);
# beyond it the least frequent go to `other`. A numeric column with more is continuous: its KLL
# sketch serves it and its counts are dropped.
VALUE_CAP = 1024
MERGED_VALUE_CAP = 4096
# Never summarized: one distinct value per row.
NOT_SUMMARIZED = (REQUEST_ID,)

Family = str  # "number", "string", "bool", "timestamp", "null" or an Arrow type name


def sidecar_path(parquet_path: str) -> str:
    """Where the summary of a capture file lives: next to it, `_` + its name + `.sketch`."""
    folder, sep, name = parquet_path.rpartition("/")
    return f"{folder}{sep}_{name}{SUFFIX}"


def category_label(value: object) -> str:
    """A category as text; 1.0 and 1 are the same category (as the check's row path labels them)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def type_family(type_: pa.DataType) -> Family:
    """The level at which files' column types are compared."""
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    if pa.types.is_null(type_):
        return "null"
    if pa.types.is_boolean(type_):
        return "bool"
    if pa.types.is_integer(type_) or pa.types.is_floating(type_):
        return "number"
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return "string"
    if pa.types.is_timestamp(type_):
        return "timestamp"
    return str(type_)


def _new_kll(k: int) -> Any:
    from datasketches import kll_doubles_sketch  # a C++ extension: loaded where sketches are built

    return kll_doubles_sketch(k)


def _load_kll(blob: bytes) -> Any:
    from datasketches import kll_doubles_sketch

    return kll_doubles_sketch.deserialize(blob)


@dataclass
class ColumnSketch:
    """One column's mergeable summary."""

    family: Family
    rows: int = 0
    missing: int = 0
    non_finite: int = 0
    minimum: float | None = None
    maximum: float | None = None
    total: float = 0.0
    kll: Any = None  # datasketches.kll_doubles_sketch of the finite values (numbers only)
    values: dict[str, int] | None = field(default_factory=dict)  # None: too many distinct to count
    other: int = 0
    # Deserialized lazily: merging a window's files only touches the sketches it needs.
    _kll_blob: bytes | None = None

    @property
    def finite(self) -> int:
        return self.rows - self.missing - self.non_finite

    @property
    def exact_values(self) -> bool:
        """True when `values` holds every value of the column (no cap was reached anywhere)."""
        return self.values is not None and self.other == 0

    def quantiles(self) -> Any:
        """The KLL sketch of the finite values (deserialized on first use), or None."""
        if self.kll is None and self._kll_blob is not None:
            self.kll = _load_kll(self._kll_blob)
            self._kll_blob = None
        return self.kll

    def merge(self, other: ColumnSketch, *, value_cap: int = MERGED_VALUE_CAP) -> None:
        """Fold `other` (same family) into this summary."""
        if other.family != self.family:
            raise ValueError(f"cannot merge a {other.family} column into a {self.family} one")
        self.rows += other.rows
        self.missing += other.missing
        self.non_finite += other.non_finite
        self.total += other.total
        if other.minimum is not None:
            self.minimum = other.minimum if self.minimum is None else min(self.minimum, other.minimum)
        if other.maximum is not None:
            self.maximum = other.maximum if self.maximum is None else max(self.maximum, other.maximum)
        theirs = other.quantiles()
        if theirs is not None:
            mine = self.quantiles()
            if mine is None:
                self.kll = _new_kll(theirs.k)
            self.kll.merge(theirs)
        if self.values is None or other.values is None:
            self.values = None
            self.other = 0
            return
        counts = Counter(self.values)
        counts.update(other.values)
        self.other += other.other
        self.values, self.other = _capped(counts, value_cap, self.other)

    def header(self, blobs: list[bytes], offset: int) -> tuple[dict[str, Any], int]:
        """This column's JSON header; appends its KLL bytes to `blobs`, returns the next offset."""
        out: dict[str, Any] = {
            "family": self.family,
            "rows": self.rows,
            "missing": self.missing,
            "nonFinite": self.non_finite,
            "min": self.minimum,
            "max": self.maximum,
            "sum": self.total,
            "values": self.values,
            "other": self.other,
            "kll": None,
        }
        kll = self.quantiles()
        if kll is not None and not kll.is_empty():
            blob = kll.serialize()
            blobs.append(blob)
            out["kll"] = [offset, len(blob)]
            offset += len(blob)
        return out, offset

    @classmethod
    def from_header(cls, head: Mapping[str, Any], body: memoryview) -> ColumnSketch:
        kll = head.get("kll")
        blob = bytes(body[kll[0] : kll[0] + kll[1]]) if kll else None
        return cls(
            family=str(head["family"]),
            rows=int(head["rows"]),
            missing=int(head["missing"]),
            non_finite=int(head["nonFinite"]),
            minimum=head.get("min"),
            maximum=head.get("max"),
            total=float(head.get("sum") or 0.0),
            values=None
            if head.get("values") is None
            else {str(k): int(v) for k, v in head["values"].items()},
            other=int(head.get("other") or 0),
            _kll_blob=blob,
        )


def _capped(counts: Mapping[str, int], cap: int, other: int) -> tuple[dict[str, int], int]:
    if len(counts) <= cap:
        return dict(counts), other
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return dict(ranked[:cap]), other + sum(v for _, v in ranked[cap:])


def summarize_column(
    array: pa.ChunkedArray | pa.Array, *, k: int = KLL_K, value_cap: int = VALUE_CAP
) -> ColumnSketch:
    """The summary of one column's values."""
    family = type_family(array.type)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    out = ColumnSketch(family, rows=len(array), missing=array.null_count)
    if family == "null" or out.missing == out.rows:
        out.missing = out.rows
        return out
    if family == "number":
        values = np.asarray(array.cast(pa.float64()).fill_null(math.nan).to_numpy(zero_copy_only=False))
        finite = values[np.isfinite(values)]
        out.non_finite = out.rows - out.missing - int(finite.size)
        if finite.size:
            out.minimum, out.maximum = float(finite.min()), float(finite.max())
            out.total = float(finite.sum())
            out.kll = _new_kll(k)
            out.kll.update(finite)
        # A head of the column with more distinct values than the cap is continuous: the KLL sketch
        # serves it, and hashing every row to find out would cost more than the sketch does.
        if np.unique(finite[: 4 * value_cap]).size > value_cap:
            out.values = None
            return out
        counts = pc.value_counts(pa.array(finite))
        if len(counts) > value_cap:
            out.values = None
            return out
    elif family == "timestamp":
        micros = pc.cast(array, pa.int64())
        bounds = pc.min_max(micros)
        out.minimum, out.maximum = float(bounds["min"].as_py()), float(bounds["max"].as_py())
        out.values = None
        return out
    else:
        counts = pc.value_counts(array.drop_null())
    labels = [category_label(v) for v in counts.field("values").to_pylist()]
    tally: Counter[str] = Counter()
    for label, count in zip(labels, counts.field("counts").to_pylist(), strict=True):
        tally[label] += int(count)
    out.values, out.other = _capped(tally, value_cap, 0)
    return out


@dataclass
class FileSketch:
    """The summaries of one capture file (or of a merged window): rows, `ts` range, columns."""

    rows: int = 0
    ts_min: int | None = None  # microseconds since the epoch, as the capture's `ts`
    ts_max: int | None = None
    k: int = KLL_K
    files: int = 1
    columns: dict[str, ColumnSketch] = field(default_factory=dict)
    # What the file's rows are (sampled, features left out or hashed); a sidecar without it: the defaults.
    controls: CaptureControls = field(default_factory=CaptureControls)

    def merge(self, other: FileSketch) -> None:
        """Fold another file's summary into this one (columns of another family raise ValueError)."""
        for name, column in other.columns.items():
            mine = self.columns.get(name)
            if mine is None:
                self.columns[name] = ColumnSketch(column.family, values={})
                mine = self.columns[name]
                mine.merge(column)
                mine.rows += self.rows  # rows before this column appeared had it missing
                mine.missing += self.rows
            else:
                mine.merge(column)
        for name, column in self.columns.items():
            if name not in other.columns:
                column.rows += other.rows
                column.missing += other.rows
        self.rows += other.rows
        self.files += other.files
        if other.ts_min is not None:
            self.ts_min = other.ts_min if self.ts_min is None else min(self.ts_min, other.ts_min)
        if other.ts_max is not None:
            self.ts_max = other.ts_max if self.ts_max is None else max(self.ts_max, other.ts_max)

    def to_bytes(self) -> bytes:
        blobs: list[bytes] = []
        offset = 0
        columns = {}
        for name, column in self.columns.items():
            columns[name], offset = column.header(blobs, offset)
        head = {
            "rows": self.rows,
            "tsMin": self.ts_min,
            "tsMax": self.ts_max,
            "k": self.k,
            "files": self.files,
            "capture": self.controls.to_metadata(),
            "columns": columns,
        }
        text = json.dumps(head, separators=(",", ":"), allow_nan=False).encode()
        return b"".join([MAGIC, struct.pack(">I", len(text)), text, *blobs])

    @classmethod
    def from_bytes(cls, data: bytes) -> FileSketch:
        """Parse a sidecar; ValueError when it is not one (or is cut short)."""
        if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
            raise ValueError("not a driftwatch sketch sidecar")
        (size,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
        start = len(MAGIC) + 4
        try:
            head = json.loads(data[start : start + size])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"sketch sidecar header: {exc}") from None
        body = memoryview(data)[start + size :]
        columns = {}
        for name, column in head["columns"].items():
            kll = column.get("kll")
            if kll and kll[0] + kll[1] > len(body):
                raise ValueError("sketch sidecar cut short")
            columns[str(name)] = ColumnSketch.from_header(column, body)
        return cls(
            rows=int(head["rows"]),
            ts_min=head.get("tsMin"),
            ts_max=head.get("tsMax"),
            k=int(head.get("k") or KLL_K),
            files=int(head.get("files") or 1),
            columns=columns,
            controls=CaptureControls.from_metadata(head.get("capture")),
        )


def summarize(
    table: pa.Table,
    *,
    k: int = KLL_K,
    value_cap: int = VALUE_CAP,
    skip: Iterable[str] = NOT_SUMMARIZED,
    between_columns: Any = None,
) -> FileSketch:
    """The summary of a capture table: every column but `skip`; `ts` gives the file's time range.

    `between_columns` (a callable) runs after each column: the writer yields the GIL there.
    """
    skipped = set(skip)
    out = FileSketch(rows=table.num_rows, k=k, controls=CaptureControls.from_metadata(table.schema.metadata))
    for name in table.column_names:
        if name in skipped:
            continue
        column = summarize_column(table.column(name), k=k, value_cap=value_cap)
        if name == TS:
            out.ts_min = None if column.minimum is None else int(column.minimum)
            out.ts_max = None if column.maximum is None else int(column.maximum)
            continue
        out.columns[name] = column
        if between_columns is not None:
            between_columns()
    return out


def write_sidecar(fs: Any, parquet_path: str, sketch: FileSketch) -> str:
    """Publish `sketch` next to `parquet_path` as the Parquet file is: a hidden `.partial`, then a rename."""
    folder, _, name = parquet_path.rpartition("/")
    final = sidecar_path(parquet_path)
    partial = f"{folder}/._{name}{SUFFIX}.partial"
    with fs.open(partial, "wb") as handle:
        handle.write(sketch.to_bytes())
    fs.mv(partial, final)
    return final


def read_sidecar(fs: Any, path: str) -> FileSketch:
    """The summary stored at `path` (a `.sketch` file); OSError or ValueError when unreadable."""
    with fs.open(path, "rb") as handle:
        return FileSketch.from_bytes(handle.read())


def weighted_items(kll: Any) -> tuple[np.ndarray, np.ndarray]:
    """The sketch's retained items, sorted and distinct, with the number of rows each stands for.

    The masses come from the sketch's own CDF at its items (`get_cdf`, inclusive), not from the
    iterator's weights: datasketches 5.2's Python iterator reported weight 1 for every item of a
    merged sketch (measured), while its CDF accounts for every level.
    """
    if kll.is_empty():
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    # Quantiles are items of the sketch: as many evenly spaced ranks as it retains reach each item
    # (one vectorized call instead of iterating the sketch in Python).
    ranks = np.linspace(0.0, 1.0, 2 * kll.num_retained + 1)
    items = np.unique(np.asarray(kll.get_quantiles(ranks.tolist()), dtype=np.float64))
    cdf = np.asarray(kll.get_cdf(items.tolist(), True), dtype=np.float64)[: items.size]
    cumulative = np.rint(np.append(cdf[:-1], 1.0) * kll.n).astype(np.int64)
    return items, np.diff(np.concatenate(([0], cumulative)))


def rank_error(k: int, *, pmf: bool = False) -> float:
    """DataSketches' normalized rank error of a KLL sketch of `k` (99% confidence)."""
    from datasketches import kll_doubles_sketch

    return float(kll_doubles_sketch.get_normalized_rank_error(k, pmf))
