"""What the check pod writes: all conditions (Ready kept), observedGeneration, a bounded history."""

from __future__ import annotations

import pytest
from driftwatch_controller.api.status import finalize_status, merge_conditions, set_condition

pytestmark = pytest.mark.unit

READY = {"type": "Ready", "status": "True", "reason": "Reconciled", "message": "m",
         "lastTransitionTime": "2026-11-27T09:00:00Z", "observedGeneration": 2}  # fmt: skip
ENGINE_STATUS = {
    "verdict": "Drift",
    "conditions": [
        {
            "type": "Drifted",
            "status": "True",
            "reason": "Drift",
            "message": "x",
            "lastTransitionTime": "2026-11-27T10:00:00Z",
        },
        {
            "type": "RetrainRecommended",
            "status": "False",
            "reason": "Investigate",
            "message": "x",
            "lastTransitionTime": "2026-11-27T10:00:00Z",
        },
    ],
    "history": [{"time": f"2026-11-27T10:{i:02d}:00Z", "verdict": "Drift"} for i in range(30)],
}


def test_ready_is_kept_and_check_conditions_carry_the_generation() -> None:
    status = finalize_status(ENGINE_STATUS, {"conditions": [READY]}, 3)
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Drifted", "RetrainRecommended"]
    assert status["conditions"][0] == READY
    assert {c["observedGeneration"] for c in status["conditions"][1:]} == {3}
    assert status["observedGeneration"] == 3


def test_history_is_bounded_to_20_newest_first() -> None:
    status = finalize_status(ENGINE_STATUS, None, 1)
    assert len(status["history"]) == 20
    assert status["history"][0]["time"] == "2026-11-27T10:00:00Z"


def test_set_condition_moves_transition_time_only_on_a_status_change() -> None:
    import datetime as dt

    later = dt.datetime(2026, 11, 27, 11, tzinfo=dt.UTC)
    same = set_condition(
        [READY], type_="Ready", status=True, reason="Reconciled", message="n", generation=3, now=later
    )
    flipped = set_condition(
        [READY], type_="Ready", status=False, reason="InvalidSpec", message="n", generation=3, now=later
    )
    assert same[0]["lastTransitionTime"] == "2026-11-27T09:00:00Z"
    assert flipped[0]["lastTransitionTime"] == "2026-11-27T11:00:00Z"
    assert (flipped[0]["status"], flipped[0]["observedGeneration"]) == ("False", 3)


def test_merge_conditions_keeps_others_and_replaces_same_types() -> None:
    merged = merge_conditions(
        [READY, {"type": "Drifted", "status": "False"}], [{"type": "Drifted", "status": "True"}]
    )
    assert merged == [READY, {"type": "Drifted", "status": "True"}]


def test_driftcheck_argument_must_be_namespace_slash_name(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from driftwatch_controller import checkpod

    assert checkpod.run(argparse.Namespace(driftcheck="churn")) == checkpod.EXIT_UNUSABLE
    assert "--driftcheck wants NAMESPACE/NAME, got 'churn'" in capsys.readouterr().err


def test_no_cluster_access_is_one_clear_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from driftwatch_controller import checkpod

    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert checkpod.run(argparse.Namespace(driftcheck="ml/churn")) == checkpod.EXIT_NO_API
    err = capsys.readouterr().err.strip().splitlines()
    expected = "no kubeconfig at '/nonexistent/kubeconfig' and not running in a pod"
    assert err == [f"driftwatch check: cannot read DriftCheck ml/churn: {expected}"]
