"""The retraining gate as a table: Off, Manual (approval) and Automatic (cooldown), once per run."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from driftwatch_controller.api.spec import DriftCheckSpec
from driftwatch_controller.controller import retrain_gate

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


TEMPLATE = {"spec": {"template": {"spec": {"containers": [{"name": "train", "image": "img:1"}]}}}}


def spec(mode: str, cooldown: str = "24h") -> DriftCheckSpec:
    return DriftCheckSpec.parse({
        "schedule": "@hourly", "reference": {"uri": "file:///r.parquet"}, "current": {"uri": "file:///c"},
        "retrain": {"mode": mode, **({"jobTemplate": TEMPLATE} if mode != "Off" else {})},
        "policy": {"cooldown": cooldown},
    })  # fmt: skip


def status(recommendation: str, run: str = "r2", **retrain: Any) -> dict[str, Any]:
    return {"runId": run, "recommendation": recommendation, "retrain": retrain}


@pytest.mark.parametrize(
    ("mode", "current", "expected"),
    [
        ("Off", status("Retrain"), None),
        ("Manual", status("Investigate"), None),
        ("Manual", status("Retrain"), ("AwaitingApproval", False)),
        ("Automatic", status("Retrain"), ("Created", True)),
        (
            "Automatic",
            status("Retrain", job="j1", time="2026-11-27T06:00:00Z", state="Created"),
            ("CoolingDown", False),
        ),
        (
            "Automatic",
            status("Retrain", job="j1", time="2026-11-25T06:00:00Z", state="Created"),
            ("Created", True),
        ),
        ("Manual", status("Retrain", runId="r2", state="AwaitingApproval"), None),
        ("Automatic", status("Retrain", runId="r2", state="Created", job="j"), None),
        ("Manual", status("None", runId="r1", state="AwaitingApproval"), ("NotRequested", False)),
    ],
)
def test_new_run(mode: str, current: dict[str, Any], expected: tuple[str, bool] | None) -> None:
    decision = retrain_gate.on_new_run(spec(mode), current, NOW, name="churn")
    got = (decision.state, decision.create_job) if decision else None
    assert got == expected


def test_manual_recommendation_says_how_to_approve() -> None:
    decision = retrain_gate.on_new_run(spec("Manual"), status("Retrain"), NOW, name="churn")
    assert decision is not None
    # --overwrite: the annotation still holds an earlier run's approval; kubectl refuses to change it without.
    assert decision.message.endswith(
        "approve with: kubectl annotate driftcheck churn driftwatch.io/approve-retrain=r2 --overwrite"
    )
    ns_decision = retrain_gate.on_new_run(
        spec("Manual"), status("Retrain"), NOW, name="churn", namespace="ml"
    )
    assert ns_decision is not None
    assert (
        "kubectl annotate driftcheck -n ml churn driftwatch.io/approve-retrain=r2 --overwrite"
        in ns_decision.message
    )


@pytest.mark.parametrize(
    ("mode", "current", "approved", "expected"),
    [
        ("Manual", status("Retrain", runId="r2", state="AwaitingApproval"), "r2", ("Created", True, False)),
        (
            "Manual",
            status("Retrain", runId="r2", state="AwaitingApproval"),
            "r1",
            ("AwaitingApproval", False, True),
        ),
        ("Manual", status("Retrain", runId="r2", state="Created", job="j"), "r2", None),
        ("Automatic", status("Retrain", runId="r2", state="Created"), "r3", ("Created", False, True)),
        ("Manual", status("Retrain"), "", None),
    ],
)
def test_approval(
    mode: str, current: dict[str, Any], approved: str, expected: tuple[str, bool, bool] | None
) -> None:
    decision = retrain_gate.on_approval(spec(mode), current, approved)
    got = (decision.state, decision.create_job, decision.warning) if decision else None
    assert got == expected


def test_retrain_status_counts_jobs_and_keeps_the_last_one() -> None:
    created = retrain_gate.RetrainDecision("Created", "r2", True, "m", "RetrainJobCreated")
    first = retrain_gate.retrain_status(created, None, mode="Automatic", now=NOW, job="churn-retrain-r2")
    assert first == {
        "state": "Created", "runId": "r2", "mode": "Automatic", "message": "m",
        "job": "churn-retrain-r2", "time": "2026-11-27T12:00:00Z", "jobsCreated": 1,
    }  # fmt: skip
    cooling = retrain_gate.RetrainDecision("CoolingDown", "r3", False, "c", "RetrainCoolingDown")
    later = retrain_gate.retrain_status(cooling, first, mode="Automatic", now=NOW + dt.timedelta(hours=1))
    assert (later["state"], later["job"], later["time"], later["jobsCreated"]) == (
        "CoolingDown", "churn-retrain-r2", "2026-11-27T12:00:00Z", 1,
    )  # fmt: skip
