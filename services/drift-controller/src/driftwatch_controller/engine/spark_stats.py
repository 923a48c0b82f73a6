"""Drift statistics of columns known only by their distinct values and counts (what Spark sends back).

The numpy engine reduces each column to a `drift_stats.Sample` before any statistic, and every
statistic but Wasserstein's normalisation and KS reads only the distinct values and their counts. A
`CountedSample` is such a Sample without the rows: Wasserstein takes the reference's standard deviation
from the counts, KS its D from the two empirical CDFs (the same integers over the same sizes as
scipy's), so scores equal the numpy engine's to rounding. A column too large to count exactly comes
back as a KLL sketch (Apache DataSketches): `from_quantiles` turns its quantiles into a CountedSample
of `points` equal-mass values between the exact minimum and maximum, and `sketch_error_bound` says how
far a score can then be from the exact one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from driftwatch_controller.engine import drift_stats
from driftwatch_controller.engine.drift_stats import Kind, Sample

# scipy's ks_2samp computes an exact p-value up to this many rows per side, the asymptotic one above.
KS_EXACT_MAX_ROWS = 10_000
# Equal-mass points read from a KLL sketch: their discretisation (1/points of rank) stays well under
# the sketch's own rank error at the default k.
SKETCH_POINTS = 4096


@dataclass(frozen=True)
class CountedSample(Sample):
    """A Sample given by sorted distinct values and counts; `rows` rows, `std` their standard deviation.

    `exact` is False when the values are a sketch's quantiles rather than the column's own values.
    """

    rows: int = 0
    std: float = 0.0
    exact: bool = True

    @property
    def size(self) -> int:
        return self.rows

    @classmethod
    def of_counts(cls, support: np.ndarray, counts: np.ndarray) -> CountedSample:
        """From sorted distinct values and their (int64) counts; the standard deviation from them."""
        counts = np.asarray(counts, dtype=np.int64)
        rows = int(counts.sum())
        std = 0.0
        if rows:
            x = np.asarray(support, dtype=np.float64)
            mean = float(np.dot(counts, x)) / rows
            std = float(np.sqrt(np.dot(counts, (x - mean) ** 2) / rows))
        return cls(np.zeros(0), support, counts, rows, std, True)

    def repeated(self) -> np.ndarray:
        """The rows themselves (only for small samples: scipy's exact KS needs them)."""
        return np.repeat(self.support, self.counts)


def rank_grid(points: int = SKETCH_POINTS, tail: float = 1e-6) -> np.ndarray:
    """Rank cut points from 0 to 1: `points` equal steps, refined geometrically down to `tail` at both
    ends, where a heavy tail's few rows span most of the value range (Wasserstein integrates over it)."""
    step = 1.0 / points
    tails = np.geomspace(tail, step, 24)
    return np.unique(np.concatenate(([0.0], tails, np.linspace(0.0, 1.0, points + 1), 1.0 - tails, [1.0])))


def midpoints(grid: np.ndarray) -> np.ndarray:
    """The rank of each atom: the middle of its cell of the grid."""
    return np.asarray((grid[1:] + grid[:-1]) / 2.0)


def from_quantiles(
    quantiles: np.ndarray, grid: np.ndarray, rows: int, low: float, high: float, std: float
) -> CountedSample:
    """A sketched column as atoms: each cell of the rank `grid` at its middle's quantile, holding that
    cell's share of `rows`; the exact minimum and maximum one row each (Sturges bin edges use them)."""
    values = np.concatenate(([low], np.asarray(quantiles, dtype=np.float64), [high]))
    values = np.maximum.accumulate(np.clip(values, low, high))
    inner = max(rows - 2, 0)
    edges = np.round(grid * inner).astype(np.int64)
    counts = np.concatenate(([min(rows, 1)], np.diff(edges), [1 if rows > 1 else 0])).astype(np.int64)
    support, index = np.unique(values, return_inverse=True)
    merged = np.bincount(index, weights=counts, minlength=support.size).astype(np.int64)
    keep = merged > 0
    return CountedSample(np.zeros(0), support[keep], merged[keep], rows, std, False)


def wasserstein_norm(ref: CountedSample, cur: CountedSample) -> float:
    """drift_stats.wasserstein_norm with the reference's standard deviation taken from its counts."""
    norm = max(ref.std, 0.001)
    points = np.union1d(ref.support, cur.support)
    gap = np.abs(ref.cumulative(points[:-1]) - cur.cumulative(points[:-1]))
    return float(np.dot(gap, np.diff(points))) / norm


def ks_statistic(ref: CountedSample, cur: CountedSample) -> float:
    """Two-sample KS D: the largest gap of the two empirical CDFs over every value of either side."""
    points = np.union1d(ref.support, cur.support)
    return float(np.max(np.abs(ref.cumulative(points) - cur.cumulative(points))))


def ks_pvalue(ref: CountedSample, cur: CountedSample) -> float:
    """scipy's ks_2samp p-value: its exact method on the rows when both sides are small, else asymptotic."""
    if ref.exact and cur.exact and max(ref.size, cur.size) <= KS_EXACT_MAX_ROWS:
        return drift_stats.ks_pvalue(ref.repeated(), cur.repeated())
    return drift_stats.ks_pvalue_from_statistic(ks_statistic(ref, cur), ref.size, cur.size)


def statistic(method: str, ref: CountedSample, cur: CountedSample, kind: Kind) -> float:
    """The drift score of `cur` against `ref`, as drift_stats.statistic gives it on the rows."""
    if method == "wasserstein" and kind == "numerical":
        return wasserstein_norm(ref, cur)
    if method == "ks" and kind == "numerical":
        return ks_pvalue(ref, cur)
    # The other statistics read only distinct values, counts and sizes, which a CountedSample has.
    return drift_stats.statistic(method, ref, cur, kind)


def sketch_error_bound(
    method: str, rank_error: float, ref: CountedSample, cur: CountedSample, points: int = SKETCH_POINTS
) -> float:
    """Largest difference from the exact score when both sides are sketched (at the sketch's confidence).

    Each side's CDF is off by at most `rank_error` (the KLL bound) plus 1/points (discretisation), so
    KS's D moves by at most twice that, and Wasserstein's integral of the CDF gap by twice that times
    the value range of both sides, over the reference's standard deviation. Binned and p-value scores
    have no such closed bound (infinity here); their measured differences are in docs/drift-engine.md.
    """
    cdf = 2.0 * (rank_error + 1.0 / points)
    if method == "ks_statistic":
        return cdf
    if method == "wasserstein":
        if not ref.support.size or not cur.support.size:
            return 0.0
        span = max(float(ref.support[-1]), float(cur.support[-1])) - min(
            float(ref.support[0]), float(cur.support[0])
        )
        return cdf * span / max(ref.std, 0.001)
    return float("inf")


def quantile_span(sample: CountedSample, low: float = 0.005, high: float = 0.995) -> float:
    """The distance between two quantiles of a sample, in units of its standard deviation."""
    if not sample.support.size:
        return 0.0
    cum = np.cumsum(sample.counts) / sample.size
    lo = sample.support[min(int(np.searchsorted(cum, low)), sample.support.size - 1)]
    hi = sample.support[min(int(np.searchsorted(cum, high)), sample.support.size - 1)]
    return float(hi - lo) / max(sample.std, 0.001)


def sketch_allowance(method: str, rank_error: float, ref: CountedSample) -> float:
    """What a sketched column's Wasserstein threshold is raised by, so that sketch error alone does not
    call drift: the rank error times the reference's 0.5%-99.5% quantile span in standard deviations.
    (Measured on 1M rows at k=4096: the error was 0.2-1.3 rank errors times the normalised range,
    0.3-5x under this; docs/drift-engine.md.)"""
    return rank_error * quantile_span(ref) if method == "wasserstein" else 0.0


def conservative_ks_pvalue(ref: CountedSample, cur: CountedSample, rank_error: float) -> float:
    """KS p-value of the smallest D the sketches allow (D less twice the rank error), so that sketch
    error alone does not call drift."""
    d = max(ks_statistic(ref, cur) - 2.0 * rank_error, 0.0)
    return drift_stats.ks_pvalue_from_statistic(d, ref.size, cur.size)
