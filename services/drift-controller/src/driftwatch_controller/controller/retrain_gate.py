"""The retraining gate, as pure decisions: what a new run or an approval leads to, at most once per run.

`spec.retrain.mode`: Off (never), Manual (a Retrain recommendation waits for the annotation
driftwatch.io/approve-retrain=<runId>), Automatic (a Job at once, unless one was created within the
policy's cooldown). The decision is recorded in `status.retrain`, which is what makes it idempotent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from driftwatch_controller.api import contracts
from driftwatch_controller.api.spec import DriftCheckSpec
from driftwatch_controller.api.times import parse_time, rfc3339


@dataclass(frozen=True)
class RetrainDecision:
    """What to do: the new `status.retrain` state, whether to create the Job, and the Event to post."""

    state: str
    run_id: str
    create_job: bool
    message: str
    event_reason: str
    warning: bool = False


def mode_of(spec: DriftCheckSpec) -> contracts.RetrainMode:
    return spec.retrain.mode


def approve_command(name: str, run_id: str, namespace: str = "") -> str:
    """The exact command that approves a run; --overwrite because an earlier run's approval is still set."""
    where = f"-n {namespace} " if namespace else ""
    annotation = f"{contracts.APPROVE_RETRAIN_ANNOTATION}={run_id}"
    return f"kubectl annotate driftcheck {where}{name} {annotation} --overwrite"


def on_new_run(
    spec: DriftCheckSpec, status: Mapping[str, Any], now: dt.datetime, *, name: str, namespace: str = ""
) -> RetrainDecision | None:
    """A run finished (status.runId changed): recommend, wait for approval, create, or nothing."""
    run_id = str(status.get("runId") or "")
    retrain = status.get("retrain") or {}
    mode = mode_of(spec)
    if not run_id or retrain.get("runId") == run_id:
        return None  # already decided for this run
    if status.get("recommendation") != "Retrain" or mode == "Off":
        if retrain.get("state") == "AwaitingApproval":
            return RetrainDecision(
                "NotRequested", run_id, False,
                f"run {run_id} no longer recommends retraining; the approval request for run "
                f"{retrain.get('runId')} is withdrawn", "RetrainWithdrawn",
            )  # fmt: skip
        return None
    if mode == "Manual":
        return RetrainDecision(
            "AwaitingApproval", run_id, False,
            f"run {run_id} recommends retraining; approve with: {approve_command(name, run_id, namespace)}",
            "RetrainAwaitingApproval",
        )  # fmt: skip
    cooldown = spec.policy.cooldown_delta
    last_created = parse_time(retrain.get("time")) if retrain.get("job") else None
    if last_created is not None and now - last_created < cooldown:
        return RetrainDecision(
            "CoolingDown", run_id, False,
            f"run {run_id} recommends retraining, but Job {retrain.get('job')} was created at "
            f"{rfc3339(last_created)}, within the cooldown of {cooldown}", "RetrainCoolingDown",
        )  # fmt: skip
    return RetrainDecision(
        "Created", run_id, True, f"run {run_id} recommends retraining", "RetrainJobCreated"
    )


def on_approval(spec: DriftCheckSpec, status: Mapping[str, Any], approved: str) -> RetrainDecision | None:
    """The approval annotation was set to `approved`: create the Job, or say why not."""
    retrain = status.get("retrain") or {}
    if not approved or (retrain.get("runId") == approved and retrain.get("state") == "Created"):
        return None  # nothing asked, or already done for that run
    if mode_of(spec) != "Manual":
        return RetrainDecision(
            str(retrain.get("state") or "NotRequested"), str(retrain.get("runId") or ""), False,
            f"approval of run {approved} ignored: spec.retrain.mode is {mode_of(spec)}, not Manual",
            "RetrainApprovalIgnored", warning=True,
        )  # fmt: skip
    if retrain.get("state") != "AwaitingApproval" or retrain.get("runId") != approved:
        awaiting = retrain.get("runId") if retrain.get("state") == "AwaitingApproval" else "none"
        return RetrainDecision(
            str(retrain.get("state") or "NotRequested"), str(retrain.get("runId") or ""), False,
            f"approval of run {approved} ignored: no retrain awaits approval for it (awaiting: {awaiting})",
            "RetrainApprovalIgnored", warning=True,
        )  # fmt: skip
    return RetrainDecision(
        "Created", approved, True, f"retraining for run {approved} approved", "RetrainJobCreated"
    )


def retrain_status(
    decision: RetrainDecision,
    previous: Mapping[str, Any] | None,
    *,
    mode: str,
    now: dt.datetime,
    job: str = "",
) -> dict[str, Any]:
    """The new `status.retrain` after a decision (keeps the last Job created and the count)."""
    previous = dict(previous or {})
    created = int(previous.get("jobsCreated") or 0)
    status: dict[str, Any] = {
        "state": decision.state,
        "runId": decision.run_id,
        "mode": mode,
        "message": decision.message,
        "job": job or str(previous.get("job") or ""),
        "time": rfc3339(now) if job else str(previous.get("time") or rfc3339(now)),
        "jobsCreated": created + (1 if job else 0),
    }
    return status
