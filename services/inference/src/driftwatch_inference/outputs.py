"""A model's raw outputs as the service answers, captures and counts them, for each task.

`Scorer.score` gives class probabilities (classifiers) or values (regression); `interpret` turns them
into one `Scored` per row: the predicted class or value, the probability the client sees, and for a
multiclass model every class's probability. The capture's output columns follow the same order as
`driftwatch_capture.schema.output_fields`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftwatch_inference.model_card import ClassLabel, ModelCard


@dataclass(frozen=True, slots=True)
class Scored:
    """One scored row."""

    request_id: str
    prediction: ClassLabel | float
    # binary: of the positive class; multiclass: of the predicted class; regression: None.
    probability: float | None
    # multiclass only: every class's probability, keyed by the class as text (JSON object keys).
    probabilities: dict[str, float] | None

    def outputs(self) -> tuple[Any, ...]:
        """The capture's output columns of this row (after the features)."""
        if self.probability is None:
            return (self.prediction,)
        if self.probabilities is None:
            return (self.prediction, self.probability)
        return (self.prediction, self.probability, *self.probabilities.values())

    def answer(self) -> dict[str, Any]:
        """The row as /v1/predict returns it."""
        out: dict[str, Any] = {"prediction": self.prediction}
        if self.probability is not None:
            out["probability"] = self.probability
        if self.probabilities is not None:
            out["probabilities"] = self.probabilities
        out["request_id"] = self.request_id
        return out


def outputs_of(task: str) -> Callable[[Scored], tuple[Any, ...]]:
    """`Scored.outputs` for the rows of a `task` model: for a binary one a C call (`attrgetter`) rather
    than a method's frame, on every captured row."""
    if task == "binary":
        return operator.attrgetter("prediction", "probability")
    return Scored.outputs


def interpret(card: ModelCard, raw: np.ndarray, new_id: Callable[[], str]) -> list[Scored]:
    """One `Scored` per row of `raw` (a Scorer's output for `card`'s model), each with an id from
    `new_id` (request_ids.RequestIds.take)."""
    if card.task == "regression":
        return [Scored(new_id(), float(v), None, None) for v in raw.tolist()]
    classes: Sequence[ClassLabel] = card.classes
    if card.task == "binary":
        negative, positive = classes
        # Ties go to the first class, as scikit-learn's argmax does.
        return [Scored(new_id(), positive if p > 0.5 else negative, p, None) for p in raw[:, 1].tolist()]
    keys = [str(c) for c in classes]
    best = raw.argmax(axis=1).tolist()
    return [
        Scored(new_id(), classes[b], float(row[b]), dict(zip(keys, row, strict=True)))
        for b, row in zip(best, raw.tolist(), strict=True)
    ]
