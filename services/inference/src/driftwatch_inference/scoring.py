"""Scoring: a fitted scikit-learn model behind one interface, whatever its task.

`build_scorer` returns a `Scorer` whose `score(rows)` gives, for a classifier, the probability of
each class in the card's `classes` order (shape `(rows, classes)`), and for a regression the
predictions (shape `(rows,)`). `engine` names what computes them, `engine_reason` says why that one
and `max_abs_difference` how far it was from scikit-learn on the reference rows (None: not compared).

Engines, each used only when it agrees with scikit-learn within `ENGINE_TOLERANCE` on the reference
rows and on copies of them with a category the card does not list: `closed_form` (`LinearScorer`, a
binary scaler + one-hot + logistic Pipeline's weighted sum, ~2 µs a row), else `onnx`
(onnx_scoring.py: the model converted with skl2onnx, run by onnxruntime, 15-20 µs a row); otherwise
`sklearn`, the fitted estimator on a DataFrame (3-5 ms a row), with the reason in `engine_reason`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from driftwatch_inference.model_card import ModelCard
from driftwatch_inference.onnx_scoring import ConversionError, OnnxScorer, onnx_scorer
from driftwatch_inference.unseen import accepts_unseen

Row = Mapping[str, Any]
# Largest absolute difference from scikit-learn's outputs (probabilities or values) a faster engine
# may show on the reference rows and still be used.
ENGINE_TOLERANCE = 1e-5
# A category no card lists, put in each categorical the card accepts unseen values for, in turn, on
# the first UNSEEN_PROBE_ROWS reference rows: the engines must agree on those too (handle_unknown).
UNSEEN_PROBE = "\x00driftwatch-unseen-category"
UNSEEN_PROBE_ROWS = 100


class Scorer(Protocol):
    """Outputs of the model for rows that hold every feature (already validated)."""

    engine: str
    engine_reason: str
    max_abs_difference: float | None

    def score(self, rows: Sequence[Row]) -> np.ndarray: ...


class UntrustedTypesError(ValueError):
    """The model file needs skops types that nobody reviewed; `types` names them."""

    def __init__(self, types: Sequence[str]) -> None:
        self.types = tuple(types)
        super().__init__(", ".join(self.types))


def load_model_bytes(blob: bytes, trusted: Sequence[str] = ()) -> BaseEstimator:
    """A skops archive's fitted estimator. Beyond skops' default set, only the reviewed `trusted` types load.

    Each type skops reports as untrusted must be named in `trusted`; passing skops its own report
    unchecked would execute whatever the file asks for (issue 10).
    """
    untrusted = sio.get_untrusted_types(data=blob)
    unreviewed = [t for t in untrusted if t not in set(trusted)]
    if unreviewed:
        raise UntrustedTypesError(unreviewed)
    model = sio.loads(blob, trusted=untrusted)
    if not hasattr(model, "predict"):
        raise TypeError(f"the model file holds a {type(model).__name__}, not a fitted scikit-learn estimator")
    return model


def load_model(path: Path, trusted: Sequence[str] = ()) -> BaseEstimator:
    """`load_model_bytes` of a model file."""
    return load_model_bytes(path.read_bytes(), trusted)


def model_outputs(model: Any, frame: pd.DataFrame, card: ModelCard) -> np.ndarray:
    """What `Scorer.score` returns, computed by the scikit-learn model itself on a DataFrame."""
    if not card.is_classifier:
        return np.asarray(model.predict(frame), dtype=np.float64).reshape(-1)
    proba = np.asarray(model.predict_proba(frame), dtype=np.float64)
    order = [list(model.classes_).index(c) for c in card.classes]
    return proba[:, order]


@dataclass
class SklearnScorer:
    """The fitted estimator on a DataFrame of the rows: exact, and the reference for any faster engine."""

    model: Any
    card: ModelCard
    engine: str = "sklearn"
    engine_reason: str = "the scikit-learn model itself"
    max_abs_difference: float | None = None
    _columns: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self._columns = list(self.card.feature_names)

    def score(self, rows: Sequence[Row]) -> np.ndarray:
        frame = pd.DataFrame.from_records(list(rows), columns=self._columns)
        return model_outputs(self.model, frame, self.card)


@dataclass
class LinearScorer:
    """log-odds = bias + sum(weight * x) + sum(category weight): a scaler + one-hot + binary
    LogisticRegression Pipeline's arithmetic, precomputed (a few µs a row, a third more requests per
    core than ONNX end to end on the demo model; docs/benchmarks.md)."""

    bias: float
    numeric_weights: tuple[tuple[str, float], ...]
    category_weights: tuple[tuple[str, Mapping[str, float]], ...]
    # True when the card's second class is the model's `classes_[1]` (the one the log-odds are of).
    positive_second: bool = True
    engine: str = "closed_form"
    engine_reason: str = "the logistic Pipeline's closed form"
    max_abs_difference: float | None = None

    def score(self, rows: Sequence[Row]) -> np.ndarray:
        out = np.empty((len(rows), 2))
        for i, row in enumerate(rows):
            z = self.bias
            for name, weight in self.numeric_weights:
                z += weight * row[name]
            for name, table in self.category_weights:
                z += table.get(row[name], 0.0)
            # Two branches keep exp() from overflowing for large |z|, as scipy's expit does.
            p = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
            out[i] = (1.0 - p, p) if self.positive_second else (p, 1.0 - p)
        return out


def linear_scorer(model: Any, card: ModelCard) -> LinearScorer | None:
    """The closed form of a binary StandardScaler + OneHotEncoder + LogisticRegression Pipeline; None
    for any other shape."""
    if card.task != "binary" or not isinstance(model, Pipeline) or len(model.steps) != 2:
        return None
    pre, clf = model.steps[0][1], model.steps[1][1]
    if not isinstance(pre, ColumnTransformer) or not isinstance(clf, LogisticRegression):
        return None
    if clf.coef_.shape[0] != 1 or pre.remainder != "drop" or not pre.transformers_:
        return None
    coef = [float(c) for c in clf.coef_[0]]
    bias = float(clf.intercept_[0])
    numeric: list[tuple[str, float]] = []
    categories: list[tuple[str, Mapping[str, float]]] = []
    for name, transformer, columns in pre.transformers_:
        if name == "remainder" and transformer == "drop":
            continue
        block = pre.output_indices_[name]
        weights = coef[block.start : block.stop]
        if isinstance(transformer, StandardScaler):
            mean = transformer.mean_ if transformer.with_mean else [0.0] * len(columns)
            scale = transformer.scale_ if transformer.with_std else [1.0] * len(columns)
            for column, w, m, sd in zip(columns, weights, mean, scale, strict=True):
                numeric.append((column, w / float(sd)))
                bias -= w * float(m) / float(sd)
        elif (
            isinstance(transformer, OneHotEncoder)
            and transformer.drop is None
            and transformer.handle_unknown == "ignore"
        ):
            offset = 0
            for column, cats in zip(columns, transformer.categories_, strict=True):
                categories.append((column, {str(c): weights[offset + i] for i, c in enumerate(cats)}))
                offset += len(cats)
        else:
            return None
    positive_second = list(card.classes) == list(clf.classes_)
    return LinearScorer(bias, tuple(numeric), tuple(categories), positive_second)


def build_scorer(model: Any, card: ModelCard, reference: pd.DataFrame | None = None) -> Scorer:
    """The scorer the service uses for `model`; `reference` (feature rows) checks a faster engine.

    When a reference is given: the closed form of a scaler + one-hot + logistic Pipeline, else ONNX
    if the model converts, each only if within ENGINE_TOLERANCE of the model's outputs on the
    reference rows; otherwise the scikit-learn model, `engine_reason` saying why.
    """
    if reference is None or reference.empty:
        return SklearnScorer(model, card, engine_reason="no reference rows to check a faster engine on")
    closed = linear_scorer(model, card)
    if closed is not None and not isinstance(_check(closed, model, card, reference), str):
        return closed
    try:
        fast = onnx_scorer(model, card)
    except ConversionError as exc:
        return SklearnScorer(model, card, engine_reason=str(exc))
    checked = _check(fast, model, card, reference)
    if isinstance(checked, str):
        return SklearnScorer(model, card, engine_reason=checked, max_abs_difference=fast.max_abs_difference)
    return fast


_Fast = TypeVar("_Fast", OnnxScorer, LinearScorer)


def _check(fast: _Fast, model: Any, card: ModelCard, reference: pd.DataFrame) -> _Fast | str:
    """`fast` with its difference from scikit-learn set, or why it is not used (one line)."""
    frame = reference[list(card.feature_names)].reset_index(drop=True)
    frames, what = [frame], f"{len(frame)} reference rows"
    probes = _unseen_probes(model, card, frame.head(UNSEEN_PROBE_ROWS))
    if probes is not None:
        frames.append(probes)
        what += f" (+{len(probes)} with unseen categories)"
    try:
        expected = np.concatenate([model_outputs(model, f, card) for f in frames])
        got = np.concatenate([fast.score(f.to_dict("records")) for f in frames])
    except Exception as exc:  # onnxruntime or the model failing on the rows: keep the scikit-learn model
        return (
            f"{fast.engine} not checked on {what}: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
        )
    if got.shape != expected.shape:
        return f"{fast.engine} outputs have shape {got.shape}, scikit-learn's {expected.shape}, on {what}"
    difference = float(np.max(np.abs(got - expected)))
    fast.max_abs_difference = difference
    if not difference <= ENGINE_TOLERANCE:  # NaN included
        return f"ONNX differs from scikit-learn by {difference:.1e} > {ENGINE_TOLERANCE:.0e} on {what}"
    fast.engine_reason += f", within {difference:.1e} of scikit-learn on {what}"
    return fast


def _unseen_probes(model: Any, card: ModelCard, frame: pd.DataFrame) -> pd.DataFrame | None:
    """Copies of `frame`, one per categorical the card accepts unseen values for, with UNSEEN_PROBE in
    it; None if there is none, or if scikit-learn itself refuses such a row (the service would not)."""
    names = [f.name for f in card.features if f.kind == "categorical" and accepts_unseen(card, f)]
    if not names or frame.empty:
        return None
    probes = pd.concat([frame.assign(**{name: UNSEEN_PROBE}) for name in names], ignore_index=True)
    try:
        model_outputs(model, probes.head(1), card)
    except Exception:  # e.g. handle_unknown="error" that the packager did not probe
        return None
    return probes
