"""Scoring: a fitted scikit-learn model behind one interface, whatever its task.

`build_scorer` returns a `Scorer` whose `score(rows)` gives, for a classifier, the probability of
each class in the card's `classes` order (shape `(rows, classes)`), and for a regression the
predictions (shape `(rows,)`). `engine` names what computes them, `engine_reason` says why that one
and `max_abs_difference` how far it was from scikit-learn on the reference rows (None: not compared).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.base import BaseEstimator

from driftwatch_inference.model_card import ModelCard

Row = Mapping[str, Any]


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


def build_scorer(model: Any, card: ModelCard, reference: pd.DataFrame | None = None) -> Scorer:
    """The scorer the service uses for `model`; `reference` (feature rows) checks a faster engine."""
    return SklearnScorer(model, card)
