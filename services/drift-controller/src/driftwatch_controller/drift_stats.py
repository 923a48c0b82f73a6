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
from dataclasses import dataclass
from typing import Literal

import numpy as np

Kind = Literal["numerical", "categorical"]
METHODS: tuple[str, ...] = ("wasserstein", "jensenshannon", "psi", "ks", "hellinger", "kl_div")


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


def n_unique(ref: np.ndarray, cur: np.ndarray) -> int:
    """Distinct values over both samples (what Evidently's `auto` rule counts)."""
    return int(np.unique(np.concatenate((ref, cur))).size)


def statistic(method: str, ref: np.ndarray, cur: np.ndarray, kind: Kind) -> float:
    """The drift score of `cur` against `ref`, equal to Evidently's stattest of the same name."""
    if method not in METHOD_INFO:
        raise ValueError(f"unknown drift method {method!r}; expected one of {', '.join(METHODS)}")
    if kind not in METHOD_INFO[method].kinds:
        raise ValueError(f"method {method!r} does not apply to {kind} columns")
    if method == "wasserstein":
        return wasserstein_norm(ref, cur)
    if method == "ks":
        return ks_pvalue(ref, cur)
    if method == "hellinger":
        return hellinger(ref, cur, kind)
    if method == "jensenshannon":
        r, c = binned_shares(ref, cur, kind, fill=False)
        return jensenshannon(r, c)
    r, c = binned_shares(ref, cur, kind, fill=True)
    if method == "psi":
        return float(np.sum((r - c) * np.log(r / c)))
    return kl_divergence(r, c)


def wasserstein_norm(ref: np.ndarray, cur: np.ndarray) -> float:
    """First Wasserstein distance divided by the reference's standard deviation (floor 0.001)."""
    norm = max(float(np.std(ref)), 0.001)
    ref_sorted = np.sort(ref)
    cur_sorted = np.sort(cur)
    all_values = np.concatenate((ref_sorted, cur_sorted))
    all_values.sort(kind="mergesort")
    deltas = np.diff(all_values)
    ref_cdf = ref_sorted.searchsorted(all_values[:-1], "right") / ref.size
    cur_cdf = cur_sorted.searchsorted(all_values[:-1], "right") / cur.size
    return float(np.dot(np.abs(ref_cdf - cur_cdf), deltas)) / norm


def ks_pvalue(ref: np.ndarray, cur: np.ndarray) -> float:
    """Two-sided two-sample Kolmogorov-Smirnov p-value (scipy, as Evidently)."""
    from scipy.stats import ks_2samp  # scipy.stats costs seconds to import; only KS needs it

    return float(ks_2samp(ref, cur)[1])


def ks_pvalue_from_statistic(d: float, n_ref: int, n_cur: int) -> float:
    """Asymptotic KS p-value of statistic `d` for the two sample sizes (scipy's `asymp` method)."""
    from scipy.stats import kstwo

    en = n_ref * n_cur / (n_ref + n_cur)
    return float(np.clip(kstwo.sf(d, np.round(en)), 0, 1))


def _value_shares(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys, inverse = np.unique(np.concatenate((ref, cur)), return_inverse=True)
    ref_counts = np.bincount(inverse[: ref.size], minlength=keys.size)
    cur_counts = np.bincount(inverse[ref.size :], minlength=keys.size)
    return ref_counts / ref.size, cur_counts / cur.size


def filled_zeroes(shares: np.ndarray) -> np.ndarray:
    """Evidently's `feel_zeroes`: empty bins get min(non-zero)/1e6, or 1e-4, so logs stay finite."""
    shares = shares.astype(np.float64, copy=True)
    nonzero = shares[shares != 0]
    if nonzero.size == 0:
        return shares
    smallest = float(nonzero.min())
    shares[shares == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return shares


def binned_shares(
    ref: np.ndarray, cur: np.ndarray, kind: Kind, *, fill: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's `get_binned_data`: Sturges bins for numerics with >20 reference values, else values."""
    if kind == "numerical" and np.unique(ref).size > 20:
        edges = np.histogram_bin_edges(np.concatenate((ref, cur)), bins="sturges")
        r = np.histogram(ref, edges)[0] / ref.size
        c = np.histogram(cur, edges)[0] / cur.size
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


def hellinger(ref: np.ndarray, cur: np.ndarray, kind: Kind) -> float:
    """Evidently's Hellinger distance: value shares for categoricals, Sturges bins over the keys else."""
    if kind == "categorical":
        r, c = _value_shares(ref, cur)
        total = float(np.sum(np.sqrt(r * c)))
    else:
        keys = np.unique(np.concatenate((ref, cur)))
        bins = np.histogram_bin_edges(keys, bins="sturges")
        h1 = np.histogram(ref, bins=bins, density=True)[0]
        h2 = np.histogram(cur, bins=bins, density=True)[0]
        bin_width = (bins.max() - bins.min()) / (len(bins) - 1)
        total = float(np.sum(np.sqrt(h1 * h2) * bin_width))
    return math.sqrt(1 - float(np.clip(total, 0, 1)))
