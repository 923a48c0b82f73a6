"""Drift per segment (issue 13): each segment's current rows against the reference's rows of that segment.

Segments are the value combinations of `spec.segments.columns` as the reference holds them, most
frequent first, capped at `maxSegments`; every other combination (including ones the reference never
had) is pooled as one `other` segment, so no row is left out and metric labels stay a finite set taken
from the reference. Each segment with at least `minRows` current rows is measured by the check's own
`Measurer`: the same statistics, and thresholds calibrated against that segment's reference rows for a
window of its current size. Rows are grouped once (one stable sort per side), so a segment is a
contiguous slice, never a boolean mask over the whole frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from driftwatch_controller.api.spec import SegmentsSpec, SpecError
from driftwatch_controller.engine import datasets, quality
from driftwatch_controller.engine.columns import Columns
from driftwatch_controller.engine.drift_stats import Kind, Sample
from driftwatch_controller.engine.measure import ColumnResult, Measurer

OTHER = "other"
# status.segments lists this many (the CRD's maxItems); the counts cover all of them.
STATUS_LIMIT = 10
# A segment's reference below this is too small to calibrate against (check.MIN_REFERENCE_ROWS).
MIN_REFERENCE_ROWS = 100
# A missing segment value is a value of its own, so its rows are neither dropped nor pooled silently.
MISSING = "null"
_NUMERIC = ("int", "float")
_WHERE = "spec.segments.columns"


@dataclass(frozen=True)
class Segment:
    """One segment: its name (`region=north,plan=basic`, or `other`) and the values that define it."""

    name: str
    values: dict[str, str]


@dataclass(frozen=True)
class WorstSegment:
    """The measured segment with the highest drift share, as the decision policy reads it."""

    segment: str
    drifted_columns: int
    monitored_columns: int
    current_rows: int

    @property
    def drift_share(self) -> float:
        return self.drifted_columns / self.monitored_columns if self.monitored_columns else 0.0

    def describe(self, segment_share: float) -> str:
        return (
            f"segment {self.segment}: {self.drifted_columns} of {self.monitored_columns} columns drifted "
            f"on {self.current_rows} rows (share {self.drift_share:.2f} >= segmentShare {segment_share:g})"
        )


@dataclass
class SegmentResult:
    """One segment's rows and, when it had enough of them, its measurement."""

    segment: Segment
    reference_rows: int
    current_rows: int
    measured: bool
    columns: list[ColumnResult] = field(default_factory=list)

    @property
    def drift_share(self) -> float | None:
        if not self.measured:
            return None
        return sum(c.drifted for c in self.columns) / len(self.columns) if self.columns else 0.0

    def to_status(self) -> dict[str, Any]:
        share = self.drift_share
        return {
            "segment": self.segment.name,
            "values": dict(self.segment.values),
            "rows": {"reference": self.reference_rows, "current": self.current_rows},
            "measured": self.measured,
            "driftShare": None if share is None else round(share, 4),
            "driftedColumns": [c.name for c in self.columns if c.drifted],
            "monitoredColumns": len(self.columns),
        }


@dataclass
class SegmentsOutcome:
    """Every segment of a run, worst first: measured ones by drift share, then skipped ones by rows."""

    results: list[SegmentResult]

    @property
    def evaluated(self) -> int:
        return sum(r.measured for r in self.results)

    @property
    def skipped(self) -> int:
        return len(self.results) - self.evaluated

    def worst(self) -> WorstSegment | None:
        measured = [r for r in self.results if r.measured and r.columns]
        if not measured:
            return None
        top = measured[0]
        return WorstSegment(
            top.segment.name, sum(c.drifted for c in top.columns), len(top.columns), top.current_rows
        )

    def to_status(self) -> list[dict[str, Any]]:
        return [r.to_status() for r in self.results[:STATUS_LIMIT]]

    def counts_status(self) -> dict[str, int]:
        return {"total": len(self.results), "evaluated": self.evaluated, "skipped": self.skipped}


def validate(spec: SegmentsSpec, cols: Columns, reference: pd.DataFrame) -> None:
    """What the spec's schema cannot know: the columns exist in the reference and hold categories.

    A column the check measures as categorical is one; a column it does not monitor must hold
    non-numeric values in the reference (a number has no finite set of segments).
    """
    problems = []
    for name in spec.columns:
        if name not in reference.columns:
            problems.append(f"{_WHERE}: column {name} is not in the reference dataset")
        elif name in cols.numerical:
            problems.append(f"{_WHERE}: column {name} is monitored as numerical; segments need categories")
        elif name not in cols.categorical and quality.dtype_name(reference[name]) in _NUMERIC:
            kind = quality.dtype_name(reference[name])
            problems.append(
                f"{_WHERE}: column {name} holds {kind} values in the reference; name it in "
                "spec.columns.categorical to segment by it"
            )
    if problems:
        raise SpecError(problems)


def _labels(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Per-row codes into the column's labels as text (a missing value is the label `null`)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    labels = [datasets.category_label(v) for v in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels.append(MISSING)
    return codes.astype(np.int64), labels


def _keys(
    reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """One int64 key per row on both sides, from codes into a shared sorted book per column."""
    ref_key = np.zeros(len(reference), dtype=np.int64)
    cur_key = np.zeros(len(current), dtype=np.int64)
    books: list[list[str]] = []
    for name in columns:
        ref_codes, ref_labels = _labels(reference[name])
        cur_codes, cur_labels = (
            _labels(current[name])
            if name in current.columns
            else (np.full(len(current), 0, dtype=np.int64), [MISSING])
        )
        book = sorted(set(ref_labels) | set(cur_labels))
        index = {label: i for i, label in enumerate(book)}
        ref_map = np.array([index[t] for t in ref_labels], dtype=np.int64)
        cur_map = np.array([index[t] for t in cur_labels], dtype=np.int64)
        # Mixed radix: at most 3 columns of categories keep the key far inside int64.
        ref_key = ref_key * len(book) + ref_map[ref_codes]
        cur_key = cur_key * len(book) + cur_map[cur_codes]
        books.append(book)
    return ref_key, cur_key, books


def _decode(key: int, books: Sequence[Sequence[str]]) -> list[str]:
    values = []
    for book in reversed(books):
        key, code = divmod(key, len(book))
        values.append(book[code])
    return values[::-1]


def define(
    reference: pd.DataFrame, current: pd.DataFrame, spec: SegmentsSpec
) -> tuple[list[Segment], np.ndarray, np.ndarray]:
    """The segments (most frequent in the reference first, then `other`) and each row's segment index."""
    columns = list(spec.columns)
    ref_key, cur_key, books = _keys(reference, current, columns)
    keys, counts = np.unique(ref_key, return_counts=True)
    # Most frequent first; ties by key, so the same reference always gives the same segments.
    order = np.lexsort((keys, -counts))
    kept = keys[order[: spec.max_segments]]
    segments = []
    for key in kept:
        values = dict(zip(columns, _decode(int(key), books), strict=True))
        segments.append(Segment(",".join(f"{c}={v}" for c, v in values.items()), values))
    segments.append(Segment(OTHER, {}))
    by_key = np.argsort(kept)  # the j-th smallest kept key is segment by_key[j]
    sorted_kept = kept[by_key]

    def index_of(row_keys: np.ndarray) -> np.ndarray:
        if not kept.size:
            return np.zeros(row_keys.size, dtype=np.int64)
        at = np.clip(np.searchsorted(sorted_kept, row_keys), 0, sorted_kept.size - 1)
        return np.where(sorted_kept[at] == row_keys, by_key[at], kept.size).astype(np.int64)

    return segments, index_of(ref_key), index_of(cur_key)


def _column_values(reference: pd.Series, current: pd.Series, kind: Kind) -> tuple[np.ndarray, np.ndarray]:
    """Both sides as numpy, once per column: floats (NaN for missing), or codes into one sorted
    codebook of both sides (-1 for missing), as `measure.samples` makes them for a whole window."""
    if kind == "numerical":
        return datasets.as_float(reference), datasets.as_float(current)
    ref_codes, ref_labels = pd.factorize(reference)
    cur_codes, cur_labels = pd.factorize(current)
    ref_text = [datasets.category_label(v) for v in ref_labels]
    cur_text = [datasets.category_label(v) for v in cur_labels]
    book = {label: i for i, label in enumerate(sorted(set(ref_text) | set(cur_text)))}
    ref_map = np.array([book[t] for t in ref_text] + [-1], dtype=np.int64)  # code -1 reads the last
    cur_map = np.array([book[t] for t in cur_text] + [-1], dtype=np.int64)
    return ref_map[ref_codes], cur_map[cur_codes]


# Whole numbers spanning at most this many values are counted with bincount (O(rows)) instead of sorted.
_COUNTED_SPAN = 1 << 16


def sample(values: np.ndarray, kind: Kind) -> Sample:
    """`Sample.of` the present values, equal to it, without a sort where counting gives the same.

    Categorical codes and whole-number columns (counts, ages, days) have few distinct values: a
    bincount finds them and their counts in one pass, a sort would cost n log n for every segment.
    `Sample.values` stays in row order, as `Sample.of` keeps it (only its size and moments are read).
    """
    present = values[np.isfinite(values)] if kind == "numerical" else values[values >= 0]
    if present.size == 0:
        return Sample.of(present)
    low, high = present.min(), present.max()
    if high - low >= _COUNTED_SPAN or (
        kind == "numerical" and not np.array_equal(present, np.floor(present))
    ):
        return Sample.of(present)
    counts = np.bincount((present - low).astype(np.int64))
    support = np.flatnonzero(counts)
    values_support = (support + low).astype(present.dtype)
    return Sample(present, values_support, counts[support])


class _Grouped:
    """A side's rows ordered by segment (a stable radix sort of small ints), and each segment's bounds."""

    def __init__(self, index: np.ndarray, groups: int) -> None:
        self.order = np.argsort(index.astype(np.int16 if groups < 2**15 else np.int64), kind="stable")
        self.bounds = np.concatenate(([0], np.cumsum(np.bincount(index, minlength=groups))))

    def rows(self, segment: int) -> int:
        return int(self.bounds[segment + 1] - self.bounds[segment])

    def slices(self, values: np.ndarray) -> list[np.ndarray]:
        ordered = values[self.order]
        return [ordered[self.bounds[i] : self.bounds[i + 1]] for i in range(self.bounds.size - 1)]


def measure(
    measurer: Measurer,
    cols: Columns,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: SegmentsSpec,
    unusable: set[str],
) -> SegmentsOutcome:
    """Every segment's drift over the monitored columns but the segmenting ones (constant within it).

    Each column is converted once for the whole window and cut into the segments' slices, so a
    segment costs its own sort and calibration, never another pass over every row.
    """
    segments, ref_index, cur_index = define(reference, current, spec)
    ref_groups, cur_groups = _Grouped(ref_index, len(segments)), _Grouped(cur_index, len(segments))
    measured = [
        i
        for i in range(len(segments))
        if cur_groups.rows(i) >= spec.min_rows and ref_groups.rows(i) >= MIN_REFERENCE_ROWS
    ]
    results = [
        SegmentResult(segment, ref_groups.rows(i), cur_groups.rows(i), i in measured)
        for i, segment in enumerate(segments)
    ]
    features: list[tuple[str, Kind]] = [(n, "numerical") for n in cols.numerical]
    features += [(n, "categorical") for n in cols.categorical]
    for name, kind in features:
        if name in spec.columns or name in unusable or name not in current.columns:
            continue
        ref_values, cur_values = _column_values(reference[name], current[name], kind)
        ref_slices, cur_slices = ref_groups.slices(ref_values), cur_groups.slices(cur_values)
        for i in measured:
            ref, cur = sample(ref_slices[i], kind), sample(cur_slices[i], kind)
            if (result := measurer.measure_samples(name, kind, ref, cur)) is not None:
                results[i].columns.append(result)
    # An empty `other` (every combination kept) is no segment.
    results = [r for r in results if r.reference_rows or r.current_rows]
    results.sort(key=lambda r: (not r.measured, -(r.drift_share or 0.0), -r.current_rows, r.segment.name))
    return SegmentsOutcome(results)
