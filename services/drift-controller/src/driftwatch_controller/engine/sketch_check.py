"""A check's window read as the capture's merged sketches instead of rows (`spec.drift.data`).

`load_window` lists the window's capture files, merges their `.sketch` sidecars
(driftwatch_capture.sketches) and sketches on the fly the few files it cannot take whole: a file
that straddles the window's edge (its rows are filtered on `ts`) and, under `sketches`, a file
without a readable sidecar. `auto` keeps rows unless every file has a sidecar and the window holds
more than `AUTO_MIN_ROWS` rows. `SketchMeasurer` scores a column from the merged sketch against the
exact reference with the row path's methods, method choice and calibrated thresholds, each widened
by the sketch's own error (`SketchMargins`); `assess_quality` gives dataQuality from the sketch's
counts. Costs and error bounds: docs/drift-engine.md, "Scale".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from driftwatch_capture import schema as capture
from driftwatch_capture import sketches
from driftwatch_capture.sketches import ColumnSketch, FileSketch

from driftwatch_controller.api.spec import DriftCheckSpec
from driftwatch_controller.engine import datasets, drift_stats, quality
from driftwatch_controller.engine.calibration import Calibrator, ReferenceColumn
from driftwatch_controller.engine.datasets import DataError, SkippedFile, Window
from driftwatch_controller.engine.drift_stats import Kind, Sample
from driftwatch_controller.engine.measure import ColumnResult, Measurer
from driftwatch_controller.engine.result_cache import scalar_cache

log = logging.getLogger(__name__)

# `auto` reads sketches from this many window rows on: measured break-even of the two paths
# (docs/benchmarks.md, "Sketches"), rounded up so that small windows keep the exact row path.
AUTO_MIN_ROWS = 1_000_000
# The sketch's error is estimated on draws of this many reference rows, sketched as capture files of
# this size and merged, this many times; the margin is the largest error seen times SAFETY.
MARGIN_DRAW_ROWS = 200_000
MARGIN_FILE_ROWS = 20_000
MARGIN_REPLICATES = 3
MARGIN_SAFETY = 1.5
OTHER_LABEL = "\x00other"  # the capped values' bucket: a label no real category can be


@dataclass
class SketchWindow:
    """The window's merged sketch, and what it took to build it."""

    sketch: FileSketch
    files: int = 0
    sketched_at_check: int = 0  # files read as rows and sketched here (edge of the window, no sidecar)
    skipped: list[SkippedFile] = field(default_factory=list)
    reason: str | None = None
    controls: capture.CaptureControls = field(default_factory=capture.CaptureControls)

    _numerical: dict[str, tuple[WeightedSample, bool] | None] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.sketch.rows

    def numerical(self, name: str) -> tuple[WeightedSample, bool] | None:
        """`numerical_sample` of a column, computed once (quality and drift both read it)."""
        if name not in self._numerical:
            column = self.sketch.columns.get(name)
            self._numerical[name] = None if column is None else numerical_sample(column)
        return self._numerical[name]

    def frame(self) -> pd.DataFrame:
        """An empty frame with the window's columns: what the check's column bookkeeping reads."""
        return pd.DataFrame(columns=[capture.REQUEST_ID, capture.TS, *self.sketch.columns])


@dataclass
class RowsInstead:
    """The window is read as rows; `reason` says why (shown as status.dataPathReason)."""

    reason: str


def _fs(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    try:
        fs, root = fsspec.core.url_to_fs(uri, **datasets.storage_options(uri))
    except (ImportError, ValueError, TypeError) as exc:
        raise DataError(f"cannot open {uri}: {exc}") from None
    return fs, str(root).rstrip("/")


def _listing(fs: fsspec.AbstractFileSystem, root: str, window: Window) -> tuple[list[str], set[str]]:
    """The window's Parquet capture files, and the sidecars beside them (one listing per hour)."""
    files: list[str] = []
    sidecars: set[str] = set()
    for hour in window.hours():
        directory = f"{root}/date={hour:%Y-%m-%d}/hour={hour:%H}"
        try:
            names = sorted(str(p) for p in fs.ls(directory, detail=False))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for path in names:
            base = path.rsplit("/", 1)[-1]
            if base.endswith(sketches.SUFFIX) and base.startswith("_"):
                sidecars.add(path)
            elif base.endswith(".parquet") and not base.startswith((".", "_")):
                files.append(path)
    return files, sidecars


def _micros(moment: object) -> int:
    return int(pa.scalar(moment, type=capture.TIMESTAMP).cast(pa.int64()).as_py())


def _sketch_rows(fs: fsspec.AbstractFileSystem, path: str, window: Window, k: int) -> FileSketch:
    """A capture file read as rows, filtered on the window's `ts`, and sketched as the writer would."""
    with fs.open(path, "rb") as handle:
        table = pq.read_table(handle)
    ts = pc.cast(table.column(capture.TS), capture.TIMESTAMP)
    start = pa.scalar(window.start, type=capture.TIMESTAMP)
    end = pa.scalar(window.end, type=capture.TIMESTAMP)
    return sketches.summarize(table.filter(pc.and_(pc.greater_equal(ts, start), pc.less(ts, end))), k=k)


def load_window(
    uri: str, window: Window, mode: str, *, auto_min_rows: int | None = None
) -> SketchWindow | RowsInstead:
    """The window as one merged sketch, or why it is read as rows instead (`mode` is sketches or auto)."""
    auto_min_rows = AUTO_MIN_ROWS if auto_min_rows is None else auto_min_rows
    fs, root = _fs(uri)
    files, sidecars = _listing(fs, root, window)
    if not files:  # the row path tells an empty capture from a location that is none
        return RowsInstead(f"{mode}: no capture file in the window")
    missing = [f for f in files if sketches.sidecar_path(f) not in sidecars]
    if mode == "auto" and missing:
        return RowsInstead(f"auto: {len(missing)} of {len(files)} capture files have no sketch")
    start, end = _micros(window.start), _micros(window.end)
    out = SketchWindow(FileSketch(files=0), files=len(files))
    # One merged sketch per set of capture controls (one, unless they changed within the window), so
    # files captured under other controls than the newest are skipped as the row path skips them.
    groups: dict[tuple[object, ...], FileSketch] = {}
    controlled: list[datasets.ControlledFile] = []
    for path in files:
        name = path[len(root) + 1 :] if path.startswith(f"{root}/") else path
        part: FileSketch | None = None
        if path not in missing:
            try:
                part = sketches.read_sidecar(fs, sketches.sidecar_path(path))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                if mode == "auto":
                    return RowsInstead(f"auto: the sketch of {name} is unreadable ({exc})")
                missing.append(path)
        if part is not None and part.ts_min is not None and part.ts_max is not None:
            if part.ts_max < start or part.ts_min >= end:
                continue  # a file of an overlapping hour, wholly outside the window
            if part.ts_min < start or part.ts_max >= end:
                part = None  # straddles an edge: only its rows can be filtered on `ts`
        if part is None:
            try:
                part = _sketch_rows(fs, path, window, out.sketch.k)
            except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
                out.skipped.append(
                    SkippedFile(name, f"unreadable: {str(exc).splitlines()[0] if str(exc) else exc}")
                )
                continue
            out.sketched_at_check += 1
        controlled.append(datasets.ControlledFile(name, part.controls, part.ts_max if part.rows else None))
        merged = groups.setdefault(part.controls.key(), FileSketch(files=0, controls=part.controls))
        try:
            merged.merge(part)
        except ValueError as exc:  # a column of another type than in the other files
            return RowsInstead(f"{mode}: {name}: {exc}; the row path decides between the files")
    out.controls, refused = datasets.settle_controls(controlled)
    out.skipped.extend(refused)
    merged = groups.get(out.controls.key(), out.sketch)
    out.sketch = merged
    if mode == "auto" and merged.rows < auto_min_rows:
        return RowsInstead(
            f"auto: {merged.rows:,} rows, under the {auto_min_rows:,} that sketches pay off at"
        )
    notes = []
    if missing:
        notes.append(
            f"{len(set(missing))} of {len(files)} capture files had no readable sketch: sketched from rows"
        )
    out.reason = "; ".join(notes) or None
    return out


class WeightedSample(Sample):
    """A sample given as distinct values and their counts (a sketch's), with no rows behind it."""

    @property
    def size(self) -> int:
        return int(self.counts.sum())


def _weighted(support: np.ndarray, counts: np.ndarray) -> WeightedSample:
    order = np.argsort(support, kind="stable")
    return WeightedSample(support[order], support[order], counts[order].astype(np.int64))


def numerical_sample(column: ColumnSketch) -> tuple[WeightedSample, bool] | None:
    """The finite values of a column as (value, count) pairs, and whether they are exact.

    Exact when every file counted the column's values (a discrete column); else the KLL sketch's
    retained items with their weights, plus its exact min and max at weight 0 (the range Sturges
    bins and the Wasserstein integral span).
    """
    if column.finite <= 0:
        return None
    if column.exact_values and column.values:
        support = np.array([float(v) for v in column.values], dtype=np.float64)
        counts = np.array(list(column.values.values()), dtype=np.int64)
        return _weighted(support, counts), True
    kll = column.quantiles()
    if kll is None or kll.is_empty():
        return None
    items, weights = sketches.weighted_items(kll)
    ends = [v for v in (column.minimum, column.maximum) if v is not None and v not in set(items[[0, -1]])]
    if ends:
        items = np.append(items, ends)
        weights = np.append(weights, np.zeros(len(ends), dtype=np.int64))
    return _weighted(items, weights), False


def category_counts(column: ColumnSketch) -> dict[str, int]:
    counts = dict(column.values or {})
    if column.other:
        counts[OTHER_LABEL] = column.other
    return counts


class SketchMargins:
    """How far the sketch alone moves each statistic, per reference column, method and k (cached).

    The statistic between a draw of the reference and the same draw sketched as capture files and
    merged is the sketch's own contribution: for the metrics (KS, Wasserstein, Jensen-Shannon) the
    triangle inequality bounds the score's change by it. KS also takes DataSketches' bound eps.
    """

    def __init__(self, cache_dir: Path | None = None, seed: int = 0) -> None:
        self.cache_dir = cache_dir
        self.seed = seed
        self._cache = scalar_cache(cache_dir, "margin")

    def margin(self, method: str, kind: Kind, reference: np.ndarray, digest: str, k: int) -> float:
        key = f"sketch-margin-{digest}-{method}-{k}-{MARGIN_DRAW_ROWS}-{MARGIN_REPLICATES}-{self.seed}"
        return self._cache.get(key, lambda: self._measure(method, kind, reference, digest, k))

    def _measure(self, method: str, kind: Kind, reference: np.ndarray, digest: str, k: int) -> float:
        rng = np.random.default_rng([self.seed, int(digest[:8], 16), k])
        worst = 0.0
        for _ in range(MARGIN_REPLICATES):
            draw = rng.choice(reference, size=MARGIN_DRAW_ROWS, replace=True)
            merged = sketches.ColumnSketch("number")
            for start in range(0, draw.size, MARGIN_FILE_ROWS):
                merged.merge(sketches.summarize_column(pa.array(draw[start : start + MARGIN_FILE_ROWS]), k=k))
            sampled = numerical_sample(merged)
            if sampled is None:
                continue
            sketch, exact = sampled
            if exact:
                continue  # counted exactly: the sketch adds nothing
            exact_draw = Sample.of(draw)
            if method == "ks":
                worst = max(worst, ks_distance(exact_draw, sketch))
            else:
                worst = max(worst, abs(drift_stats.statistic(method, exact_draw, sketch, kind)))
        if method == "ks":
            worst = max(worst, sketches.rank_error(k))
        return worst * MARGIN_SAFETY


def ks_distance(ref: Sample, cur: Sample) -> float:
    """The two-sample KS statistic from two (value, count) samples."""
    points = np.union1d(ref.support, cur.support)
    return float(np.max(np.abs(ref.cumulative(points) - cur.cumulative(points)))) if points.size else 0.0


def _ks_statistic_of_pvalue(p: float, n: int, m: int) -> float:
    from scipy.stats import kstwo

    return float(kstwo.isf(min(max(p, 0.0), 1.0), np.round(n * m / (n + m))))


class SketchMeasurer(Measurer):
    """Scores columns of a merged sketch against the (exact) reference; `current` series are unused."""

    def __init__(
        self, spec: DriftCheckSpec, calibrator: Calibrator, window: SketchWindow, margins: SketchMargins
    ) -> None:
        super().__init__(spec, calibrator)
        self.window = window
        self.margins = margins

    def measure(self, name: str, kind: Kind, reference: pd.Series, current: pd.Series) -> ColumnResult | None:
        column = self.window.sketch.columns.get(name)
        if column is None:
            return None
        if kind == "numerical":
            ref_values = datasets.as_float(reference)
            ref_values = ref_values[np.isfinite(ref_values)]
            sampled = self.window.numerical(name)
            if ref_values.size == 0 or sampled is None:
                return None
            ref, (cur, exact) = Sample.of(ref_values), sampled
        else:
            counts = category_counts(column)
            if not counts:
                return None
            ref, cur = categorical_samples(reference, counts)
            exact = column.exact_values
            if ref.size == 0:
                return None
        method, threshold = self.method_and_fixed_threshold(name, kind, ref, cur)
        reference_column = ReferenceColumn.from_counts(ref.support, ref.counts, kind)
        if threshold is None:
            threshold = self.calibrator.threshold(method, reference_column, cur.size)
        margin = 0.0
        if not exact and kind == "numerical":
            margin = self.margins.margin(
                method, kind, ref_values, reference_column.digest, self.window.sketch.k
            )
        if method == "ks":
            d = ks_distance(ref, cur)
            score = drift_stats.ks_pvalue_from_statistic(d, ref.size, cur.size)
            if margin:
                d_threshold = _ks_statistic_of_pvalue(threshold, ref.size, cur.size) + margin
                threshold = drift_stats.ks_pvalue_from_statistic(d_threshold, ref.size, cur.size)
        else:
            score = drift_stats.statistic(method, ref, cur, kind)
            threshold += margin
        return ColumnResult(
            name, kind, method, score, threshold, drift_stats.is_drifted(method, score, threshold)
        )


def categorical_samples(reference: pd.Series, counts: dict[str, int]) -> tuple[Sample, WeightedSample]:
    """Reference codes and the sketch's counts over one sorted codebook of both sides' labels."""
    ref_codes, ref_labels = pd.factorize(reference)
    ref_text = [datasets.category_label(v) for v in ref_labels]
    book = {label: i for i, label in enumerate(sorted(set(ref_text) | set(counts)))}
    ref_map = np.array([book[t] for t in ref_text], dtype=np.int64)
    ref_sample = Sample.of(ref_map[ref_codes[ref_codes >= 0]])
    cur = _weighted(
        np.array([book[label] for label in counts], dtype=np.int64),
        np.array(list(counts.values()), dtype=np.int64),
    )
    return ref_sample, cur


def _kind_name(family: str) -> str:
    return {"number": "float", "bool": "bool", "string": "string", "timestamp": "datetime"}.get(
        family, "other"
    )


def assess_quality(
    reference: pd.DataFrame,
    window: SketchWindow,
    numerical: Sequence[str],
    categorical: Sequence[str],
    ignored: Sequence[str] = (),
) -> quality.DataQuality:
    """`quality.assess` from the sketch's counts: the same fields and rules, out-of-range shares from
    the KLL ranks (within its rank error) unless the values were counted exactly."""
    dq = quality.DataQuality()
    columns = window.sketch.columns
    monitored = [*numerical, *categorical]
    dq.missing_columns = [c for c in monitored if c not in columns]
    known = set(reference.columns) | set(ignored)
    dq.new_columns = sorted(c for c in columns if c not in known)
    if dq.missing_columns:
        dq.problems.append(f"missing columns {', '.join(dq.missing_columns)}")
    rows = max(window.rows, 1)
    for name in monitored:
        if name not in columns or name not in reference.columns:
            continue
        column = columns[name]
        expected, actual = quality.dtype_name(reference[name]), _kind_name(column.family)
        present = column.rows - column.missing
        if name in numerical and actual not in ("int", "float", "bool") and present:
            dq.type_mismatches.append({"column": name, "expected": expected, "actual": actual})
            dq.problems.append(f"{name} is {actual}, expected {expected}")
            continue
        numeric = name in numerical
        ref_missing = quality._missing_share(reference[name], numeric)
        cur_missing = (column.missing + (column.non_finite if numeric else 0)) / rows
        if cur_missing > ref_missing + quality.REPORTED_MISSING_RISE:
            dq.missing_value_share[name] = round(cur_missing, 4)
            if cur_missing - ref_missing >= quality.BROKEN_MISSING_SHARE:
                dq.problems.append(
                    f"{name} missing in {cur_missing:.0%} of rows (reference {ref_missing:.0%})"
                )
        if numeric:
            ref_values = datasets.as_float(reference[name])
            ref_values = ref_values[np.isfinite(ref_values)]
            sampled = window.numerical(name)
            lo, hi = (ref_values.min(), ref_values.max()) if ref_values.size else (0.0, 0.0)
            # The exact min and max say whether any value is outside; the share is the sketch's.
            beyond = (column.minimum is not None and column.minimum < lo) or (
                column.maximum is not None and column.maximum > hi
            )
            if ref_values.size and sampled is not None and beyond:
                cur, _ = sampled
                outside = (cur.support < lo) | (cur.support > hi)
                share = float(cur.counts[outside].sum()) / max(cur.size, 1)
                dq.out_of_range_share[name] = round(share, 4)
        else:
            ref_cats = {datasets.category_label(v) for v in reference[name].dropna().unique()}
            unseen = {label: n for label, n in (column.values or {}).items() if label not in ref_cats}
            if unseen:
                dq.new_categories.append(
                    {
                        "column": name,
                        "values": sorted(unseen)[:20],
                        "share": round(sum(unseen.values()) / rows, 4),
                    }
                )
    return dq
