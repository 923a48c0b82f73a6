"""Scoring one column: both sides as samples, the spec's method and threshold (calibrated or fixed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from driftwatch_controller.api.spec import DriftCheckSpec, SpecError
from driftwatch_controller.engine import datasets, drift_stats
from driftwatch_controller.engine.calibration import Calibrator, ReferenceColumn
from driftwatch_controller.engine.drift_stats import Kind, Sample


def _round(value: float) -> float | None:
    # Scores are shown and compared by people; 6 significant digits keep the JSON stable and readable.
    # A non-finite score (e.g. a divergence against an empty bin) is null: JSON has no infinity.
    return float(f"{value:.6g}") if np.isfinite(value) else None


@dataclass
class ColumnResult:
    """One monitored column's drift measurement."""

    name: str
    type: str
    method: str
    score: float
    threshold: float
    drifted: bool

    def to_status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "method": self.method,
            "score": _round(self.score),
            "threshold": _round(self.threshold),
            "drifted": self.drifted,
        }

    def side_status(self, **extra: Any) -> dict[str, Any]:
        """As `status.predictionDrift` / `targetDrift` show it: the column, no type."""
        out = self.to_status()
        return {"column": out.pop("name"), **{k: v for k, v in out.items() if k != "type"}, **extra}


def samples(reference: pd.Series, current: pd.Series, kind: Kind) -> tuple[Sample, Sample]:
    """Both sides as sorted samples: finite floats, or codes into one sorted codebook of both sides."""
    if kind == "numerical":
        ref, cur = datasets.as_float(reference), datasets.as_float(current)
        return Sample.of(ref[np.isfinite(ref)]), Sample.of(cur[np.isfinite(cur)])
    # Factorize each side (a hash pass), then map the few distinct labels onto a shared sorted
    # codebook; mapping every row through a Python dict is ten times slower at 1M rows.
    ref_codes, ref_labels = pd.factorize(reference)
    cur_codes, cur_labels = pd.factorize(current)
    ref_text = [datasets.category_label(v) for v in ref_labels]
    cur_text = [datasets.category_label(v) for v in cur_labels]
    book = {label: i for i, label in enumerate(sorted(set(ref_text) | set(cur_text)))}
    ref_map = np.array([book[t] for t in ref_text], dtype=np.int64)
    cur_map = np.array([book[t] for t in cur_text], dtype=np.int64)
    return Sample.of(ref_map[ref_codes[ref_codes >= 0]]), Sample.of(cur_map[cur_codes[cur_codes >= 0]])


class Measurer:
    """Scores columns with the spec's methods and thresholds (calibrated against the reference)."""

    def __init__(self, spec: DriftCheckSpec, calibrator: Calibrator) -> None:
        self.spec = spec
        self.calibrator = calibrator

    def method_and_fixed_threshold(
        self, name: str, kind: Kind, ref: Sample, cur: Sample
    ) -> tuple[str, float | None]:
        override = self.spec.drift.per_column.get(name)
        method: str = (override.method if override and override.method else None) or self.spec.drift.method
        if method == "auto":
            method = drift_stats.auto_method(kind, drift_stats.n_unique(ref, cur))
        if kind not in drift_stats.METHOD_INFO[method].kinds:
            raise SpecError(f"method {method} does not apply to {kind} column {name}")
        if override and override.threshold is not None:
            return method, override.threshold
        if self.spec.drift.thresholds == "fixed":
            threshold = self.spec.drift.threshold
            return method, drift_stats.METHOD_INFO[
                method
            ].default_threshold if threshold is None else threshold
        return method, None

    def method_and_threshold(self, name: str, kind: Kind, ref: Sample, cur: Sample) -> tuple[str, float]:
        """The column's method and threshold: fixed by the spec, else calibrated for the window's size."""
        method, threshold = self.method_and_fixed_threshold(name, kind, ref, cur)
        if threshold is None:
            threshold = self.calibrator.threshold(
                method, ReferenceColumn.from_counts(ref.support, ref.counts, kind), cur.size
            )
        return method, threshold

    def measure(self, name: str, kind: Kind, reference: pd.Series, current: pd.Series) -> ColumnResult | None:
        return self.measure_samples(name, kind, *samples(reference, current, kind))

    def measure_samples(self, name: str, kind: Kind, ref: Sample, cur: Sample) -> ColumnResult | None:
        """`measure` of both sides already as samples (engine/segments.py slices them from one pass)."""
        if ref.size == 0 or cur.size == 0:
            return None
        method, threshold = self.method_and_threshold(name, kind, ref, cur)
        score = drift_stats.statistic(method, ref, cur, kind)
        return ColumnResult(
            name, kind, method, score, threshold, drift_stats.is_drifted(method, score, threshold)
        )
