"""How well the model does: reference and realized metrics with bootstrap intervals, and a CBPE estimate.

Pure (frames in, the `status.performance` block out; docs/drift-engine.md, "Performance"). Every
metric is computed for a matrix of bootstrap weights at once (numpy), so a resample costs a matrix
product, and ROC AUC is a sum over tie groups of one sort.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from driftwatch_capture import schema as capture
from driftwatch_capture.schema import ClassLabel, Task

from driftwatch_controller.api.spec import PerformancePolicySpec
from driftwatch_controller.engine.columns import Columns
from driftwatch_controller.engine.datasets import Card

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse", "mape")
DEFAULT_METRIC: dict[str, str] = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "mae"}
CBPE_ASSUMPTION = "no concept drift: P(y|x) as in the reference; the calibrated probabilities hold"
NO_REGRESSION_ESTIMATE = "no label-free estimate for regression (DLE not implemented)"

# Bounds that keep a check within the drift engine's budget (docs/benchmarks.md): at most this many
# resamples, each of at most this many rows; a larger frame's interval is rescaled by sqrt(m/n).
RESAMPLES = 200
BOOTSTRAP_ROWS = 20_000
# Isotonic calibration is fitted on at most this many reference rows, and whether it is needed is
# decided on at most DECISION_ROWS of them (ten fits); NannyML uses every row for both.
CALIBRATION_ROWS = 100_000
DECISION_ROWS = 50_000
_Z95 = 1.959964
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Outputs:
    """The model's output columns: the predicted class (or a regression's value) and the probabilities."""

    prediction: str | None = None
    # binary: P(classes[1]); multiclass: one column per class, in the order of `classes`.
    probability: str | None = None
    class_probabilities: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Labelled:
    """Rows with outputs (and, unless unlabelled, a known class) as arrays."""

    y: np.ndarray  # class index (classification) or value (regression); NaN/-1 where unknown
    pred: np.ndarray  # predicted class index, or a regression's value
    proba: np.ndarray | None  # (n, k) probabilities, k = number of classes

    def __len__(self) -> int:
        return len(self.pred)

    def take(self, rows: np.ndarray) -> _Labelled:
        return _Labelled(self.y[rows], self.pred[rows], None if self.proba is None else self.proba[rows])


# --- metrics for a (B, n) matrix of row weights -------------------------------------------------------


def _confusion(y: np.ndarray, pred: np.ndarray, k: int, weights: np.ndarray) -> np.ndarray:
    """(B, k, k) weighted counts: rows actual class, columns predicted class."""
    if len(weights) == 1:
        return np.bincount(y * k + pred, weights=weights[0], minlength=k * k).reshape(1, k, k)
    onehot = np.zeros((len(y), k * k))
    onehot[np.arange(len(y)), y * k + pred] = 1.0
    return (weights @ onehot).reshape(-1, k, k)


def _expected_confusion(proba: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """(1, k, k) expected counts when the true class of a row is drawn from its (calibrated) probabilities."""
    onehot = np.zeros((len(pred), k))
    onehot[np.arange(len(pred)), pred] = 1.0
    return (proba.T @ onehot)[None, :, :]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # Like scikit-learn's zero_division=0: a class never predicted (or never seen) scores 0.
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def _from_confusion(conf: np.ndarray, binary: bool) -> dict[str, np.ndarray]:
    diag = np.diagonal(conf, axis1=1, axis2=2)
    actual, predicted = conf.sum(axis=2), conf.sum(axis=1)
    precision = _ratio(diag, predicted)
    recall = _ratio(diag, actual)
    f1 = _ratio(2 * diag, actual + predicted)
    # binary: of the positive class (classes[1]); multiclass: macro over the model's classes.
    pick: Callable[[np.ndarray], np.ndarray] = (lambda a: a[:, 1]) if binary else (lambda a: a.mean(axis=1))
    return {
        "accuracy": _ratio(diag.sum(axis=1), conf.sum(axis=(1, 2))),
        "precision": pick(precision),
        "recall": pick(recall),
        "f1": pick(f1),
    }


def _weighted_auc(score: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """ROC AUC of `score` when row i counts positive[b, i] times as a positive and negative[b, i] as a
    negative: tied scores count half (as the trapezoid of scikit-learn's roc_auc_score).

    A positive row scores the negatives ranked below it plus half those tied with it: with C the
    cumulative negatives in score order, 0.5 * (C before its tie group + C at the group's end).
    Rows already in score order (the bootstrap sorts them once) are not reordered.
    """
    if len(score) > 1 and not (score[1:] >= score[:-1]).all():
        order = np.argsort(score, kind="stable")
        score, positive, negative = score[order], positive[:, order], negative[:, order]
    cum = np.cumsum(negative, axis=1)
    credit = cum - 0.5 * negative  # untied rows
    new_group = np.r_[True, score[1:] != score[:-1]]
    if not new_group.all():
        # Only the rows of a tie group are corrected (a gather over those columns alone).
        group = np.cumsum(new_group) - 1
        starts = np.flatnonzero(new_group)
        ends = np.r_[starts[1:], len(score)] - 1
        tied = np.flatnonzero(starts[group] != ends[group])
        first, last = starts[group[tied]], ends[group[tied]]
        before = np.where(first > 0, cum[:, np.maximum(first - 1, 0)], 0.0)
        credit[:, tied] = 0.5 * (before + cum[:, last])
    area = (positive * credit).sum(axis=1)
    total = positive.sum(axis=1) * negative.sum(axis=1)
    return np.divide(area, total, out=np.full(len(area), np.nan), where=total > 0)


def _log_loss_rows(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = np.clip(proba[np.arange(len(y)), y], _EPS, 1 - _EPS)
    return -np.log(p)


def _classification(data: _Labelled, k: int, weights: np.ndarray) -> dict[str, np.ndarray]:
    y = data.y.astype(np.int64, copy=False)
    pred = data.pred.astype(np.int64, copy=False)
    out = _from_confusion(_confusion(y, pred, k, weights), k == 2)
    if data.proba is not None:
        total = weights.sum(axis=1)
        out["log_loss"] = weights @ _log_loss_rows(data.proba, y) / total
        if k == 2:
            is_pos = (y == 1).astype(weights.dtype)
            out["roc_auc"] = _weighted_auc(data.proba[:, 1], weights * is_pos, weights * (1 - is_pos))
        else:
            per_class = []
            for c in range(k):
                is_c = (y == c).astype(weights.dtype)
                per_class.append(_weighted_auc(data.proba[:, c], weights * is_c, weights * (1 - is_c)))
            out["roc_auc"] = np.mean(per_class, axis=0)
    return out


def _regression(data: _Labelled, weights: np.ndarray) -> dict[str, np.ndarray]:
    err = data.y - data.pred
    total = weights.sum(axis=1)
    return {
        "mae": weights @ np.abs(err) / total,
        "rmse": np.sqrt(weights @ (err * err) / total),
        # As scikit-learn's mean_absolute_percentage_error: |y| floored at machine epsilon.
        "mape": weights @ (np.abs(err) / np.maximum(np.abs(data.y), _EPS)) / total,
    }


def _metrics(task: Task, k: int) -> Callable[[_Labelled, np.ndarray], dict[str, np.ndarray]]:
    if task == "regression":
        return _regression
    return lambda data, weights: _classification(data, k, weights)


# --- bootstrap ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Measured:
    values: dict[str, float]
    lower: dict[str, float]
    upper: dict[str, float]
    # The bootstrap standard deviation rescaled to one row (sd * sqrt(n)): the CBPE band at n rows.
    row_sd: dict[str, float]


def _bootstrap(
    data: _Labelled,
    compute: Callable[[_Labelled, np.ndarray], dict[str, np.ndarray]],
    rng: np.random.Generator,
    resamples: int,
    max_rows: int,
) -> _Measured:
    """Values on all rows; a percentile 95% interval from `resamples` resamples of at most `max_rows` rows.

    Above `max_rows` the resamples are drawn from a random subset of m rows, and the interval's
    offsets from the subset's value are scaled by sqrt(m/n) to the whole frame's size.
    """
    n = len(data)
    full = {name: float(v[0]) for name, v in compute(data, np.ones((1, n))).items()}
    m = min(n, max_rows)
    sub = data if m == n else data.take(np.sort(rng.choice(n, size=m, replace=False)))
    if sub.proba is not None and sub.proba.shape[1] == 2:
        # In score order, a binary ROC AUC needs no reordering of the resample weights.
        sub = sub.take(np.argsort(sub.proba[:, 1], kind="stable"))
    center = full if m == n else {name: float(v[0]) for name, v in compute(sub, np.ones((1, m))).items()}
    draws = rng.integers(0, m, size=(resamples, m)) + (np.arange(resamples) * m)[:, None]
    # Counts in float32 (exact below 2**24): half the memory traffic of the weighted sums.
    weights = np.bincount(draws.ravel(), minlength=resamples * m).reshape(resamples, m).astype(np.float32)
    boot = compute(sub, weights)
    scale = np.sqrt(m / n)
    lower, upper, row_sd = {}, {}, {}
    for name, value in full.items():
        b = boot[name][np.isfinite(boot[name])]
        if not np.isfinite(value) or len(b) < resamples // 2:
            lower[name] = upper[name] = row_sd[name] = float("nan")
            continue
        lo, hi = np.quantile(b, [0.025, 0.975])
        lower[name] = value + (lo - center[name]) * scale
        upper[name] = value + (hi - center[name]) * scale
        row_sd[name] = float(np.std(b, ddof=1)) * np.sqrt(m)
    return _Measured(full, lower, upper, row_sd)


# --- calibration (CBPE) ------------------------------------------------------------------------------


def _expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int) -> float:
    """ECE over equal-count bins of the sorted probabilities (NannyML's `needs_calibration` measure)."""
    order = np.argsort(p, kind="stable")
    p, y = p[order], y[order]
    n = len(p)
    if n <= 2 * bins:
        bins = n // 2
    width = n // bins
    edges = np.arange(0, n + 1, width)
    edges[-1] = n
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        total += (hi - lo) / n * abs(p[lo:hi].mean() - y[lo:hi].mean())
    return total


def _pool_adjacent_violators(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted least-squares non-decreasing fit of `values` (in their order).

    Vectorised pooling: every run of decreasing block means is pooled at once (a sequence of valid
    PAV steps, so the unique solution is the same), until no block mean exceeds the next one.
    """
    sums, counts = values * weights, weights.astype(float)
    sizes = np.ones(len(values), dtype=np.int64)
    while len(sums) > 1:
        means = sums / counts
        falls = means[:-1] > means[1:]
        if not falls.any():
            break
        # A block starts a new pool unless the previous block's mean is above its own.
        starts = np.flatnonzero(np.r_[True, ~falls])
        sums, counts = np.add.reduceat(sums, starts), np.add.reduceat(counts, starts)
        sizes = np.add.reduceat(sizes, starts)
    return np.repeat(sums / counts, sizes)


@dataclass(frozen=True)
class Isotonic:
    """Isotonic calibration of one probability, as scikit-learn's IsotonicRegression(out_of_bounds="clip"):
    labels averaged over equal scores, pooled adjacent violators, linear interpolation between the
    distinct scores, clipped to the fitted range."""

    x: np.ndarray
    y: np.ndarray

    @classmethod
    def fit(cls, score: np.ndarray, target: np.ndarray) -> Isotonic:
        distinct, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
        means = np.bincount(inverse, weights=target, minlength=len(distinct)) / counts
        return cls(distinct, _pool_adjacent_violators(means, counts))

    def __call__(self, score: np.ndarray) -> np.ndarray:
        return np.interp(score, self.x, self.y)


def _stratified_splits(y: np.ndarray, splits: int, test_share: float, seed: int) -> list[np.ndarray]:
    """Test-row indices of `splits` random splits holding `test_share` of each class."""
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(y == c) for c in np.unique(y)]
    out = []
    for _ in range(splits):
        parts = [rng.permutation(rows)[: max(1, round(test_share * len(rows)))] for rows in by_class]
        out.append(np.sort(np.concatenate(parts)))
    return out


def needs_calibration(y: np.ndarray, p: np.ndarray, bins: int = 10, splits: int = 10) -> bool:
    """Whether isotonic calibration lowers the expected calibration error, decided as NannyML does.

    Ten stratified 90/10 splits: calibrate on the 90%, compare the ECE of the pooled 10% parts
    before and after. One class only, or an (almost) perfect ranking: no. (NannyML draws its
    splits with scikit-learn's StratifiedShuffleSplit; ours are numpy's, so a borderline decision
    can differ, where calibrating or not changes the estimate least.)
    """
    if len(np.unique(y)) < 2 or float(_weighted_auc(p, y[None, :], 1 - y[None, :])[0]) > 0.999:
        return False
    tests, raw, calibrated = [], [], []
    for test in _stratified_splits(y, splits, 0.1, seed=42):
        train = np.ones(len(y), dtype=bool)
        train[test] = False
        tests.append(y[test])
        raw.append(p[test])
        calibrated.append(Isotonic.fit(p[train], y[train])(p[test]))
    y_test = np.concatenate(tests)
    before = _expected_calibration_error(y_test, np.concatenate(raw), bins)
    after = _expected_calibration_error(y_test, np.concatenate(calibrated), bins)
    return before > after


def _calibrators(
    reference: _Labelled, k: int, rng: np.random.Generator
) -> list[Callable[[np.ndarray], np.ndarray] | None]:
    """Per class (binary: the positive class only) an isotonic map, or None where none is needed."""
    assert reference.proba is not None
    data = reference
    if len(data) > CALIBRATION_ROWS:
        data = data.take(np.sort(rng.choice(len(data), size=CALIBRATION_ROWS, replace=False)))
    assert data.proba is not None
    y = data.y.astype(np.int64)
    out: list[Callable[[np.ndarray], np.ndarray] | None] = []
    for c in [1] if k == 2 else range(k):
        target = (y == c).astype(float)
        score = data.proba[:, c]
        decide = (
            slice(None) if len(data) <= DECISION_ROWS else slice(None, None, len(data) // DECISION_ROWS + 1)
        )
        needed = needs_calibration(target[decide], score[decide])
        out.append(Isotonic.fit(score, target) if needed else None)
    return out


def _calibrate(
    proba: np.ndarray, calibrators: Sequence[Callable[[np.ndarray], np.ndarray] | None]
) -> np.ndarray:
    k = proba.shape[1]
    if k == 2:
        fit = calibrators[0]
        p1 = proba[:, 1] if fit is None else np.clip(fit(proba[:, 1]), 0.0, 1.0)
        return np.column_stack([1 - p1, p1])
    # One-vs-rest calibrated probabilities, renormalised to sum to one (uniform where all are zero).
    cal = np.column_stack([proba[:, c] if f is None else f(proba[:, c]) for c, f in enumerate(calibrators)])
    total = cal.sum(axis=1, keepdims=True)
    return np.divide(cal, total, out=np.full_like(cal, 1.0 / k), where=total > 0)


def cbpe_estimate(proba: np.ndarray, pred: np.ndarray, calibrated: np.ndarray) -> dict[str, float]:
    """The expected metrics of a window whose true classes follow the calibrated probabilities.

    `proba` are the model's own (n, k) probabilities (they rank the rows for ROC AUC and are scored
    by log loss), `calibrated` the calibrated ones, `pred` the predicted class indices.
    """
    k = proba.shape[1]
    out = {
        name: float(v[0])
        for name, v in _from_confusion(_expected_confusion(calibrated, pred, k), k == 2).items()
    }
    aucs = [
        float(_weighted_auc(proba[:, c], calibrated[None, :, c], 1 - calibrated[None, :, c])[0])
        for c in ([1] if k == 2 else range(k))
    ]
    out["roc_auc"] = float(np.mean(aucs))
    clipped = np.clip(proba, _EPS, 1 - _EPS)
    out["log_loss"] = float(np.mean(-(calibrated * np.log(clipped)).sum(axis=1)))
    return out


# --- frames to arrays --------------------------------------------------------------------------------


def _class_index(values: pd.Series, classes: Sequence[ClassLabel]) -> np.ndarray:
    """Index of each value in `classes`, -1 for a missing or unknown one (1.0 and 1 are the same class)."""
    if all(isinstance(c, int | np.integer) for c in classes):
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        known = np.asarray(classes, dtype=float)
        order = np.argsort(known)
        pos = np.clip(np.searchsorted(known[order], numbers), 0, len(known) - 1)
        hit = known[order][pos] == numbers
        return np.where(hit, order[pos], -1).astype(np.int64)
    text = values.astype("string").to_numpy(dtype=object, na_value=None)
    codes = pd.Categorical(text, categories=[str(c) for c in classes]).codes
    return np.asarray(codes, dtype=np.int64)


def _probabilities(frame: pd.DataFrame, outputs: Outputs, k: int) -> np.ndarray | None:
    if k == 2 and outputs.probability and outputs.probability in frame.columns:
        p1 = _numbers(frame, outputs.probability, len(frame))
        return np.column_stack([1 - p1, p1])
    if (
        k > 2
        and len(outputs.class_probabilities) == k
        and set(outputs.class_probabilities) <= set(frame.columns)
    ):
        proba = np.column_stack([_numbers(frame, c, len(frame)) for c in outputs.class_probabilities])
        total = proba.sum(axis=1, keepdims=True)
        return np.divide(proba, total, out=np.full_like(proba, np.nan), where=total > 0)
    return None


def _arrays(
    frame: pd.DataFrame, task: Task, classes: Sequence[ClassLabel], outputs: Outputs, target: str | None
) -> tuple[_Labelled, np.ndarray]:
    """All rows with usable outputs, and a mask of those among them with a usable label."""
    n = len(frame)
    has_target = target is not None and target in frame.columns
    if task == "regression":
        pred = _numbers(frame, outputs.prediction, n)
        y = _numbers(frame, target if has_target else None, n)
        keep = np.isfinite(pred)
        return _Labelled(y[keep], pred[keep], None), np.isfinite(y[keep])
    k = len(classes)
    proba = _probabilities(frame, outputs, k)
    if outputs.prediction and outputs.prediction in frame.columns:
        pred = _class_index(frame[outputs.prediction], classes)
    elif proba is not None:
        pred = np.where(np.isfinite(proba).all(axis=1), np.argmax(np.nan_to_num(proba, nan=-1.0), axis=1), -1)
    else:
        pred = np.full(n, -1, dtype=np.int64)
    y = _class_index(frame[target], classes) if has_target and target else np.full(n, -1, dtype=np.int64)
    keep = pred >= 0
    if proba is not None:
        keep &= np.isfinite(proba).all(axis=1)
    data = _Labelled(y[keep], pred[keep], None if proba is None else proba[keep])
    return data, data.y >= 0


def _numbers(frame: pd.DataFrame, column: str | None, n: int) -> np.ndarray:
    if not column or column not in frame.columns:
        return np.full(n, np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


# --- the status block --------------------------------------------------------------------------------


def _round(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def _metric_rows(
    names: Sequence[str], values: Mapping[str, float], lower: Mapping[str, float], upper: Mapping[str, float]
) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "value": _round(values[name]),
            "lower": _round(lower[name]),
            "upper": _round(upper[name]),
        }
        for name in names
        if name in values
    ]


def _confusion_status(data: _Labelled, classes: Sequence[ClassLabel]) -> dict[str, Any]:
    k = len(classes)
    conf = _confusion(data.y.astype(np.int64), data.pred.astype(np.int64), k, np.ones((1, len(data))))[0]
    return {"labels": [str(c) for c in classes], "matrix": conf.astype(np.int64).tolist()}


def _block(
    data: _Labelled,
    task: Task,
    classes: Sequence[ClassLabel],
    names: Sequence[str],
    rng: np.random.Generator,
    resamples: int,
    max_rows: int,
) -> tuple[dict[str, Any], _Measured]:
    measured = _bootstrap(data, _metrics(task, len(classes)), rng, resamples, max_rows)
    block: dict[str, Any] = {
        "rows": len(data),
        "metrics": _metric_rows(names, measured.values, measured.lower, measured.upper),
    }
    if task != "regression":
        block["confusion"] = _confusion_status(data, classes)
    return block, measured


def metric_names(task: Task, has_probabilities: bool = True) -> tuple[str, ...]:
    if task == "regression":
        return REGRESSION_METRICS
    if has_probabilities:
        return CLASSIFICATION_METRICS
    return tuple(m for m in CLASSIFICATION_METRICS if m not in ("roc_auc", "log_loss"))


def performance_status(
    task: Task,
    classes: Sequence[ClassLabel],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    target: str,
    outputs: Outputs,
    metric: str | None = None,
    min_labelled_rows: int = 200,
    seed: int = 0,
    resamples: int = RESAMPLES,
    max_bootstrap_rows: int = BOOTSTRAP_ROWS,
) -> dict[str, Any]:
    """The `status.performance` block (docs/driftcheck.md): reference, realized and estimated metrics.

    `classes` are the model's (binary: `outputs.probability` is P(classes[1])); the reference holds
    the label in `target`, the current window holds the joined labels there (null: not arrived).
    Realized metrics need `min_labelled_rows` labelled window rows; the estimate is CBPE for a
    classifier with probabilities, none for a regression.
    """
    rng = np.random.default_rng(seed)
    metric = metric or DEFAULT_METRIC[task]
    reasons: list[str] = []
    if task != "regression" and len(classes) < 2:
        raise ValueError(f"a {task} model needs at least two classes, got {list(classes)}")
    ref_all, ref_labelled = _arrays(reference, task, classes, outputs, target)
    cur_all, cur_labelled = _arrays(current, task, classes, outputs, target)
    names = metric_names(task, ref_all.proba is not None)
    if metric not in names:
        reasons.append(f"metric {metric} is not measured for this {task} model (one of {', '.join(names)})")
    labelled_rows = int(current[target].notna().sum()) if target in current.columns else 0
    out: dict[str, Any] = {
        "task": task,
        "metric": metric,
        "labelledRows": labelled_rows,
        "labelCoverage": _round(labelled_rows / len(current)) if len(current) else 0.0,
        "reference": None,
        "realized": None,
        "estimated": None,
        "drop": None,
    }
    named = [c for c in (outputs.prediction, outputs.probability, *outputs.class_probabilities) if c]
    if not [c for c in named if c in reference.columns]:
        out["reason"] = "no model output column (prediction, probability) is named or in the reference"
        return out
    ref_data = ref_all if ref_labelled.all() else ref_all.take(np.flatnonzero(ref_labelled))
    ref_measured: _Measured | None = None
    if len(ref_data) >= 2:
        out["reference"], ref_measured = _block(
            ref_data, task, classes, names, rng, resamples, max_bootstrap_rows
        )
    else:
        reasons.append("the reference holds no labelled rows with model outputs")
    cur_data = cur_all.take(np.flatnonzero(cur_labelled))
    if len(cur_data) >= max(min_labelled_rows, 2):
        out["realized"], _ = _block(cur_data, task, classes, names, rng, resamples, max_bootstrap_rows)
    else:
        reasons.append(
            f"realized: {len(cur_data)} labelled rows, fewer than the {min_labelled_rows} required"
        )
    if task == "regression":
        reasons.append(NO_REGRESSION_ESTIMATE)
    elif ref_measured is None or ref_data.proba is None or cur_all.proba is None:
        reasons.append("estimated: CBPE needs the model's probabilities and a labelled reference")
    elif len(cur_all) == 0:
        reasons.append("estimated: no window rows with model outputs")
    else:
        out["estimated"] = _estimated(ref_data, cur_all, len(classes), names, ref_measured, rng)
        reasons.append(f"estimated by CBPE on {len(cur_all)} rows ({CBPE_ASSUMPTION})")
    out["reason"] = "; ".join(reasons)
    return out


def _estimated(
    reference: _Labelled,
    current: _Labelled,
    k: int,
    names: Sequence[str],
    ref_measured: _Measured,
    rng: np.random.Generator,
) -> dict[str, Any]:
    assert current.proba is not None
    calibrated = _calibrate(current.proba, _calibrators(reference, k, rng))
    values = cbpe_estimate(current.proba, current.pred.astype(np.int64), calibrated)
    # The sampling band: the metric's standard error at the window's size, from the reference's
    # bootstrap (NannyML too derives its sampling error from the reference).
    n = len(current)
    half = {name: _Z95 * ref_measured.row_sd.get(name, np.nan) / np.sqrt(n) for name in values}
    lower = {name: v - half[name] for name, v in values.items()}
    upper = {name: v + half[name] for name, v in values.items()}
    for name in values:
        if name != "log_loss":
            lower[name], upper[name] = max(lower[name], 0.0), min(upper[name], 1.0)
        else:
            lower[name] = max(lower[name], 0.0)
    return {
        "method": "CBPE",
        "assumption": CBPE_ASSUMPTION,
        "rows": n,
        "metrics": _metric_rows(names, values, lower, upper),
    }


def _task_of(cols: Columns, card: Card | None) -> Task:
    if card is not None and card.task is not None:
        return card.task
    if cols.target_kind == "numerical":
        return "regression"
    return "multiclass" if len(cols.class_probabilities) > 2 else "binary"


def _classes_of(
    task: Task, card: Card | None, reference: pd.DataFrame, target: str
) -> tuple[ClassLabel, ...]:
    if task == "regression":
        return ()
    if card is not None and card.classes:
        return card.classes
    values = pd.Series(reference[target].dropna().unique())
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all() and (numbers == numbers.round()).all():
        return tuple(sorted(int(v) for v in numbers))
    return tuple(sorted(str(v) for v in values))


def check_performance(
    cols: Columns,
    card: Card | None,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    policy: PerformancePolicySpec,
    seed: int = 0,
) -> dict[str, Any] | None:
    """The check's `status.performance`: None without a target (named, or from the model card) in the
    reference; the task and classes from the card, else from the columns and the reference's labels."""
    target = cols.target
    if not target or target not in reference.columns:
        return None
    task = _task_of(cols, card)
    classes = _classes_of(task, card, reference, target)
    if task == "regression":
        outputs = Outputs(prediction=cols.prediction)
    elif task == "binary":
        probability = cols.prediction if cols.prediction_kind == "numerical" else None
        outputs = Outputs(prediction=cols.prediction_class, probability=probability)
    else:
        named = set(cols.class_probabilities)
        per_class = tuple(capture.class_probability_column(c) for c in classes)
        outputs = Outputs(
            prediction=cols.prediction_class,
            class_probabilities=per_class if set(per_class) <= named else (),
        )
    if task != "regression" and len(classes) < 2:
        return None  # a classifier whose reference holds one class only has no metric to speak of
    return performance_status(
        task,
        classes,
        reference,
        current,
        target=target,
        outputs=outputs,
        metric=policy.metric,
        min_labelled_rows=policy.min_labelled_rows,
        seed=seed,
    )
