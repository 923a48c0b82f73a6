"""Values outside the card's domain that the model accepts (`unseen: accept`): the drift signal, counted.

A category the card does not list, or a number outside its `valid_range`, is scored rather than refused
when the card accepts it, and counted in `driftwatch_feature_invalid_total{action="accepted"}`. Two
ways to find them, the same answer: `UnseenCheck.__call__` on one validated row (the request path), and
`UnseenCheck.count_columns` on the capture's converted columns, a few vectorized comparisons for
thousands of rows (the capture's flusher, when it sees every row unchanged: docs/metrics.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from driftwatch_inference.model_card import FeatureSpec, ModelCard


def accepts_unseen(card: ModelCard, feature: FeatureSpec) -> bool:
    """True when a value outside the card's domain is scored and counted rather than refused."""
    return card.unseen == "accept" and (feature.kind == "numerical" or feature.accepts_unseen)


class UnseenCheck:
    """Which accepted features of validated rows hold a value outside the card's domain.

    Built once per model. The usual row (nothing unseen) is one plain loop over the features: a dict
    lookup and a set membership or a chained comparison each, which CPython 3.11 specializes; measured
    at 0.74 µs a row for the demo card against 1.43 µs for two `all(map(...))` passes over
    `itemgetter` tuples (docs/benchmarks.md, "Request path"). Only a row that fails is walked again to
    name every feature it holds unseen."""

    def __init__(
        self,
        categorical: Sequence[tuple[str, frozenset[str]]],
        numerical: Sequence[tuple[str, float, float]],
    ) -> None:
        self._categorical = tuple(categorical)
        self._numerical = tuple(numerical)
        self.features: tuple[str, ...] = (
            *(name for name, _ in categorical),
            *(name for name, _, _ in numerical),
        )
        # The known categories as Arrow arrays, for `count_columns`.
        self._value_sets = {name: pa.array(sorted(known), pa.string()) for name, known in categorical}

    def only(self, names: Iterable[str]) -> UnseenCheck | None:
        """The check of `names` alone (None when it checks none of them)."""
        kept = set(names)
        categorical = [(n, known) for n, known in self._categorical if n in kept]
        numerical = [(n, low, high) for n, low, high in self._numerical if n in kept]
        return UnseenCheck(categorical, numerical) if categorical or numerical else None

    def __call__(self, row: Mapping[str, Any]) -> Sequence[str]:
        for name, known in self._categorical:
            if row[name] not in known:
                return self._unseen(row)
        for name, low, high in self._numerical:
            if not low <= row[name] <= high:
                return self._unseen(row)
        return ()

    def _unseen(self, row: Mapping[str, Any]) -> list[str]:
        unseen = [name for name, known in self._categorical if row[name] not in known]
        return unseen + [name for name, low, high in self._numerical if not low <= row[name] <= high]

    def count_columns(self, table: pa.Table) -> dict[str, int]:
        """Rows of `table` (validated rows, its columns named as the features) with each checked feature
        unseen, as `__call__` would find them one row at a time."""
        counts: dict[str, int] = {}
        for name, _ in self._categorical:
            column = table.column(name)
            known = pc.sum(pc.is_in(column, value_set=self._value_sets[name])).as_py() or 0
            counts[name] = len(column) - column.null_count - known
        for name, low, high in self._numerical:
            column = table.column(name)
            outside = pc.or_(pc.less(column, low), pc.greater(column, high))
            counts[name] = pc.sum(outside).as_py() or 0
        return counts


def unseen_features(card: ModelCard) -> UnseenCheck | None:
    """The check of the features the card accepts unseen values for; None when it accepts none."""
    accepted = [f for f in card.features if accepts_unseen(card, f)]
    categorical = [(f.name, frozenset(f.categories)) for f in accepted if f.kind == "categorical"]
    numerical = [
        (f.name, _bound(f, f.valid_min), _bound(f, f.valid_max))
        for f in accepted
        if f.kind != "categorical" and f.valid_min is not None and f.valid_max is not None
    ]
    if not categorical and not numerical:
        return None
    return UnseenCheck(categorical, numerical)


def _bound(feature: FeatureSpec, value: Any) -> float:
    """A range bound as the row's values come: an int for an int feature (its values are ints, and
    int-to-int comparisons are specialized by the interpreter), a float otherwise."""
    return int(value) if feature.dtype == "int" and float(value).is_integer() else float(value)
