"""The policy's reading of `status.performance`: which window metric counts, its drop and whether it is
significant (issue 11). Computed here only, so the status' `performance.drop` and the decision agree.

Pure: a status block and `spec.policy.performance` in, a `PerformanceDrop` out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from driftwatch_controller.api import contracts
from driftwatch_controller.api.spec import PerformancePolicySpec

WindowKind = Literal["realized", "estimated"]


@dataclass(frozen=True)
class PerformanceDrop:
    """The headline metric of one window block against the reference; `value` > 0 is always worse."""

    metric: str
    kind: WindowKind
    value: float
    significant: bool
    reference: float
    window: float
    lower: float | None
    upper: float | None
    labelled_rows: int

    def to_status(self) -> dict[str, Any]:
        """`status.performance.drop`."""
        return {
            "metric": self.metric,
            "kind": self.kind,
            "value": self.value,
            "significant": self.significant,
        }

    def describe(self) -> str:
        """E.g. `realized roc_auc 0.74 [0.69, 0.79] vs reference 0.81, a drop of 0.07`."""
        band = "" if self.lower is None or self.upper is None else f" [{self.lower:.3g}, {self.upper:.3g}]"
        return (
            f"{self.kind} {self.metric} {self.window:.3g}{band} vs reference {self.reference:.3g}, "
            f"a drop of {self.value:.3g}"
        )


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _metric(block: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    for entry in (block or {}).get("metrics") or []:
        if entry.get("name") == name and _finite(entry.get("value")) is not None:
            return dict(entry)
    return None


def _window_kind(performance: Mapping[str, Any], policy: PerformancePolicySpec) -> WindowKind | None:
    """The block the policy reads: realized needs enough labels; `either` prefers the labels' truth."""
    labelled = int(performance.get("labelledRows") or 0)
    realized = performance.get("realized") is not None and labelled >= policy.min_labelled_rows
    estimated = performance.get("estimated") is not None
    if policy.kind == "realized":
        return "realized" if realized else None
    if policy.kind == "estimated":
        return "estimated" if estimated else None
    return "realized" if realized else "estimated" if estimated else None


def drop_of(
    metric: str,
    kind: WindowKind,
    reference: Mapping[str, Any],
    window: Mapping[str, Any],
    max_drop: float,
    labelled_rows: int = 0,
) -> PerformanceDrop:
    """The drop of `window` from `reference` (metric entries `{name, value, lower, upper}`).

    Significant when the drop exceeds `max_drop` and the window's interval excludes the reference
    value (for a higher-is-better metric its upper bound is below it), i.e. the drop's interval
    excludes zero. Without an interval a drop is never significant.
    """
    ref, value = float(reference["value"]), float(window["value"])
    lower, upper = _finite(window.get("lower")), _finite(window.get("upper"))
    if metric in contracts.LOWER_IS_BETTER:
        drop, excludes = value - ref, lower is not None and lower > ref
    else:
        drop, excludes = ref - value, upper is not None and upper < ref
    return PerformanceDrop(
        metric=metric,
        kind=kind,
        value=round(drop, 6),
        significant=bool(drop > max_drop and excludes),
        reference=ref,
        window=value,
        lower=lower,
        upper=upper,
        labelled_rows=labelled_rows,
    )


def read_drop(performance: Mapping[str, Any] | None, policy: PerformancePolicySpec) -> PerformanceDrop | None:
    """The policy's reading of a `status.performance` block, None when there is nothing to compare.

    Read whether or not the policy is active: the status and the metrics report the drop either
    way; only `policy.decide` ignores it when the policy is off.
    """
    if not performance:
        return None
    kind = _window_kind(performance, policy)
    metric = str(performance.get("metric") or "")
    if kind is None or not metric:
        return None
    reference = _metric(performance.get("reference"), metric)
    window = _metric(performance.get(kind), metric)
    if reference is None or window is None:
        return None
    labelled = int(performance.get("labelledRows") or 0)
    return drop_of(metric, kind, reference, window, policy.max_drop, labelled)
