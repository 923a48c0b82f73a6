"""The decision policy, rule by rule (table-driven)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from driftwatch_controller.api.spec import PolicySpec
from driftwatch_controller.engine.policy import PolicyThresholds, RunResult, decide

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
# The documented defaults, as the spec states them.
POLICY = PolicyThresholds.of(PolicySpec())


def run(drifted: int, monitored: int = 10, rows: int = 1000, problems: tuple[str, ...] = ()) -> RunResult:
    return RunResult(rows >= 200, rows, 200, problems, drifted, monitored)


def drift(share: float) -> dict:
    return {"verdict": "Drift", "driftShare": share, "recommendation": "Investigate"}


NODRIFT = {"verdict": "NoDrift", "driftShare": 0.0}
TOO_FEW = {"verdict": "InsufficientData", "driftShare": None}
BROKEN = ("x is string",)

CASES = [
    # id, result, history, consecutive, last retrain, expected verdict, recommendation, consecutive after
    ("too-few-rows", run(9, rows=50), [], 3, None, "InsufficientData", "None", 3),
    ("quality-first", run(9, problems=BROKEN), [drift(0.9)], 1, None, "DataQualityIssue", "Investigate", 0),
    ("below-investigate", run(1), [], 4, None, "NoDrift", "None", 0),
    ("at-investigate", run(2), [], 0, None, "Drift", "Investigate", 1),
    ("above-retrain-first-run", run(6), [], 0, None, "Drift", "Investigate", 1),
    ("above-retrain-second-run", run(6), [drift(0.6)], 1, None, "Drift", "Retrain", 2),
    ("streak-broken-by-nodrift", run(6), [NODRIFT, drift(0.6)], 0, None, "Drift", "Investigate", 1),
    ("streak-skips-insufficient", run(6), [TOO_FEW, drift(0.7)], 1, None, "Drift", "Retrain", 2),
    ("previous-below-retrain", run(6), [drift(0.3)], 1, None, "Drift", "Investigate", 2),
    ("within-cooldown", run(6), [drift(0.6)], 1, NOW - timedelta(hours=2), "Drift", "Investigate", 2),
    ("after-cooldown", run(6), [drift(0.6)], 1, NOW - timedelta(hours=25), "Drift", "Retrain", 2),
]  # fmt: skip


@pytest.mark.parametrize(
    ("result", "history", "consecutive", "last", "verdict", "recommendation", "after"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_policy_table(result, history, consecutive, last, verdict, recommendation, after) -> None:
    decision = decide(
        result, POLICY, now=NOW, history=history, consecutive_drift_runs=consecutive,
        last_retrain_recommendation=last,
    )  # fmt: skip
    assert (decision.verdict, decision.recommendation) == (verdict, recommendation)
    assert decision.consecutive_drift_runs == after
    assert decision.reason


def test_retrain_records_the_time_and_reason_counts_columns() -> None:
    decision = decide(run(6), POLICY, now=NOW, history=[drift(0.6)], consecutive_drift_runs=1)
    assert decision.last_retrain_recommendation == NOW
    assert "6 of 10 monitored columns drifted" in decision.reason


def test_cooldown_reason_says_until_when() -> None:
    last = NOW - timedelta(hours=2)
    decision = decide(run(6), POLICY, now=NOW, history=[drift(0.6)], last_retrain_recommendation=last)
    assert "cooldown until 2026-11-28T08:00:00Z" in decision.reason
    assert decision.last_retrain_recommendation == last
