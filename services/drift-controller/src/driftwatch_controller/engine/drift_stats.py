"""Numpy ports of Evidently 0.7.23's drift statistics, so a check never pays `import evidently`.

`import evidently` takes 6-15 s here, longer than the whole 1M-row check is allowed to take, and the
check runs as a fresh pod each time. These functions reproduce `evidently.legacy.calculations.
stattests` (same binning, same zero filling, same normalisation) on plain numpy arrays; the unit tests
and `scripts/bench/drift.py` assert they equal Evidently's own functions to 1e-9 (see
docs/drift-engine.md). Numerical inputs are finite float64; categorical inputs are int64 codes
into one codebook shared by reference and current.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from driftwatch_controller.api import contracts

Kind = Literal["numerical", "categorical"]
METHODS: tuple[str, ...] = contracts.STATISTICS


@dataclass(frozen=True)
class MethodInfo:
    """How a method's score compares with its threshold, and Evidently's default threshold."""

    name: str
    default_threshold: float
    # p-value methods drift when the score is at or below the threshold; distances when at or above.
    lower_is_drift: bool
    kinds: tuple[Kind, ...]


METHOD_INFO: dict[str, MethodInfo] = {
    "wasserstein": MethodInfo("wasserstein", 0.1, False, ("numerical",)),
    "jensenshannon": MethodInfo("jensenshannon", 0.1, False, ("numerical", "categorical")),
    "psi": MethodInfo("psi", 0.1, False, ("numerical", "categorical")),
    "ks": MethodInfo("ks", 0.05, True, ("numerical",)),
    "hellinger": MethodInfo("hellinger", 0.1, False, ("numerical", "categorical")),
    "kl_div": MethodInfo("kl_div", 0.1, False, ("numerical", "categorical")),
}


def is_drifted(method: str, score: float, threshold: float) -> bool:
    """Evidently's comparison: p-values drift at or below the threshold, distances at or above."""
    if METHOD_INFO[method].lower_is_drift:
        return bool(score <= threshold)
    return bool(score >= threshold)


def auto_method(kind: Kind, n_unique: int) -> str:
    """Evidently's `auto` choice for a reference above 1,000 rows.

    For smaller references Evidently picks chi-square or a z-test, which treat the reference shares
    as exact and false-alarm far above their nominal level (issue 3); the distances below are
    calibrated instead, so the large-reference rule is used at every size.
    """
    if kind == "numerical" and n_unique > 5:
        return "wasserstein"
    return "jensenshannon"


@dataclass(frozen=True)
class Sample:
    """One side of a comparison: its values, and their distinct values (sorted) with counts.

    Every statistic but KS only needs the distinct values and counts, so a column is sorted once
    and 1M rows become a few thousand (value, count) pairs for the rest of the work.
    """

    values: np.ndarray
    support: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, values: Sample | np.ndarray) -> Sample:
        """The sample of `values` (a Sample is returned as is)."""
        if isinstance(values, Sample):
            return values
        ordered = np.sort(values)
        if ordered.size == 0:
            return cls(values, ordered, np.zeros(0, dtype=np.int64))
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        counts = np.diff(np.append(starts, ordered.size))
        return cls(values, ordered[starts], counts)

    @property
    def size(self) -> int:
        return int(self.values.size)

    def cumulative(self, points: np.ndarray) -> np.ndarray:
        """Share of values <= each point (the empirical CDF, right-continuous)."""
        cum = np.concatenate(([0], np.cumsum(self.counts)))
        return np.asarray(cum[np.searchsorted(self.support, points, "right")] / self.size)


SampleLike = Sample | np.ndarray


def n_unique(ref: SampleLike, cur: SampleLike) -> int:
    """Distinct values over both samples (what Evidently's `auto` rule counts)."""
    return int(np.union1d(Sample.of(ref).support, Sample.of(cur).support).size)


def statistic(method: str, ref: SampleLike, cur: SampleLike, kind: Kind) -> float:
    """The drift score of `cur` against `ref`, equal to Evidently's stattest of the same name."""
    if method not in METHOD_INFO:
        raise ValueError(f"unknown drift method {method!r}; expected one of {', '.join(METHODS)}")
    if kind not in METHOD_INFO[method].kinds:
        raise ValueError(f"method {method!r} does not apply to {kind} columns")
    r_sample, c_sample = Sample.of(ref), Sample.of(cur)
    if method == "wasserstein":
        return wasserstein_norm(r_sample, c_sample)
    if method == "ks":
        return ks_pvalue(r_sample.values, c_sample.values)
    if method == "hellinger":
        return hellinger(r_sample, c_sample, kind)
    if method == "jensenshannon":
        r, c = binned_shares(r_sample, c_sample, kind, fill=False)
        return jensenshannon(r, c)
    r, c = binned_shares(r_sample, c_sample, kind, fill=True)
    if method == "psi":
        return float(np.sum((r - c) * np.log(r / c)))
    return kl_divergence(r, c)


def wasserstein_norm(ref: Sample, cur: Sample) -> float:
    """First Wasserstein distance divided by the reference's standard deviation (floor 0.001).

    scipy integrates |F_ref - F_cur| over the merged sorted values; tied values add zero-width
    steps, so integrating over the distinct values gives the same sum.
    """
    norm = max(float(np.std(ref.values)), 0.001)
    points = np.union1d(ref.support, cur.support)
    deltas = np.diff(points)
    gap = np.abs(ref.cumulative(points[:-1]) - cur.cumulative(points[:-1]))
    return float(np.dot(gap, deltas)) / norm


def ks_pvalue(ref: np.ndarray, cur: np.ndarray) -> float:
    """Two-sided two-sample Kolmogorov-Smirnov p-value (scipy, as Evidently)."""
    from scipy.stats import ks_2samp  # scipy.stats costs seconds to import; only KS needs it

    with warnings.catch_warnings():
        # Above ~10k x 10k rows scipy's exact method gives up and says so; its asymptotic p-value
        # is the answer Evidently returns too, so the warning carries no information here.
        warnings.filterwarnings("ignore", message="ks_2samp: Exact calculation unsuccessful")
        return float(ks_2samp(ref, cur)[1])


def ks_pvalue_from_statistic(d: float, n_ref: int, n_cur: int) -> float:
    """Asymptotic KS p-value of statistic `d` for the two sample sizes (scipy's `asymp` method)."""
    from scipy.stats import kstwo

    en = n_ref * n_cur / (n_ref + n_cur)
    return float(np.clip(kstwo.sf(d, np.round(en)), 0, 1))


def _value_shares(ref: Sample, cur: Sample) -> tuple[np.ndarray, np.ndarray]:
    keys = np.union1d(ref.support, cur.support)
    r = np.zeros(keys.size)
    c = np.zeros(keys.size)
    r[np.searchsorted(keys, ref.support)] = ref.counts
    c[np.searchsorted(keys, cur.support)] = cur.counts
    return r / ref.size, c / cur.size


def sturges_edges(ref: Sample, cur: Sample) -> np.ndarray:
    """`np.histogram_bin_edges(concat(ref, cur), "sturges")` without concatenating the rows."""
    lo = float(min(ref.support[0], cur.support[0]))
    hi = float(max(ref.support[-1], cur.support[-1]))
    if hi <= lo:
        return np.histogram_bin_edges(np.array([lo, hi]), bins=1)
    width = (hi - lo) / (np.log2(ref.size + cur.size) + 1.0)
    return np.linspace(lo, hi, int(np.ceil((hi - lo) / width)) + 1, endpoint=True)


def filled_zeroes(shares: np.ndarray) -> np.ndarray:
    """Evidently's `feel_zeroes`: empty bins get min(non-zero)/1e6, or 1e-4, so logs stay finite."""
    shares = shares.astype(np.float64, copy=True)
    nonzero = shares[shares != 0]
    if nonzero.size == 0:
        return shares
    smallest = float(nonzero.min())
    shares[shares == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return shares


def binned_shares(ref: Sample, cur: Sample, kind: Kind, *, fill: bool) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's `get_binned_data`: Sturges bins for numerics with >20 reference values, else values."""
    if kind == "numerical" and ref.support.size > 20:
        edges = sturges_edges(ref, cur)
        r = np.histogram(ref.support, edges, weights=ref.counts)[0] / ref.size
        c = np.histogram(cur.support, edges, weights=cur.counts)[0] / cur.size
    else:
        r, c = _value_shares(ref, cur)
    if fill:
        r, c = filled_zeroes(r), filled_zeroes(c)
    return r, c


def _rel_entr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(x > 0, x * np.log(x / y), 0.0)
    return np.where((x > 0) & (y <= 0), np.inf, out)


def jensenshannon(p: np.ndarray, q: np.ndarray) -> float:
    """scipy.spatial.distance.jensenshannon (natural log) of two share vectors."""
    p = p / np.sum(p)
    q = q / np.sum(q)
    m = (p + q) / 2.0
    js = float(np.sum(_rel_entr(p, m)) + np.sum(_rel_entr(q, m)))
    return math.sqrt(max(js, 0.0) / 2.0)


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """scipy.stats.entropy(p, q): Kullback-Leibler divergence of normalised share vectors."""
    p = p / np.sum(p)
    q = q / np.sum(q)
    return float(np.sum(_rel_entr(p, q)))


def hellinger(ref: Sample, cur: Sample, kind: Kind) -> float:
    """Evidently's Hellinger distance: value shares for categoricals, Sturges bins over the keys else."""
    if kind == "categorical":
        r, c = _value_shares(ref, cur)
        total = float(np.sum(np.sqrt(r * c)))
    else:
        keys = np.union1d(ref.support, cur.support)
        bins = np.histogram_bin_edges(keys, bins="sturges")
        h1 = np.histogram(ref.support, bins=bins, weights=ref.counts, density=True)[0]
        h2 = np.histogram(cur.support, bins=bins, weights=cur.counts, density=True)[0]
        bin_width = (bins.max() - bins.min()) / (len(bins) - 1)
        total = float(np.sum(np.sqrt(h1 * h2) * bin_width))
    return math.sqrt(1 - float(np.clip(total, 0, 1)))
