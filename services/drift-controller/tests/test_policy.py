"""The decision policy, rule by rule (table-driven)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from driftwatch_controller.api.spec import PerformancePolicySpec, PolicySpec
from driftwatch_controller.engine.performance_policy import PerformanceDrop, read_drop
from driftwatch_controller.engine.policy import PolicyThresholds, RunResult, decide
from driftwatch_controller.engine.segments import WorstSegment

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


# Performance (issue 11): the policy on, with its documented defaults (maxDrop 0.05, 200 labels).
ON = PolicyThresholds.of(PolicySpec(performance=PerformancePolicySpec(metric="roc_auc")))
ONE_RUN = PolicyThresholds.of(
    PolicySpec(consecutive_runs=1, performance=PerformancePolicySpec(metric="roc_auc"))
)


def perf(kind: str = "realized", drop: float = 0.07, significant: bool = True, labelled: int = 1200):
    return PerformanceDrop(
        "roc_auc",
        kind,
        drop,
        significant,
        0.81,
        0.81 - drop,
        0.81 - drop - 0.02,
        0.81 - drop + 0.02,
        labelled,
    )


def perf_run(drifted: int, drop: PerformanceDrop | None, problems: tuple[str, ...] = (), rows: int = 1000):
    return RunResult(rows >= 200, rows, 200, problems, drifted, 10, drop)


REALIZED = perf()
REALIZED_NOISE = perf(drop=0.07, significant=False)  # its interval reaches the reference
REALIZED_SMALL = perf(drop=0.03, significant=False)  # within maxDrop
FEW_LABELS = perf(labelled=150)  # below minLabelledRows
ESTIMATED = perf("estimated", drop=0.08, significant=True)
ESTIMATED_SMALL = perf("estimated", drop=0.03, significant=False)
DEGRADED = {
    "verdict": "Drift",
    "driftShare": 0.0,
    "recommendation": "Investigate",
    "performanceDegraded": True,
}


def case(name, result, history, expect, *, policy=ON, consecutive=1, last=None, degraded=True):
    """One row: `expect` is "<verdict> <recommendation>"; `degraded` the history mark the run leaves."""
    return pytest.param(policy, result, history, consecutive, last, *expect.split(), degraded, id=name)


COOLING = NOW - timedelta(hours=2)
COOLED = NOW - timedelta(hours=25)
PERFORMANCE_CASES = [
    # A significant realized drop with enough labels is grounds for Retrain with no feature drifted.
    case("concept-first-run", perf_run(0, REALIZED), [], "Drift Investigate", consecutive=0),
    case("concept-second-run", perf_run(0, REALIZED), [DEGRADED], "Drift Retrain"),
    case("concept-one-run-policy", perf_run(0, REALIZED), [], "Drift Retrain", policy=ONE_RUN),
    case("concept-after-share-run", perf_run(1, REALIZED), [drift(0.6)], "Drift Retrain"),
    case("concept-skips-insufficient", perf_run(0, REALIZED), [TOO_FEW, DEGRADED], "Drift Retrain"),
    case("concept-broken-by-nodrift", perf_run(0, REALIZED), [NODRIFT, DEGRADED], "Drift Investigate"),
    case("concept-within-cooldown", perf_run(0, REALIZED), [DEGRADED], "Drift Investigate", last=COOLING),
    case("concept-after-cooldown", perf_run(0, REALIZED), [DEGRADED], "Drift Retrain", last=COOLED),
    # Not significant, too small or too few labels: the drift share decides as before.
    case("realized-noise", perf_run(0, REALIZED_NOISE), [DEGRADED], "NoDrift None", degraded=False),
    case("realized-within-max-drop", perf_run(0, REALIZED_SMALL), [], "NoDrift None", degraded=False),
    case("realized-few-labels", perf_run(0, FEW_LABELS), [DEGRADED], "NoDrift None", degraded=False),
    case("noise-under-drift", perf_run(3, REALIZED_NOISE), [DEGRADED], "Drift Investigate", degraded=False),
    # An estimated drop beyond maxDrop strengthens Investigate (feature drift) into Retrain, never alone.
    case("estimated-with-drift-first-run", perf_run(2, ESTIMATED), [], "Drift Investigate", consecutive=0),
    case("estimated-with-drift-second-run", perf_run(3, ESTIMATED), [DEGRADED], "Drift Retrain"),
    case("estimated-without-drift", perf_run(1, ESTIMATED), [DEGRADED], "NoDrift None", degraded=False),
    case("estimated-small", perf_run(3, ESTIMATED_SMALL), [DEGRADED], "Drift Investigate", degraded=False),
    # A broken pipeline or too few rows comes first, whatever the performance.
    case(
        "quality-first",
        perf_run(0, REALIZED, BROKEN),
        [DEGRADED],
        "DataQualityIssue Investigate",
        degraded=False,
    ),
    case(
        "too-few-rows-first",
        perf_run(0, REALIZED, rows=50),
        [DEGRADED],
        "InsufficientData None",
        degraded=False,
    ),
    # Off (the default): the same drops change nothing.
    case("policy-off", perf_run(0, REALIZED), [DEGRADED], "NoDrift None", policy=POLICY, degraded=False),
    case(
        "policy-off-estimated",
        perf_run(3, ESTIMATED),
        [DEGRADED],
        "Drift Investigate",
        policy=POLICY,
        degraded=False,
    ),
]


@pytest.mark.parametrize(
    ("policy", "result", "history", "consecutive", "last", "verdict", "recommendation", "degraded"),
    PERFORMANCE_CASES,
)
def test_performance_policy_table(
    policy, result, history, consecutive, last, verdict, recommendation, degraded
) -> None:
    decision = decide(
        result,
        policy,
        now=NOW,
        history=history,
        consecutive_drift_runs=consecutive,
        last_retrain_recommendation=last,
    )
    assert (decision.verdict, decision.recommendation) == (verdict, recommendation)
    assert decision.performance_degraded is degraded
    assert decision.last_retrain_recommendation == (NOW if recommendation == "Retrain" else last)
    assert decision.reason


def test_a_concept_drift_retrain_names_the_metric_and_the_drop() -> None:
    decision = decide(perf_run(0, REALIZED), ONE_RUN, now=NOW)
    assert decision.reason == (
        "realized roc_auc 0.74 [0.72, 0.76] vs reference 0.81, a drop of 0.07 beyond maxDrop 0.05 on 1200 "
        "labelled rows (0 of 10 monitored columns drifted: concept drift) for 1 consecutive runs"
    )
    assert decision.consecutive_drift_runs == 1


def test_an_estimated_drop_says_it_came_with_feature_drift() -> None:
    decision = decide(perf_run(2, ESTIMATED), ON, now=NOW)
    assert decision.reason.startswith("estimated roc_auc 0.73 [0.71, 0.75] vs reference 0.81, a drop of 0.08")
    assert "(2 of 10 monitored columns drifted, share 0.20 >= investigateShare 0.2)" in decision.reason
    assert decision.reason.endswith("1 of 2 consecutive runs needed to recommend retraining")


@pytest.mark.parametrize("drop", [REALIZED, REALIZED_NOISE, FEW_LABELS, ESTIMATED, ESTIMATED_SMALL])
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_with_the_policy_off_performance_changes_nothing(case, drop: PerformanceDrop) -> None:
    _, result, history, consecutive, last, *_ = case
    with_drop = RunResult(
        *[getattr(result, f) for f in ("enough_rows", "rows", "min_rows")],
        result.quality_problems,
        result.drifted_columns,
        result.monitored_columns,
        drop,
    )
    kwargs = {
        "now": NOW,
        "history": history,
        "consecutive_drift_runs": consecutive,
        "last_retrain_recommendation": last,
    }
    assert decide(with_drop, POLICY, **kwargs) == decide(result, POLICY, **kwargs)


def block(metric: str, value: float, lower: float | None, upper: float | None, rows: int = 1000) -> dict:
    return {"rows": rows, "metrics": [{"name": metric, "value": value, "lower": lower, "upper": upper}]}


def performance(metric: str = "roc_auc", reference=0.81, realized=None, estimated=None, labelled=1000):
    return {
        "task": "binary",
        "metric": metric,
        "labelledRows": labelled,
        "reference": block(metric, reference, reference - 0.01, reference + 0.01),
        "realized": realized,
        "estimated": estimated,
    }


def auc(value: float, lower: float | None, upper: float | None) -> dict:
    return block("roc_auc", value, lower, upper)


def drop_case(name, status, rules, expected):
    """`expected`: (kind, drop, significant), or None when the policy has nothing to compare."""
    return pytest.param(status, rules, expected, id=name)


DROP_CASES = [
    drop_case("higher-is-better", performance(realized=auc(0.74, 0.69, 0.79)), {}, ("realized", 0.07, True)),
    drop_case(
        "reaches-reference", performance(realized=auc(0.74, 0.66, 0.82)), {}, ("realized", 0.07, False)
    ),
    drop_case(
        "within-max-drop", performance(realized=auc(0.78, 0.775, 0.785)), {}, ("realized", 0.03, False)
    ),
    drop_case(
        "max-drop-is-absolute",
        performance(realized=auc(0.78, 0.775, 0.785)),
        {"maxDrop": 0.02},
        ("realized", 0.03, True),
    ),
    drop_case("improvement", performance(realized=auc(0.86, 0.84, 0.88)), {}, ("realized", -0.05, False)),
    drop_case("no-interval", performance(realized=auc(0.5, None, None)), {}, ("realized", 0.31, False)),
    drop_case(
        "lower-is-better-log-loss",
        performance("log_loss", 0.40, block("log_loss", 0.50, 0.45, 0.55)),
        {},
        ("realized", 0.1, True),
    ),
    drop_case(
        "mae-in-its-units",
        performance("mae", 12.0, block("mae", 15.0, 14.0, 16.0)),
        {"maxDrop": 2},
        ("realized", 3.0, True),
    ),
    drop_case(
        "mae-interval-reaches",
        performance("mae", 12.0, block("mae", 15.0, 11.5, 18.0)),
        {},
        ("realized", 3.0, False),
    ),
    drop_case(
        "estimated-kind",
        performance(estimated=auc(0.70, 0.66, 0.74)),
        {"kind": "estimated"},
        ("estimated", 0.11, True),
    ),
    drop_case("realized-kind-ignores-estimate", performance(estimated=auc(0.70, 0.66, 0.74)), {}, None),
    drop_case(
        "either-prefers-realized",
        performance(realized=auc(0.80, 0.79, 0.81), estimated=auc(0.70, 0.66, 0.74)),
        {"kind": "either"},
        ("realized", 0.01, False),
    ),
    drop_case(
        "either-falls-back-to-estimate",
        performance(estimated=auc(0.70, 0.66, 0.74), labelled=20),
        {"kind": "either"},
        ("estimated", 0.11, True),
    ),
    drop_case("needs-min-labelled-rows", performance(realized=auc(0.74, 0.69, 0.79), labelled=150), {}, None),
    drop_case("metric-not-in-block", performance(realized=block("accuracy", 0.74, 0.69, 0.79)), {}, None),
    drop_case("no-performance", None, {}, None),
]


@pytest.mark.parametrize(("status", "rules", "expected"), DROP_CASES)
def test_the_drop_and_its_significance(status, rules, expected) -> None:
    drop = read_drop(status, PerformancePolicySpec.model_validate(rules))
    got = None if drop is None else (drop.kind, round(drop.value, 6), drop.significant)
    assert got == expected
    if drop is not None:
        assert drop.to_status() == {
            "metric": drop.metric,
            "kind": drop.kind,
            "value": drop.value,
            "significant": drop.significant,
        }


# Multivariate drift (issue 13): an alarm alone gives Investigate; with enough univariate drift it changes
# nothing; it never counts towards Retrain.
MV_ALARM = (
    "multivariate drift: mean PCA reconstruction error 1.5 above its no-drift band [0.9, 1.1] over 4 features"
)

MULTIVARIATE_CASES = [
    # id, drifted of 10, alarm, history, consecutive before, verdict, recommendation, consecutive after
    ("alarm-alone", 0, MV_ALARM, [], 0, "Drift", "Investigate", 1),
    ("alarm-below-investigate", 1, MV_ALARM, [], 2, "Drift", "Investigate", 3),
    ("no-alarm-below-investigate", 1, None, [], 2, "NoDrift", "None", 0),
    ("alarm-with-investigate-share", 3, MV_ALARM, [], 0, "Drift", "Investigate", 1),
    ("alarm-streak-is-not-retrain", 0, MV_ALARM, [drift(0.1), drift(0.1)], 2, "Drift", "Investigate", 3),
    ("alarm-with-retrain-share", 6, MV_ALARM, [drift(0.6)], 1, "Drift", "Retrain", 2),
]


@pytest.mark.parametrize(
    ("drifted", "alarm", "history", "consecutive", "verdict", "recommendation", "after"),
    [case[1:] for case in MULTIVARIATE_CASES],
    ids=[case[0] for case in MULTIVARIATE_CASES],
)
def test_multivariate_policy_table(
    drifted, alarm, history, consecutive, verdict, recommendation, after
) -> None:
    result = RunResult(True, 1000, 200, (), drifted, 10, multivariate_alarm=alarm)
    decision = decide(result, POLICY, now=NOW, history=history, consecutive_drift_runs=consecutive)
    assert (decision.verdict, decision.recommendation) == (verdict, recommendation)
    assert decision.consecutive_drift_runs == after


def test_a_multivariate_alarm_alone_says_so_in_the_reason() -> None:
    decision = decide(RunResult(True, 1000, 200, (), 1, 10, multivariate_alarm=MV_ALARM), POLICY, now=NOW)
    assert decision.reason == (
        "1 of 10 monitored columns drifted (share 0.10 < investigateShare 0.2); " + MV_ALARM
    )


def test_a_data_quality_issue_wins_over_a_multivariate_alarm() -> None:
    result = RunResult(True, 1000, 200, BROKEN, 0, 10, multivariate_alarm=MV_ALARM)
    assert decide(result, POLICY, now=NOW).verdict == "DataQualityIssue"


# Segments (issue 13): policy.segmentShare turns a segment's drift into Investigate while the global share
# is below investigateShare; off (None) it changes nothing; it never counts towards Retrain.
SEGMENT_ON = PolicyThresholds.of(PolicySpec(segment_share=0.3))


def east(drifted: int, monitored: int = 10) -> WorstSegment:
    return WorstSegment("region=east", drifted, monitored, 3000)


LOW_DRIFTS = [drift(0.1), drift(0.1)]
SEGMENT_CASES = [
    # id, drifted of 10 globally, worst segment, policy, history, consecutive before, verdict, rec., after
    ("segment-at-share", 0, east(3), SEGMENT_ON, [], 0, "Drift", "Investigate", 1),
    ("segment-above-share", 1, east(8), SEGMENT_ON, [], 2, "Drift", "Investigate", 3),
    ("segment-below-share", 1, east(2), SEGMENT_ON, [], 2, "NoDrift", "None", 0),
    ("segment-policy-off", 0, east(9), POLICY, [], 0, "NoDrift", "None", 0),
    ("no-segment-measured", 0, None, SEGMENT_ON, [], 0, "NoDrift", "None", 0),
    ("global-investigate-wins", 3, east(9), SEGMENT_ON, [], 0, "Drift", "Investigate", 1),
    ("segment-streak-is-not-retrain", 0, east(9), SEGMENT_ON, LOW_DRIFTS, 2, "Drift", "Investigate", 3),
    ("global-retrain-unchanged", 6, east(9), SEGMENT_ON, [drift(0.6)], 1, "Drift", "Retrain", 2),
]


@pytest.mark.parametrize(
    ("drifted", "segment", "policy", "history", "consecutive", "verdict", "recommendation", "after"),
    [case[1:] for case in SEGMENT_CASES],
    ids=[case[0] for case in SEGMENT_CASES],
)
def test_segment_policy_table(
    drifted, segment, policy, history, consecutive, verdict, recommendation, after
) -> None:
    result = RunResult(True, 1000, 200, (), drifted, 10, worst_segment=segment)
    decision = decide(result, policy, now=NOW, history=history, consecutive_drift_runs=consecutive)
    assert (decision.verdict, decision.recommendation) == (verdict, recommendation)
    assert decision.consecutive_drift_runs == after


def test_a_segment_alarm_names_the_segment_its_columns_and_rows() -> None:
    decision = decide(RunResult(True, 1000, 200, (), 1, 10, worst_segment=east(4)), SEGMENT_ON, now=NOW)
    assert decision.reason == (
        "1 of 10 monitored columns drifted (share 0.10 < investigateShare 0.2); segment region=east: "
        "4 of 10 columns drifted on 3000 rows (share 0.40 >= segmentShare 0.3)"
    )


def test_a_data_quality_issue_wins_over_a_segment_alarm() -> None:
    result = RunResult(True, 1000, 200, BROKEN, 0, 10, worst_segment=east(9))
    assert decide(result, SEGMENT_ON, now=NOW).verdict == "DataQualityIssue"
