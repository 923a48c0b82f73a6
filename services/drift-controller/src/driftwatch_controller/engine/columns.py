"""Which columns a check monitors: the spec's lists, or every feature of the reference, checked against it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd
from driftwatch_capture import schema as capture

from driftwatch_controller.api.spec import DriftCheckSpec, SpecError
from driftwatch_controller.engine import quality
from driftwatch_controller.engine.datasets import CAPTURE_COLUMNS
from driftwatch_controller.engine.drift_stats import Kind

_NUMERIC = ("int", "float", "bool")


@dataclass
class Columns:
    """The resolved columns of one check."""

    numerical: list[str]
    categorical: list[str]
    prediction: str | None
    prediction_class: str | None
    target: str | None
    class_probabilities: list[str] = field(default_factory=list)
    # A regression's label is a number; a classifier's a class (docs/architecture.md, table of tasks).
    target_kind: Kind = "categorical"
    prediction_kind: Kind = "numerical"

    def outputs(self) -> list[str]:
        """The named model outputs and the label (compared with the reference, never as features)."""
        named = [self.prediction, self.prediction_class, *self.class_probabilities, self.target]
        return [c for c in named if c]

    def ignored(self) -> list[str]:
        """Columns never measured as features: the named outputs and what the capture writer adds."""
        return self.outputs() + list(CAPTURE_COLUMNS)

    def monitored(self) -> set[str]:
        return set(self.numerical) | set(self.categorical)

    def without(self, features: set[str]) -> Columns:
        """The same columns less some features (those the capture does not hold comparably)."""
        return replace(
            self,
            numerical=[c for c in self.numerical if c not in features],
            categorical=[c for c in self.categorical if c not in features],
        )


def target_kind(reference: pd.DataFrame, target: str | None, task: capture.Task | None) -> Kind:
    """Numerical for a regression's label, categorical for a classifier's.

    Without a card saying the task, a float label holding other values than whole numbers is a
    regression's (a 0/1 label read with a missing value is float too, and stays a class).
    """
    if task is not None:
        return "numerical" if task == "regression" else "categorical"
    if not target or target not in reference.columns or quality.dtype_name(reference[target]) != "float":
        return "categorical"
    values = pd.to_numeric(reference[target], errors="coerce").dropna()
    return "numerical" if len(values) and not (values == values.round()).all() else "categorical"


def resolve_columns(
    spec: DriftCheckSpec, reference: pd.DataFrame, task: capture.Task | None = None
) -> Columns:
    """The spec's columns, or the reference's features by type; SpecError when the reference disagrees.

    `task` is the model card's, when the reference has one: it says what kind of value the label is.
    """
    cols = spec.columns
    probabilities = list(dict.fromkeys(cols.class_probabilities))
    if cols.numerical or cols.categorical:
        numerical, categorical = list(cols.numerical), list(cols.categorical)
    else:
        skip = {cols.prediction, cols.prediction_class, cols.target, *probabilities, *CAPTURE_COLUMNS}
        numerical, categorical = [], []
        for name in reference.columns:
            # `prediction`, `probability` and every `probability_<class>` are outputs, never features.
            if name in skip or capture.is_output_column(str(name)):
                continue
            kind = quality.dtype_name(reference[name])
            (numerical if kind in _NUMERIC else categorical).append(str(name))
    # The prediction, class and target columns are compared with the reference too: a misspelt one
    # would otherwise silently drop prediction/target drift, or be monitored as a feature.
    named = (*numerical, *categorical, cols.prediction, cols.prediction_class, *probabilities, cols.target)
    unknown = [c for c in named if c and c not in reference.columns]
    if unknown:
        raise SpecError(f"columns {', '.join(unknown)} are not in the reference dataset")
    for name in numerical:
        kind = quality.dtype_name(reference[name])
        if kind not in _NUMERIC:
            raise SpecError(f"column {name} is listed as numerical but the reference holds {kind} values")
    # Probabilities are compared as numbers: a class column named here would measure nothing.
    for name in probabilities:
        kind = quality.dtype_name(reference[name])
        if kind not in _NUMERIC:
            raise SpecError(f"columns.classProbabilities names {name}, but the reference holds {kind} values")
    # `prediction` is a number (a probability, a regression's value); string classes named there
    # (a classifier's `prediction`) are compared as categories rather than not at all.
    prediction_kind: Kind = "numerical"
    if cols.prediction and quality.dtype_name(reference[cols.prediction]) not in _NUMERIC:
        prediction_kind = "categorical"
    resolved = Columns(
        numerical,
        categorical,
        cols.prediction,
        cols.prediction_class,
        cols.target,
        probabilities,
        target_kind(reference, cols.target, task),
        prediction_kind,
    )
    overrides = set(spec.drift.per_column) - resolved.monitored() - set(resolved.ignored())
    if overrides:
        raise SpecError(f"drift.perColumn names {', '.join(sorted(overrides))}, not a monitored column")
    return resolved
