"""The flow's decisions as pure functions: retries, the status carried between runs, the retrain gate.

They mirror the operator's (controller/retrain_gate.py) on what Prefect holds instead of a DriftCheck
status: the previous status in a Prefect Variable, earlier retrain runs in the flow run history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

# An OSError of these kinds says the input is wrong, not that the store hiccupped: never retried.
_PERMANENT_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
# What Carried.from_status reads: all a later run needs from this one (the rest is this run's story).
CARRIED_KEYS = (
    "runs",
    "runsByVerdict",
    "history",
    "conditions",
    "consecutiveDriftRuns",
    "lastRetrainRecommendationTime",
    "lastSuccessfulRunTime",
)

FailOn = Literal["investigate", "retrain"]
ActionKind = Literal["none", "await_approval", "run", "cooling_down"]


def is_transient(exc: BaseException) -> bool:
    """True when `exc` or what it wraps is an I/O error worth retrying (a timeout, a reset connection).

    The engine turns I/O errors into one-line messages (`raise ... from None`), which still keeps
    the original exception as `__context__`; a bad spec or a missing column has no OSError inside.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError | ConnectionError):
            return True
        if isinstance(current, OSError) and not isinstance(current, _PERMANENT_OS_ERRORS):
            return True
        current = current.__cause__ or current.__context__
    return False


def carried_state(status: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a status the next run carries forward (kept in a Prefect Variable)."""
    return {key: status[key] for key in CARRIED_KEYS if key in status}


def fails(recommendation: str, fail_on: FailOn | None) -> bool:
    """The CLI's --fail-on: is the recommendation at least `fail_on`?"""
    if fail_on == "retrain":
        return recommendation == "Retrain"
    if fail_on == "investigate":
        return recommendation in ("Investigate", "Retrain")
    return False


@dataclass(frozen=True)
class RetrainAction:
    """What the decide step does about retraining, and the line it logs."""

    kind: ActionKind
    message: str


def retrain_action(
    mode: str,
    recommendation: str,
    *,
    run_id: str,
    deployment: str | None,
    now: dt.datetime,
    cooldown: dt.timedelta,
    last_retrain_start: dt.datetime | None,
) -> RetrainAction:
    """Off never retrains; Manual waits for an approval; Automatic runs the deployment unless an earlier
    retrain run started within the policy's cooldown (as the operator's Automatic mode does with Jobs)."""
    if recommendation != "Retrain" or mode == "Off" or deployment is None:
        return RetrainAction("none", f"run {run_id}: no retraining ({recommendation}, retrain.mode {mode})")
    if mode == "Manual":
        return RetrainAction(
            "await_approval", f"run {run_id} recommends retraining: waiting for approval to run {deployment}"
        )
    if last_retrain_start is not None and now - last_retrain_start < cooldown:
        return RetrainAction(
            "cooling_down",
            f"run {run_id} recommends retraining, but a run of {deployment} started at "
            f"{last_retrain_start.isoformat()}, within the cooldown of {cooldown}",
        )
    return RetrainAction("run", f"run {run_id} recommends retraining: running {deployment}")
