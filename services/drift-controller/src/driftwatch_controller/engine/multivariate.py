"""Multivariate drift by data reconstruction (issue 13): PCA fitted on the reference, the window's error.

Univariate tests miss a change in how features move together (a correlation that flips keeps every
marginal). As NannyML's data-reconstruction drift does, the monitored features are encoded
(numerical: median-imputed; categorical: the reference's frequency of the value), standardized on
the reference, and projected on the principal components that keep `varianceKept` of the reference's
variance; a row's reconstruction error is the Euclidean distance between it and its projection. The
statistic is the window's mean error; the band is where that mean falls under "no drift" for a
window of this size, from a seeded two-sample bootstrap of the reference's out-of-fold errors (the
same idea as engine/calibration.py). numpy only: the check pod has no scikit-learn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftwatch_controller.api.spec import MultivariateSpec
from driftwatch_controller.engine import datasets
from driftwatch_controller.engine.calibration import window_bucket
from driftwatch_controller.engine.result_cache import ResultCache

METHOD = "pca"
# Out-of-fold errors stand for a fresh window's: an in-sample error is lower, since the PCA fitted
# those very rows, and the band would sit too low for a small reference.
FOLDS = 5
# A window's mean is kept exactly by merging sorted errors into equal-mass groups at their weighted mean,
# so a replicate costs O(groups), not O(rows); the variance within groups is given back by a scale.
# 256 groups: a multinomial over 1,024 took 0.6 s per side at 2,000 replicates on the loaded machine.
GROUPS = 256
# Rows encoded and projected at a time: bounds the memory at 1M rows x many features.
CHUNK_ROWS = 65_536
# The encoder, the fold PCAs and the band are fitted on at most this many reference rows (a seeded
# sample above it): at 1M rows, encoding and cross-fitting the whole reference took 1.6 of the 2.2 s
# the measurement cost (docs/benchmarks.md, "Multivariate drift"), and the band's reference noise at
# this size is already small beside a window's.
FIT_ROWS = 200_000


@dataclass(frozen=True)
class MultivariateConfig:
    """What the measurement is asked for: `spec.drift.multivariate` plus the bootstrap's size and seed.

    The band spans the central `coverage` of the bootstrap (both tails alarm, as in NannyML: a lower
    error says the data became more regular than the reference, e.g. a feature stuck at a value).
    """

    variance_kept: float = 0.65
    replicates: int = 2000
    coverage: float = 0.995
    seed: int = 0


@dataclass(frozen=True)
class Encoder:
    """Turns frames into standardized float matrices the way the reference defines."""

    numerical: tuple[str, ...]
    medians: tuple[float, ...]
    categorical: tuple[str, ...]
    shares: tuple[dict[str, float], ...]
    missing_shares: tuple[float, ...]
    mean: np.ndarray
    scale: np.ndarray

    @property
    def features(self) -> tuple[str, ...]:
        return self.numerical + self.categorical

    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows as imputed numbers (numerical values, categorical frequency codes), not yet standardized."""
        out = np.empty((len(frame), len(self.features)), dtype=np.float64)
        for j, (name, median) in enumerate(zip(self.numerical, self.medians, strict=True)):
            values = datasets.as_float(frame[name])
            out[:, j] = np.where(np.isfinite(values), values, median)
        offset = len(self.numerical)
        for j, name in enumerate(self.categorical):
            out[:, offset + j] = _frequency_codes(frame[name], self.shares[j], self.missing_shares[j])
        return out

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.raw(frame) - self.mean) / self.scale


def _frequency_codes(series: pd.Series, shares: dict[str, float], missing: float) -> np.ndarray:
    # Factorize first and map the few distinct labels: a dict lookup per row is slow at 1M rows.
    codes, labels = pd.factorize(series)
    mapped = np.array([shares.get(datasets.category_label(v), 0.0) for v in labels] + [missing])
    return np.asarray(mapped[np.where(codes >= 0, codes, len(labels))], dtype=np.float64)


def _label_shares(series: pd.Series) -> tuple[dict[str, float], float]:
    codes, labels = pd.factorize(series)
    counts = np.bincount(codes[codes >= 0], minlength=len(labels))
    rows = max(len(series), 1)
    shares: dict[str, float] = {}
    for label, count in zip(labels, counts, strict=True):
        text = datasets.category_label(label)
        shares[text] = shares.get(text, 0.0) + float(count) / rows
    return shares, float(np.sum(codes < 0)) / rows


def fit_encoder(
    reference: pd.DataFrame, numerical: Sequence[str], categorical: Sequence[str]
) -> tuple[Encoder, list[str]]:
    """The encoder of the reference's usable features, and the features left out (constant or empty)."""
    encoder, dropped, _ = encode_reference(reference, numerical, categorical)
    return encoder, dropped


def encode_reference(
    reference: pd.DataFrame, numerical: Sequence[str], categorical: Sequence[str]
) -> tuple[Encoder, list[str], np.ndarray]:
    """`fit_encoder`, and the reference already encoded by it (encoding 1M rows twice cost 1.5 s)."""
    kept_num: list[str] = []
    medians: list[float] = []
    dropped: list[str] = []
    for name in numerical:
        values = datasets.as_float(reference[name])
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            dropped.append(name)
            continue
        kept_num.append(name)
        medians.append(float(np.median(finite)))
    kept_cat: list[str] = []
    shares: list[dict[str, float]] = []
    missing: list[float] = []
    for name in categorical:
        label_shares, missing_share = _label_shares(reference[name])
        kept_cat.append(name)
        shares.append(label_shares)
        missing.append(missing_share)
    width = len(kept_num) + len(kept_cat)
    draft = Encoder(
        tuple(kept_num),
        tuple(medians),
        tuple(kept_cat),
        tuple(shares),
        tuple(missing),
        np.zeros(width),
        np.ones(width),
    )
    raw = draft.raw(reference)
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    # A constant feature has no direction to reconstruct; standardizing it would divide by zero.
    varies = std > 1e-12 * np.maximum(np.abs(mean), 1.0)
    dropped += [name for name, keep in zip(draft.features, varies, strict=True) if not keep]
    n_num = len(kept_num)
    keep_num, keep_cat = varies[:n_num], varies[n_num:]
    encoder = Encoder(
        tuple(n for n, k in zip(kept_num, keep_num, strict=True) if k),
        tuple(m for m, k in zip(medians, keep_num, strict=True) if k),
        tuple(n for n, k in zip(kept_cat, keep_cat, strict=True) if k),
        tuple(s for s, k in zip(shares, keep_cat, strict=True) if k),
        tuple(m for m, k in zip(missing, keep_cat, strict=True) if k),
        mean[varies],
        std[varies],
    )
    return encoder, dropped, (raw[:, varies] - encoder.mean) / encoder.scale


def components_for(eigenvalues: np.ndarray, variance_kept: float) -> int:
    """The fewest leading components whose share of the variance reaches `variance_kept`, at most d - 1.

    With all d kept every row is reconstructed exactly and the error says nothing; d - 1 leaves the
    last direction to measure.
    """
    values = np.sort(np.clip(eigenvalues, 0.0, None))[::-1]
    total = float(values.sum())
    if total <= 0:
        return 1
    reached = int(np.searchsorted(np.cumsum(values) / total, variance_kept - 1e-12) + 1)
    return max(1, min(reached, values.size - 1))


def _principal_axes(covariance: np.ndarray, k: int) -> np.ndarray:
    """The k leading eigenvectors (d x k) of a symmetric covariance, sign fixed for determinism."""
    values, vectors = np.linalg.eigh(covariance)
    axes = vectors[:, np.argsort(values)[::-1][:k]]
    signs = np.sign(axes[np.argmax(np.abs(axes), axis=0), np.arange(k)])
    return np.asarray(axes * np.where(signs == 0, 1.0, signs))


@dataclass(frozen=True)
class ReferenceModel:
    """What the window is compared with: the encoder, one PCA per fold, the reference's out-of-fold errors.

    Cross-fitted: each reference row's error comes from the PCA of the other folds, and a window row's
    error is its mean over the fold PCAs. So both sides are errors of rows no PCA saw, and both average
    over the same PCAs: with near-tied eigenvalues the kept subspace differs between fits, and one PCA
    fitted on the whole reference would sit at a different mean error than the folds' (measured: 12%
    false alarms at 2,000 rows against 2,000).
    """

    encoder: Encoder
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]
    oof_errors: np.ndarray
    dropped: tuple[str, ...]

    @property
    def components(self) -> int:
        return int(self.folds[0][1].shape[1])

    def window_errors(self, frame: pd.DataFrame) -> np.ndarray:
        errors = np.empty(len(frame))
        for start in range(0, len(frame), CHUNK_ROWS):
            z = self.encoder.transform(frame.iloc[start : start + CHUNK_ROWS])
            errors[start : start + CHUNK_ROWS] = mean_fold_errors(z, self.folds)
        return errors


def mean_fold_errors(z: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per-row reconstruction error averaged over the fold PCAs, with one product for all of them.

    With orthonormal axes V, |b - bVV'|^2 = |b|^2 - |bV|^2 for b = z - c: the residuals are never formed,
    and z is multiplied once by every fold's axes and center (5x faster than a projection per fold).
    """
    centers = np.stack([c for c, _ in folds], axis=1)
    axes = np.concatenate([a for _, a in folds], axis=1)
    f, k = len(folds), folds[0][1].shape[1]
    product = z @ np.concatenate([centers, axes], axis=1)  # one pass over the rows for every fold
    squares = (
        np.einsum("ij,ij->i", z, z)[:, None] - 2 * product[:, :f] + np.einsum("ij,ij->j", centers, centers)
    )
    projected = product[:, f:] - np.concatenate([c @ a for c, a in folds])[None, :]
    kept = np.square(projected.reshape(len(z), f, k)).sum(axis=2)
    return np.asarray(np.sqrt(np.clip(squares - kept, 0.0, None)).mean(axis=1))


def fit_reference(
    z: np.ndarray, variance_kept: float, seed: int
) -> tuple[tuple[tuple[np.ndarray, np.ndarray], ...], np.ndarray]:
    """One (center, axes) per fold, fitted on the other folds, and every reference row's out-of-fold error.

    The number of components is the whole reference's (`components_for`), the same for every fold.
    """
    n = z.shape[0]
    total_sum = z.sum(axis=0)
    total_cross = z.T @ z
    center = total_sum / n
    k = components_for(np.linalg.eigvalsh(total_cross / n - np.outer(center, center)), variance_kept)
    fold = np.random.default_rng([seed, n, z.shape[1]]).permutation(n) % FOLDS
    oof = np.empty(n)
    models = []
    for f in range(FOLDS):
        inside = fold == f
        held = z[inside]
        rows = n - held.shape[0]
        # The other folds' moments from the totals: one pass over the data for all folds.
        fold_center = (total_sum - held.sum(axis=0)) / rows
        fold_cov = (total_cross - held.T @ held) / rows - np.outer(fold_center, fold_center)
        axes = _principal_axes(fold_cov, k)
        oof[inside] = mean_fold_errors(held, [(fold_center, axes)])
        models.append((fold_center, axes))
    return tuple(models), oof


@dataclass(frozen=True)
class Band:
    lower: float
    upper: float


def _merged(errors: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Sorted errors merged into equal-mass groups: their means, their shares, and the share of the
    variance kept (the rest is within groups, given back by scaling the bootstrap's deviations)."""
    x = np.sort(errors)
    group = np.arange(x.size) * groups // x.size
    counts = np.bincount(group, minlength=groups).astype(np.float64)
    means = np.bincount(group, weights=x, minlength=groups) / counts
    p = counts / x.size
    total = float(x.var())
    between = float(p @ (means - x.mean()) ** 2)
    return means, p, between / total if total > 0 else 1.0


def _bootstrap_means(errors: np.ndarray, size: int, rng: np.random.Generator, replicates: int) -> np.ndarray:
    """Means of `replicates` draws of `size` rows with replacement from `errors`."""
    if size <= GROUPS:
        # Few rows: drawing them is cheaper than a multinomial over the groups, and exact.
        return np.asarray(errors[rng.integers(errors.size, size=(replicates, size))].mean(axis=1))
    x, p, kept = _merged(errors, GROUPS)
    means = rng.multinomial(size, p, size=replicates) @ x / size
    # The draws of group means miss the spread within groups: scale the deviations to the full variance.
    return np.asarray(errors.mean() + (means - errors.mean()) / np.sqrt(kept))


def null_band(errors: np.ndarray, window_rows: int, config: MultivariateConfig) -> Band:
    """Where the window's mean error falls under no drift: the reference mean plus the central
    `coverage` of (pseudo-current mean - pseudo-reference mean), both drawn from the reference, so the
    reference's own sampling noise is in the band (it dominates when the window is much larger)."""
    digest = int(hashlib.sha256(errors.tobytes()).hexdigest()[:8], 16)
    rng = np.random.default_rng([config.seed, digest, window_rows])
    ref = _bootstrap_means(errors, errors.size, rng, config.replicates)
    cur = _bootstrap_means(errors, window_rows, rng, config.replicates)
    tail = (1.0 - config.coverage) / 2
    low, high = np.quantile(cur - ref, [tail, 1.0 - tail])
    mean = float(errors.mean())
    return Band(mean + float(low), mean + float(high))


class BandCache:
    """Bands by reference errors, window-size bucket and bootstrap settings (memory, and disk if given)."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir
        self._cache: ResultCache[Band] = ResultCache(
            cache_dir,
            lambda band: {"lower": band.lower, "upper": band.upper},
            lambda data: Band(float(data["lower"]), float(data["upper"])),
        )

    def band(self, errors: np.ndarray, window_rows: int, config: MultivariateConfig) -> Band:
        # Bucketed like the univariate thresholds: a slightly smaller m gives a slightly wider band.
        m = window_bucket(window_rows)
        digest = hashlib.sha256(errors.tobytes()).hexdigest()[:24]
        key = f"mv-{digest}-{errors.size}-{m}-{config.replicates}-{config.coverage}-{config.seed}"
        return self._cache.get(key, lambda: null_band(errors, m, config))


def _round(value: float) -> float:
    return float(f"{value:.6g}")


@dataclass(frozen=True)
class MultivariateResult:
    """`status.multivariate`: measured (value, band, drifted) or skipped (`reason`)."""

    method: str
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    drifted: bool = False
    components: int | None = None
    features: int = 0
    reference_error: float | None = None
    reason: str | None = None

    def to_status(self) -> dict[str, Any]:
        measured = self.value is not None and self.lower is not None and self.upper is not None
        return {
            "method": self.method,
            "value": None if self.value is None else _round(self.value),
            "band": {"lower": _round(self.lower), "upper": _round(self.upper)}
            if measured and self.lower is not None and self.upper is not None
            else None,
            "drifted": self.drifted,
            "components": self.components,
            "features": self.features,
            "referenceError": None if self.reference_error is None else _round(self.reference_error),
            "reason": self.reason,
        }

    def alarm(self) -> str | None:
        """Why the policy hears an alarm, or None: e.g. `reconstruction error 1.41 above its band [...]`."""
        if not self.drifted or self.value is None or self.lower is None or self.upper is None:
            return None
        side = "above" if self.value > self.upper else "below"
        return (
            f"multivariate drift: mean PCA reconstruction error {self.value:.4g} {side} its no-drift band "
            f"[{self.lower:.4g}, {self.upper:.4g}] over {self.features} features"
        )


def skipped(reason: str, features: int = 0) -> MultivariateResult:
    return MultivariateResult(METHOD, features=features, reason=reason)


def fit_sample(reference: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The reference rows the measurement is fitted on: all of them up to FIT_ROWS, else a seeded
    sample of FIT_ROWS in their order (the same rows for the same reference size and seed)."""
    if len(reference) <= FIT_ROWS:
        return reference
    rng = np.random.default_rng([seed, len(reference), FIT_ROWS])
    return reference.take(np.sort(rng.choice(len(reference), size=FIT_ROWS, replace=False)))


def measure(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    config: MultivariateConfig,
    cache: BandCache | None = None,
) -> MultivariateResult:
    """The window's mean reconstruction error against its no-drift band, or why it was not measured."""
    if not numerical:
        # Frequency codes take a handful of values each: their PCA residual is a lumpy statistic, and
        # the univariate by-value tests already read every category's share exactly.
        return skipped(
            f"needs at least one numerical feature besides categoricals; the check monitors "
            f"{len(categorical)} categorical and no numerical feature"
        )
    encoder, dropped, z = encode_reference(fit_sample(reference, config.seed), numerical, categorical)
    d = len(encoder.features)
    if d < 2:
        left_out = f" ({', '.join(dropped)} constant or empty in the reference)" if dropped else ""
        return skipped(f"needs at least two features that vary in the reference, has {d}{left_out}", d)
    folds, oof = fit_reference(z, config.variance_kept, config.seed)
    model = ReferenceModel(encoder, folds, oof, tuple(dropped))
    errors = model.window_errors(current)
    band = (cache or BandCache()).band(oof, len(current), config)
    value = float(errors.mean())
    return MultivariateResult(
        METHOD,
        value=value,
        lower=band.lower,
        upper=band.upper,
        drifted=not band.lower <= value <= band.upper,
        components=model.components,
        features=d,
        reference_error=float(oof.mean()),
    )


def for_check(
    spec: MultivariateSpec,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    unusable: Collection[str],
    *,
    rows_read: bool,
    config: MultivariateConfig,
    cache: BandCache | None = None,
) -> MultivariateResult | None:
    """`status.multivariate` of a run: None when off; skipped with a reason when it cannot be measured."""
    if not spec.enabled:
        return None
    if not rows_read:
        # A sketch keeps each column's distribution, never which values occur together in a row.
        return skipped("the window was read as sketches (spec.drift.data), which keep no rows")
    # Columns absent, mistyped or empty in the window are reported under dataQuality, not encoded.
    usable = [c for c in numerical if c not in unusable], [c for c in categorical if c not in unusable]
    return measure(reference, current, *usable, replace(config, variance_kept=spec.variance_kept), cache)
