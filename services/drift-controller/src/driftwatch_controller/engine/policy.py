"""The decision policy (DESIGN.md "Decision policy"): a run's result plus the past → verdict, recommendation.

Pure: no I/O, no clock; every input is an argument so the table-driven test can pin each rule.
Performance (issue 11, `spec.policy.performance`) adds two ways to reach Retrain: a significant
realized drop (concept drift, even with no feature drifted), and an estimated drop beyond maxDrop
under feature drift; both go through the same hysteresis and cooldown as the drift share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from driftwatch_controller.api import contracts
from driftwatch_controller.api.spec import PerformancePolicySpec, PolicySpec
from driftwatch_controller.api.times import rfc3339
from driftwatch_controller.engine.performance_policy import PerformanceDrop
from driftwatch_controller.engine.segments import WorstSegment

# Runs that carry no evidence about drift; they neither extend nor break a streak.
_NEUTRAL = {"InsufficientData", "Error"}


@dataclass(frozen=True)
class PolicyThresholds:
    """`spec.policy` as the decision reads it (its defaults are the spec's: `of(PolicySpec())`)."""

    investigate_share: float
    retrain_share: float
    consecutive_runs: int
    cooldown: timedelta
    performance: PerformancePolicySpec = field(default_factory=PerformancePolicySpec)
    # spec.policy.segmentShare (issue 13); None: segments never change the decision.
    segment_share: float | None = None

    @classmethod
    def of(cls, policy: PolicySpec) -> PolicyThresholds:
        return cls(
            policy.investigate_share,
            policy.retrain_share,
            policy.consecutive_runs,
            policy.cooldown_delta,
            policy.performance,
            segment_share=policy.segment_share,
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
    # The policy's reading of status.performance (`performance_policy.read_drop`), None without one.
    performance: PerformanceDrop | None = None
    # The measured segment with the highest drift share (engine/segments.py), None without segments.
    worst_segment: WorstSegment | None = None
    # Why the multivariate drift (engine/multivariate.py) alarmed this run, None without an alarm.
    multivariate_alarm: str | None = None
    # The capture's sample rate (issue 13): minRows counts captured rows; the reason names both.
    sample_rate: float = 1.0

    @property
    def drift_share(self) -> float:
        return self.drifted_columns / self.monitored_columns if self.monitored_columns else 0.0


def _sampled(result: RunResult) -> str:
    if result.sample_rate >= 1.0:
        return ""
    served = round(result.rows / result.sample_rate)
    return f" (captured at a sample rate of {result.sample_rate:g}: about {served:,} predictions served)"


@dataclass(frozen=True)
class Decision:
    """The verdict, the recommendation, why, and the counters the status carries forward."""

    verdict: contracts.Verdict
    recommendation: contracts.Recommendation
    reason: str
    consecutive_drift_runs: int
    last_retrain_recommendation: datetime | None
    # The run's performance drop counted towards Retrain (history's `performanceDegraded`).
    performance_degraded: bool = False


def _retrain_streak(history: Sequence[Mapping[str, Any]], retrain_share: float) -> int:
    """Previous runs in a row that were grounds for Retrain: drift share or a counted performance drop."""
    streak = 0
    for entry in history:  # newest first
        verdict = entry.get("verdict")
        if verdict in _NEUTRAL:
            continue
        share = float(entry.get("driftShare") or 0.0)
        if verdict == "Drift" and (share >= retrain_share or entry.get("performanceDegraded")):
            streak += 1
            continue
        break
    return streak


def _performance_grounds(result: RunResult, policy: PolicyThresholds) -> str | None:
    """Why this run's performance is grounds for Retrain, or None (always None with the policy off)."""
    drop, rules = result.performance, policy.performance
    if drop is None or not rules.active:
        return None
    beyond = f"{drop.describe()} beyond maxDrop {rules.max_drop:g}"
    counted = f"{result.drifted_columns} of {result.monitored_columns} monitored columns drifted"
    if drop.kind == "realized":
        if not drop.significant or drop.labelled_rows < rules.min_labelled_rows:
            return None
        concept = ": concept drift" if result.drift_share < policy.investigate_share else ""
        return f"{beyond} on {drop.labelled_rows} labelled rows ({counted}{concept})"
    # An estimate assumes no concept drift: alone it is not evidence enough, with feature drift it is.
    if drop.value > rules.max_drop and result.drift_share >= policy.investigate_share:
        return (
            f"{beyond} ({counted}, share {result.drift_share:.2f} >= investigateShare "
            f"{policy.investigate_share:g})"
        )
    return None


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
            f"{result.rows} current rows, fewer than minRows {result.min_rows}" + _sampled(result),
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
    grounds = _performance_grounds(result, policy)
    if grounds is not None:
        return _retrain(
            policy,
            grounds,
            now=now,
            history=history,
            runs=consecutive_drift_runs + 1,
            last_retrain_recommendation=last_retrain_recommendation,
            performance_degraded=True,
        )
    if share < policy.investigate_share:
        segment = result.worst_segment
        if policy.segment_share is not None and segment and segment.drift_share >= policy.segment_share:
            # A drift confined to one segment: worth a look, never grounds for Retrain on its own.
            return Decision(
                "Drift",
                "Investigate",
                f"{counted} (share {share:.2f} < investigateShare {policy.investigate_share:g}); "
                + segment.describe(policy.segment_share),
                consecutive_drift_runs + 1,
                last_retrain_recommendation,
            )
        if result.multivariate_alarm:
            # Features that move together differently: worth a look, never grounds for Retrain on its own.
            return Decision(
                "Drift",
                "Investigate",
                f"{counted} (share {share:.2f} < investigateShare {policy.investigate_share:g}); "
                + result.multivariate_alarm,
                consecutive_drift_runs + 1,
                last_retrain_recommendation,
            )
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
    above = f"{counted} (share {share:.2f} >= retrainShare {policy.retrain_share:g})"
    return _retrain(
        policy,
        above,
        now=now,
        history=history,
        runs=runs,
        last_retrain_recommendation=last_retrain_recommendation,
        performance_degraded=False,
    )


def _retrain(
    policy: PolicyThresholds,
    above: str,
    *,
    now: datetime,
    history: Sequence[Mapping[str, Any]],
    runs: int,
    last_retrain_recommendation: datetime | None,
    performance_degraded: bool,
) -> Decision:
    """A run with grounds for Retrain (`above` says which): Retrain after consecutiveRuns, off cooldown."""
    streak = _retrain_streak(history, policy.retrain_share) + 1
    if streak < policy.consecutive_runs:
        return Decision(
            "Drift",
            "Investigate",
            f"{above}, {streak} of {policy.consecutive_runs} consecutive runs needed to recommend retraining",
            runs,
            last_retrain_recommendation,
            performance_degraded,
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
            performance_degraded,
        )
    return Decision(
        "Drift", "Retrain", f"{above} for {streak} consecutive runs", runs, now, performance_degraded
    )
