"""The DriftCheck status, written in one place: conditions, history, run ids and the merge before a patch.

The engine decides (`RunOutcome`); `check_status` renders it with what the previous status carries
forward; `finalize_status` merges it with what the controller wrote meanwhile (Ready); the controller
sets Ready with `ready_conditions`. A merge patch replaces lists, so each returns whole lists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from driftwatch_controller.api import contracts
from driftwatch_controller.api.times import iso_or_none, parse_time, rfc3339, run_id

_ORDER = {type_: index for index, type_ in enumerate(contracts.CONDITION_ORDER)}


def _sorted(conditions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(conditions, key=lambda c: _ORDER.get(str(c.get("type")), len(_ORDER)))


def get_condition(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    for condition in conditions or ():
        if condition.get("type") == type_:
            return dict(condition)
    return None


def set_condition(
    conditions: Iterable[Mapping[str, Any]] | None,
    *,
    type_: str,
    status: bool | str,
    reason: str,
    message: str,
    generation: int | None,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Set one condition, keep the others; lastTransitionTime moves only when the status changes."""
    status_text = status if isinstance(status, str) else ("True" if status else "False")
    condition: dict[str, Any] = {"type": type_, "status": status_text, "reason": reason, "message": message}
    if generation is not None:
        condition["observedGeneration"] = int(generation)
    return merge_conditions(conditions, [condition], now=now)


def merge_conditions(
    existing: Iterable[Mapping[str, Any]] | None,
    updates: Iterable[Mapping[str, Any]] | None,
    *,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Conditions `updates` sets replace the same types in `existing`; the others are kept as they were.

    A replaced condition keeps its lastTransitionTime when its status is unchanged, and its
    observedGeneration when the update has none; a new transition is dated `now`.
    """
    merged = {str(c.get("type")): dict(c) for c in existing or ()}
    for condition in updates or ():
        type_ = str(condition.get("type"))
        previous = merged.get(type_)
        new = dict(condition)
        if "message" in new:
            new["message"] = str(new["message"])[:1024]
        if previous is not None and previous.get("status") == new.get("status"):
            new["lastTransitionTime"] = previous.get("lastTransitionTime", new.get("lastTransitionTime"))
        if not new.get("lastTransitionTime") and now is not None:
            new["lastTransitionTime"] = rfc3339(now)
        if "observedGeneration" not in new and previous is not None and "observedGeneration" in previous:
            new["observedGeneration"] = previous["observedGeneration"]
        merged[type_] = new
    return _sorted(merged.values())


def ready_conditions(
    conditions: Iterable[Mapping[str, Any]] | None,
    *,
    ready: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """The controller's Ready; the check's conditions are Unknown until a first run sets them, so that
    every condition exists from the first reconcile on (`kubectl wait --for=condition=Drifted` works)."""
    new = set_condition(
        conditions, type_=contracts.READY_CONDITION, status=ready, reason=reason, message=message,
        generation=generation, now=now,
    )  # fmt: skip
    for type_ in contracts.CHECK_CONDITIONS:
        if get_condition(new, type_) is None:
            new = set_condition(
                new, type_=type_, status="Unknown", reason="NotRunYet", message="no check has run yet",
                generation=generation, now=now,
            )  # fmt: skip
    return new


@dataclass(frozen=True)
class Carried:
    """What a run takes over from the previous status."""

    runs: int = 0
    runs_by_verdict: Mapping[str, int] = field(default_factory=dict)
    history: Sequence[Mapping[str, Any]] = ()
    conditions: Sequence[Mapping[str, Any]] = ()
    consecutive_drift_runs: int = 0
    last_retrain_recommendation: dt.datetime | None = None
    last_successful_run_time: str | None = None

    @classmethod
    def from_status(cls, previous: Mapping[str, Any] | None) -> Carried:
        prev = dict(previous or {})
        return cls(
            runs=int(prev.get("runs") or 0),
            runs_by_verdict=dict(prev.get("runsByVerdict") or {}),
            history=list(prev.get("history") or []),
            conditions=list(prev.get("conditions") or []),
            consecutive_drift_runs=int(prev.get("consecutiveDriftRuns") or 0),
            last_retrain_recommendation=parse_time(prev.get("lastRetrainRecommendationTime")),
            last_successful_run_time=prev.get("lastSuccessfulRunTime"),
        )


@dataclass(frozen=True)
class RunOutcome:
    """What one check measured and decided, as plain values; `check_status` renders it."""

    now: dt.datetime
    carried: Carried
    verdict: contracts.Verdict
    recommendation: contracts.Recommendation
    reason: str
    measured: bool
    drift_share: float
    drifted_columns: int
    monitored_columns: int
    rows: Mapping[str, int | float]
    window: tuple[dt.datetime, dt.datetime] | None
    thresholds: str
    columns: Sequence[Mapping[str, Any]]
    prediction_drift: Mapping[str, Any] | None
    target_drift: Mapping[str, Any] | None
    data_quality: Mapping[str, Any]
    consecutive_drift_runs: int
    last_retrain_recommendation: dt.datetime | None
    report_uri: str | None = None
    # status.performance as the engine computed it (issue 11); the summary line is added here.
    performance: Mapping[str, Any] | None = None
    # The run's performance drop counted towards Retrain: marks its history entry for the streak.
    performance_degraded: bool = False
    # Capture files of the window not read (unreadable, or another column type): all counted, the
    # first few named as {name, reason} (issue 12).
    skipped_files: int = 0
    skipped_named: Sequence[Mapping[str, str]] = ()
    # Drift per segment (spec.segments, issue 13): the worst segments, and how many were measured.
    segments: Sequence[Mapping[str, Any]] = ()
    segment_counts: Mapping[str, int] | None = None
    # Which engine computed the per-column distributions (spec.engine).
    engine: str = "numpy"
    # What the run read of its window (spec.drift.data), and why when sketches were asked for.
    data_path: str = "rows"
    data_path_reason: str | None = None
    # status.multivariate (issue 13): PCA reconstruction drift, or why it was skipped; None when off.
    multivariate: Mapping[str, Any] | None = None


def _headline(block: Mapping[str, Any] | None, metric: str) -> float | None:
    for entry in (block or {}).get("metrics") or []:
        value = entry.get("value")
        if entry.get("name") == metric and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def performance_summary(performance: Mapping[str, Any]) -> str:
    """One line for `kubectl get -o wide` and describe, e.g.
    `roc_auc 0.74 realized (reference 0.81, drop 0.07, significant)`."""
    metric = str(performance.get("metric") or "")
    reference = _headline(performance.get("reference"), metric)
    drop = performance.get("drop") or {}
    kinds = [drop["kind"]] if drop.get("kind") else ["realized", "estimated"]
    window = next(
        ((kind, v) for kind in kinds if (v := _headline(performance.get(kind), metric)) is not None), None
    )
    notes = [] if reference is None else [f"reference {reference:.3g}"]
    if window is None:
        notes.append(f"no window metric, {int(performance.get('labelledRows') or 0)} labelled rows")
        return f"{metric} ({', '.join(notes)})"
    kind, value = window
    if isinstance(drop.get("value"), int | float):
        notes.append(f"drop {drop['value']:.3g}" + (", significant" if drop.get("significant") else ""))
    return f"{metric} {value:.3g} {kind}" + (f" ({', '.join(notes)})" if notes else "")


def _bookkeeping(
    carried: Carried,
    verdict: str,
    recommendation: str,
    drift_share: float | None,
    now: dt.datetime,
    performance_degraded: bool = False,
) -> dict[str, Any]:
    by_verdict = dict(carried.runs_by_verdict)
    by_verdict[verdict] = int(by_verdict.get(verdict, 0)) + 1
    entry: dict[str, Any] = {
        "time": rfc3339(now),
        "runId": run_id(now),
        "verdict": verdict,
        "driftShare": drift_share,
        "recommendation": recommendation,
    }
    if performance_degraded:  # only when true: the streak reads it, other runs need not carry it
        entry["performanceDegraded"] = True
    return {
        "runs": carried.runs + 1,
        "runsByVerdict": dict(sorted(by_verdict.items())),
        "history": [entry, *carried.history][: contracts.HISTORY_LIMIT],
        "lastRunTime": rfc3339(now),
    }


def _check_conditions(
    carried: Carried, drifted: str, drifted_reason: str, retrain: str, retrain_reason: str, message: str,
    now: dt.datetime,
) -> list[dict[str, Any]]:  # fmt: skip
    updates = [
        {"type": "Drifted", "status": drifted, "reason": drifted_reason, "message": message},
        {"type": "RetrainRecommended", "status": retrain, "reason": retrain_reason, "message": message},
    ]
    return merge_conditions(carried.conditions, updates, now=now)


def check_status(outcome: RunOutcome) -> dict[str, Any]:
    """The status a run writes (docs/driftcheck.md), without Ready and observedGeneration."""
    o, now = outcome, outcome.now.astimezone(dt.UTC)
    window = None if o.window is None else {"start": rfc3339(o.window[0]), "end": rfc3339(o.window[1])}
    status: dict[str, Any] = {
        "verdict": o.verdict,
        "recommendation": o.recommendation,
        "reason": o.reason,
        "runId": run_id(now),
        "driftShare": o.drift_share,
        "driftedColumns": o.drifted_columns,
        "monitoredColumns": o.monitored_columns,
        "rows": dict(o.rows),
        "window": window,
        "thresholds": o.thresholds,
        "columns": [dict(c) for c in o.columns],
        "predictionDrift": None if o.prediction_drift is None else dict(o.prediction_drift),
        "targetDrift": None if o.target_drift is None else dict(o.target_drift),
        "dataQuality": dict(o.data_quality),
        "performance": None
        if o.performance is None
        else {"summary": performance_summary(o.performance), **o.performance},
        **_bookkeeping(
            o.carried,
            o.verdict,
            o.recommendation,
            o.drift_share if o.measured else None,
            now,
            o.performance_degraded,
        ),
        "lastSuccessfulRunTime": rfc3339(now),
        "consecutiveDriftRuns": o.consecutive_drift_runs,
        "lastRetrainRecommendationTime": iso_or_none(o.last_retrain_recommendation),
        "report": None if o.report_uri is None else {"uri": o.report_uri},
        # Always written, so a merge patch clears an earlier run's list.
        "skippedFiles": {"count": o.skipped_files, "files": [dict(f) for f in o.skipped_named]},
        # Always written (empty, null without spec.segments), so a merge patch clears an earlier run's.
        "segments": [dict(s) for s in o.segments],
        "segmentCounts": None if o.segment_counts is None else dict(o.segment_counts),
        "engine": o.engine,
        "dataPath": o.data_path,
        # Always written (null for rows), so a merge patch clears an earlier run's reason.
        "dataPathReason": o.data_path_reason,
        # Always written (null when off or not measured), so a merge patch clears an earlier run's block.
        "multivariate": None if o.multivariate is None else dict(o.multivariate),
    }
    drifted = "True" if o.verdict == "Drift" else "False"
    retrain = "True" if o.recommendation == "Retrain" else "False"
    status["conditions"] = _check_conditions(
        o.carried, drifted, o.verdict, retrain, o.recommendation, o.reason, now
    )
    return status


def error_status(
    previous_status: Mapping[str, Any] | None, now: dt.datetime | None, message: str
) -> dict[str, Any]:
    """Status of a run that could not produce a verdict: keeps history and counters, says why."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    carried = Carried.from_status(previous_status)
    reason = " ".join(message.split())[:1000]
    status: dict[str, Any] = {
        "verdict": "Error",
        "recommendation": "None",
        "reason": reason,
        "runId": run_id(now),
        **_bookkeeping(carried, "Error", "None", None, now),
        "lastSuccessfulRunTime": carried.last_successful_run_time,
        "consecutiveDriftRuns": carried.consecutive_drift_runs,
        "lastRetrainRecommendationTime": iso_or_none(carried.last_retrain_recommendation),
    }
    status["conditions"] = _check_conditions(carried, "Unknown", "Error", "Unknown", "Error", reason, now)
    return status


def finalize_status(
    status: Mapping[str, Any], current: Mapping[str, Any] | None, generation: int | None
) -> dict[str, Any]:
    """The status to patch: the whole conditions list (the controller's Ready kept as it is now),
    observedGeneration on the check's conditions and at the top, history bounded."""
    result = dict(status)
    ours = []
    for condition in status.get("conditions") or []:
        if condition.get("type") in contracts.CHECK_CONDITIONS:
            condition = dict(condition)
            if generation is not None:
                condition["observedGeneration"] = int(generation)
            ours.append(condition)
    theirs = [
        c for c in (current or {}).get("conditions") or [] if c.get("type") not in contracts.CHECK_CONDITIONS
    ]
    result["conditions"] = merge_conditions(theirs, ours)
    if generation is not None:
        result["observedGeneration"] = int(generation)
    result["history"] = list(status.get("history") or [])[: contracts.HISTORY_LIMIT]
    return result
