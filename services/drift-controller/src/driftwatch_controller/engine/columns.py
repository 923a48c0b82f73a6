"""Which columns a check monitors: the spec's lists, or every feature of the reference, checked against it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from driftwatch_controller.api.spec import DriftCheckSpec, SpecError
from driftwatch_controller.engine import quality
from driftwatch_controller.engine.datasets import CAPTURE_COLUMNS, CAPTURE_OUTPUTS

_NUMERIC = ("int", "float", "bool")


@dataclass
class Columns:
    """The resolved columns of one check."""

    numerical: list[str]
    categorical: list[str]
    prediction: str | None
    prediction_class: str | None
    target: str | None

    def ignored(self) -> list[str]:
        """Columns never measured as features: the named outputs and what the capture writer adds."""
        return [c for c in (self.prediction, self.prediction_class, self.target) if c] + list(CAPTURE_COLUMNS)

    def monitored(self) -> set[str]:
        return set(self.numerical) | set(self.categorical)


def resolve_columns(spec: DriftCheckSpec, reference: pd.DataFrame) -> Columns:
    """The spec's columns, or the reference's features by type; SpecError when the reference disagrees."""
    cols = spec.columns
    if cols.numerical or cols.categorical:
        numerical, categorical = list(cols.numerical), list(cols.categorical)
    else:
        skip = {cols.prediction, cols.prediction_class, cols.target, *CAPTURE_COLUMNS, *CAPTURE_OUTPUTS}
        numerical, categorical = [], []
        for name in reference.columns:
            if name in skip:
                continue
            kind = quality.dtype_name(reference[name])
            (numerical if kind in _NUMERIC else categorical).append(str(name))
    # The prediction, class and target columns are compared with the reference too: a misspelt one
    # would otherwise silently drop prediction/target drift, or be monitored as a feature.
    named = (*numerical, *categorical, cols.prediction, cols.prediction_class, cols.target)
    unknown = [c for c in named if c and c not in reference.columns]
    if unknown:
        raise SpecError(f"columns {', '.join(unknown)} are not in the reference dataset")
    for name in numerical:
        kind = quality.dtype_name(reference[name])
        if kind not in _NUMERIC:
            raise SpecError(f"column {name} is listed as numerical but the reference holds {kind} values")
    resolved = Columns(numerical, categorical, cols.prediction, cols.prediction_class, cols.target)
    overrides = set(spec.drift.per_column) - resolved.monitored() - set(resolved.ignored())
    if overrides:
        raise SpecError(f"drift.perColumn names {', '.join(sorted(overrides))}, not a monitored column")
    return resolved
