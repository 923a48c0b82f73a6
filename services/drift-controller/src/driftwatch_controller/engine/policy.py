"""The decision policy (DESIGN.md "Decision policy"): a run's result plus the past → verdict, recommendation.

Pure: no I/O, no clock; every input is an argument so the table-driven test can pin each rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from driftwatch_controller.api import contracts
from driftwatch_controller.api.spec import PolicySpec
from driftwatch_controller.api.times import rfc3339

# Runs that carry no evidence about drift; they neither extend nor break a streak.
_NEUTRAL = {"InsufficientData", "Error"}


@dataclass(frozen=True)
class PolicyThresholds:
    """`spec.policy` as the decision reads it (its defaults are the spec's: `of(PolicySpec())`)."""

    investigate_share: float
    retrain_share: float
    consecutive_runs: int
    cooldown: timedelta

    @classmethod
    def of(cls, policy: PolicySpec) -> PolicyThresholds:
        return cls(
            policy.investigate_share, policy.retrain_share, policy.consecutive_runs, policy.cooldown_delta
        )


@dataclass(frozen=True)
class RunResult:
    """What this run measured."""

    enough_rows: bool
    rows: int
    min_rows: int
    quality_problems: Sequence[str]
    drifted_columns: int
    monitored_columns: int

    @property
    def drift_share(self) -> float:
        return self.drifted_columns / self.monitored_columns if self.monitored_columns else 0.0


@dataclass(frozen=True)
class Decision:
    """The verdict, the recommendation, why, and the counters the status carries forward."""

    verdict: contracts.Verdict
    recommendation: contracts.Recommendation
    reason: str
    consecutive_drift_runs: int
    last_retrain_recommendation: datetime | None


def _retrain_streak(history: Sequence[Mapping[str, Any]], retrain_share: float) -> int:
    streak = 0
    for entry in history:  # newest first
        verdict = entry.get("verdict")
        if verdict in _NEUTRAL:
            continue
        if verdict == "Drift" and float(entry.get("driftShare") or 0.0) >= retrain_share:
            streak += 1
            continue
        break
    return streak


def decide(
    result: RunResult,
    policy: PolicyThresholds,
    *,
    now: datetime,
    history: Sequence[Mapping[str, Any]] = (),
    consecutive_drift_runs: int = 0,
    last_retrain_recommendation: datetime | None = None,
) -> Decision:
    """Apply the policy; `history` is the previous status' history, newest first."""
    if not result.enough_rows:
        return Decision(
            "InsufficientData",
            "None",
            f"{result.rows} current rows, fewer than minRows {result.min_rows}",
            consecutive_drift_runs,
            last_retrain_recommendation,
        )
    if result.quality_problems:
        # A broken pipeline is never a reason to retrain, and it breaks any drift streak.
        return Decision(
            "DataQualityIssue",
            "Investigate",
            "data quality: " + "; ".join(result.quality_problems),
            0,
            last_retrain_recommendation,
        )
    share = result.drift_share
    counted = f"{result.drifted_columns} of {result.monitored_columns} monitored columns drifted"
    if share < policy.investigate_share:
        return Decision(
            "NoDrift",
            "None",
            f"{counted} (share {share:.2f} < investigateShare {policy.investigate_share:g})",
            0,
            last_retrain_recommendation,
        )
    runs = consecutive_drift_runs + 1
    if share < policy.retrain_share:
        return Decision(
            "Drift",
            "Investigate",
            f"{counted} (share {share:.2f} >= investigateShare {policy.investigate_share:g})",
            runs,
            last_retrain_recommendation,
        )
    streak = _retrain_streak(history, policy.retrain_share) + 1
    above = f"{counted} (share {share:.2f} >= retrainShare {policy.retrain_share:g})"
    if streak < policy.consecutive_runs:
        return Decision(
            "Drift",
            "Investigate",
            f"{above}, {streak} of {policy.consecutive_runs} consecutive runs needed to recommend retraining",
            runs,
            last_retrain_recommendation,
        )
    if last_retrain_recommendation is not None and now - last_retrain_recommendation < policy.cooldown:
        until = last_retrain_recommendation + policy.cooldown
        return Decision(
            "Drift",
            "Investigate",
            f"{above} for {streak} runs; retraining already recommended at "
            f"{rfc3339(last_retrain_recommendation)}, cooldown until {rfc3339(until)}",
            runs,
            last_retrain_recommendation,
        )
    return Decision("Drift", "Retrain", f"{above} for {streak} consecutive runs", runs, now)
