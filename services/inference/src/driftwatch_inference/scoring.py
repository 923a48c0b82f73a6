"""Scoring: the fitted Pipeline, and its exact closed form for the single-row hot path.

A 1-row `Pipeline.predict_proba` on a DataFrame costs about a millisecond of pandas and sklearn
dispatch, which caps a one-core server near 1,000 rps. The churn Pipeline is
StandardScaler + OneHotEncoder + LogisticRegression, whose log-odds are a weighted sum; `LinearScorer`
folds the fitted scaler into the weights and the one-hot columns into per-category lookups, so a row
costs a few microseconds. A unit test asserts it equals the Pipeline's output; any other fitted
Pipeline shape falls back to the Pipeline itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

Row = Mapping[str, Any]


class Scorer(Protocol):
    """Probability of the positive class for each row (rows hold every feature, already validated)."""

    def probabilities(self, rows: Sequence[Row]) -> list[float]: ...


class UntrustedTypesError(ValueError):
    """The model file needs skops types that nobody reviewed; `types` names them."""

    def __init__(self, types: Sequence[str]) -> None:
        self.types = tuple(types)
        super().__init__(", ".join(self.types))


def load_pipeline_bytes(blob: bytes, trusted: Sequence[str] = ()) -> Pipeline:
    """A skops archive's Pipeline. Beyond skops' default set, only the reviewed `trusted` types load.

    Each type skops reports as untrusted must be named in `trusted`; passing skops its own report
    unchecked would execute whatever the file asks for (issue 10).
    """
    unreviewed = [t for t in sio.get_untrusted_types(data=blob) if t not in set(trusted)]
    if unreviewed:
        raise UntrustedTypesError(unreviewed)
    model = sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
    if not isinstance(model, Pipeline):
        raise TypeError(f"the model file holds a {type(model).__name__}, expected a scikit-learn Pipeline")
    return model


def load_pipeline(path: Path, trusted: Sequence[str] = ()) -> Pipeline:
    """`load_pipeline_bytes` of a model file."""
    return load_pipeline_bytes(path.read_bytes(), trusted)


@dataclass(frozen=True)
class PipelineScorer:
    """The general path: the fitted Pipeline on a DataFrame."""

    pipeline: Pipeline
    feature_names: tuple[str, ...]

    def probabilities(self, rows: Sequence[Row]) -> list[float]:
        frame = pd.DataFrame.from_records(list(rows), columns=list(self.feature_names))
        return [float(p) for p in self.pipeline.predict_proba(frame)[:, 1]]


@dataclass(frozen=True)
class LinearScorer:
    """log-odds = bias + sum(weight * x) + sum(category weight): the Pipeline's arithmetic, precomputed."""

    bias: float
    numeric_weights: tuple[tuple[str, float], ...]
    category_weights: tuple[tuple[str, Mapping[str, float]], ...]

    def logit(self, row: Row) -> float:
        total = self.bias
        for name, weight in self.numeric_weights:
            total += weight * row[name]
        for name, table in self.category_weights:
            total += table.get(row[name], 0.0)
        return total

    def probabilities(self, rows: Sequence[Row]) -> list[float]:
        out = []
        for row in rows:
            z = self.logit(row)
            # Two branches keep exp() from overflowing for large |z|, as scipy's expit does.
            out.append(1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z)))
        return out


def linear_scorer(pipeline: Pipeline) -> LinearScorer | None:
    """The closed form of scaler + one-hot + binary logistic Pipelines; None for any other shape."""
    if len(pipeline.steps) != 2:
        return None
    pre, clf = pipeline.steps[0][1], pipeline.steps[1][1]
    if not isinstance(pre, ColumnTransformer) or not isinstance(clf, LogisticRegression):
        return None
    if clf.coef_.shape[0] != 1 or pre.remainder != "drop" or len(pre.transformers_) < 1:
        return None
    coef = [float(c) for c in clf.coef_[0]]
    bias = float(clf.intercept_[0])
    numeric: list[tuple[str, float]] = []
    categories: list[tuple[str, dict[str, float]]] = []
    for name, transformer, columns in pre.transformers_:
        if name == "remainder" and transformer == "drop":
            continue
        block = pre.output_indices_[name]
        weights = coef[block.start : block.stop]
        if isinstance(transformer, StandardScaler):
            mean = transformer.mean_ if transformer.with_mean else [0.0] * len(columns)
            scale = transformer.scale_ if transformer.with_std else [1.0] * len(columns)
            for column, w, m, s in zip(columns, weights, mean, scale, strict=True):
                numeric.append((column, w / float(s)))
                bias -= w * float(m) / float(s)
        elif isinstance(transformer, OneHotEncoder) and transformer.drop is None:
            offset = 0
            for column, cats in zip(columns, transformer.categories_, strict=True):
                table = {str(c): weights[offset + i] for i, c in enumerate(cats)}
                categories.append((column, table))
                offset += len(cats)
        else:
            return None
    return LinearScorer(bias=bias, numeric_weights=tuple(numeric), category_weights=tuple(categories))


def build_scorer(pipeline: Pipeline, feature_names: Sequence[str]) -> Scorer:
    """The fast closed form when the Pipeline has that shape, else the Pipeline itself."""
    fast = linear_scorer(pipeline)
    return fast if fast is not None else PipelineScorer(pipeline, tuple(feature_names))
