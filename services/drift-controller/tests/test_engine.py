"""The whole check on planted scenarios: flags, verdicts, status shape, capture windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from drift_fixtures import (
    FEATURES,
    current_frame,
    reference_frame,
    settings,
    spec_for,
    write_capture,
    write_feedback,
    write_parquet,
)
from driftwatch_controller.api.spec import SpecError
from driftwatch_controller.api.status import error_status
from driftwatch_controller.engine import report
from driftwatch_controller.engine.check import UnusableInput, run_check
from driftwatch_demo.synthetic import Scenario

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 10, 15, tzinfo=UTC)
TWO = ("tenure_months", "contract")
EIGHT = ("tenure_months", "monthly_charges", "support_calls_90d", "data_usage_gb", "age",
         "contract", "region", "plan_tier")  # fmt: skip
STATUS_KEYS = {
    "verdict", "recommendation", "reason", "runId", "driftShare", "driftedColumns", "monitoredColumns",
    "rows", "window", "thresholds", "columns", "predictionDrift", "targetDrift", "dataQuality", "lastRunTime",
    "lastSuccessfulRunTime", "runs", "runsByVerdict", "consecutiveDriftRuns", "lastRetrainRecommendationTime",
    "report", "history", "conditions", "performance", "skippedFiles",
    "segments", "segmentCounts",
    "dataPath", "dataPathReason",
    "multivariate", "engine",
}  # fmt: skip


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("engine")


@pytest.fixture(scope="module")
def reference_uri(workdir) -> str:
    return write_parquet(reference_frame(), workdir / "reference.parquet")


def check(workdir: Path, reference_uri: str, frame: pd.DataFrame, name: str, **kwargs):
    current = write_parquet(frame, workdir / f"{name}.parquet")
    kwargs.setdefault("now", NOW)
    return run_check(spec_for(reference_uri, current), settings=settings(workdir / "cache"), **kwargs)


def flagged(status: dict) -> set[str]:
    return {c["name"] for c in status["columns"] if c["drifted"]}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_drift_gives_nodrift(workdir, reference_uri, seed: int) -> None:
    status = check(workdir, reference_uri, current_frame(2000, 100 + seed), f"none-{seed}").status
    assert status["verdict"] == "NoDrift"
    assert status["recommendation"] == "None"
    assert status["driftShare"] < 0.2
    assert set(status) == STATUS_KEYS


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_planted_columns_are_exactly_the_flagged_ones(workdir, reference_uri, seed: int) -> None:
    frame = current_frame(2000, 200 + seed, Scenario(kind="covariate", features=TWO, magnitude=1.0))
    status = check(workdir, reference_uri, frame, f"two-{seed}").status
    assert flagged(status) >= set(TWO)
    # total_charges follows tenure by construction; at most one of the 12 others may false-alarm
    # (the calibrated rate is ~0.5% per column).
    assert len(flagged(status) - set(TWO) - {"total_charges"}) <= 1
    assert status["verdict"] == ("Drift" if status["driftShare"] >= 0.2 else "NoDrift")


@pytest.mark.parametrize("seed", [1, 2])
def test_eight_drifted_columns_recommend_retrain_on_the_second_run(workdir, reference_uri, seed: int) -> None:
    frame = current_frame(2000, 300 + seed, Scenario(kind="covariate", features=EIGHT, magnitude=1.0))
    first = check(workdir, reference_uri, frame, f"eight-{seed}").status
    assert flagged(first) >= set(EIGHT)
    assert (first["verdict"], first["recommendation"]) == ("Drift", "Investigate")
    second = check(workdir, reference_uri, frame, f"eight-{seed}", previous_status=first,
                   now=NOW + timedelta(hours=1)).status  # fmt: skip
    assert (second["verdict"], second["recommendation"]) == ("Drift", "Retrain")
    assert second["consecutiveDriftRuns"] == 2
    assert second["runs"] == 2
    assert second["lastRetrainRecommendationTime"] == "2026-11-27T11:15:00Z"
    conditions = {c["type"]: c for c in second["conditions"]}
    assert conditions["RetrainRecommended"]["status"] == "True"
    assert conditions["Drifted"]["lastTransitionTime"] == "2026-11-27T10:15:00Z"  # unchanged status kept


@pytest.mark.parametrize("seed", [1, 2])
def test_prior_shift_moves_the_target_and_label_linked_features(workdir, reference_uri, seed: int) -> None:
    frame = current_frame(2000, 400 + seed, Scenario(kind="prior", churn_rate=0.6))
    status = check(workdir, reference_uri, frame, f"prior-{seed}").status
    assert status["targetDrift"]["drifted"] is True
    assert "contract" in flagged(status)


@pytest.mark.parametrize("seed", [1, 2])
def test_concept_shift_is_seen_in_the_labels_only(workdir, reference_uri, seed: int) -> None:
    frame = current_frame(2000, 500 + seed, "concept")
    status = check(workdir, reference_uri, frame, f"concept-{seed}").status
    assert status["verdict"] == "NoDrift"
    assert status["targetDrift"]["drifted"] is True
    assert status["targetDrift"]["labelledRows"] == 2000


@pytest.mark.parametrize("seed", [1, 2])
def test_quality_breakage_is_a_data_quality_issue_never_retrain(workdir, reference_uri, seed: int) -> None:
    status = check(workdir, reference_uri, current_frame(2000, 600 + seed, "quality"), f"q-{seed}").status
    assert (status["verdict"], status["recommendation"]) == ("DataQualityIssue", "Investigate")
    assert status["dataQuality"]["missingColumns"] == ["call_minutes"]
    assert status["dataQuality"]["typeMismatches"][0]["column"] == "tenure_months"
    assert status["conditions"][1]["type"] == "RetrainRecommended"
    assert status["conditions"][1]["status"] == "False"


def _break(frame: pd.DataFrame, case: str) -> pd.DataFrame:
    """One of the data-quality cases Evidently 0.7.23 misses or crashes on (issue 3, item 2)."""
    frame = frame.copy()
    fifth = frame.index[: len(frame) // 5]
    if case == "nan":
        frame.loc[fifth, "monthly_charges"] = np.nan
    elif case == "inf":
        frame.loc[fifth, "data_usage_gb"] = np.inf
    elif case == "missing column":
        frame = frame.drop(columns=["call_minutes"])
    elif case == "nullable int":
        frame["age"] = frame["age"].astype("Int64")
        frame.loc[fifth, "age"] = pd.NA
    elif case == "numbers as strings":
        frame["tenure_months"] = frame["tenure_months"].astype(str)
    elif case == "new category":
        frame.loc[frame.index[: len(frame) // 100], "region"] = "atlantis"
    return frame


@pytest.mark.parametrize(
    ("case", "verdict", "field", "expected"),
    [
        ("nan", "DataQualityIssue", "missingValueShare", {"monthly_charges": 0.2}),
        ("inf", "DataQualityIssue", "missingValueShare", {"data_usage_gb": 0.2}),
        ("missing column", "DataQualityIssue", "missingColumns", ["call_minutes"]),
        ("nullable int", "DataQualityIssue", "missingValueShare", {"age": 0.2}),
        ("numbers as strings", "DataQualityIssue", "typeMismatches",
         [{"column": "tenure_months", "expected": "int", "actual": "string"}]),
        ("new category", "NoDrift", "newCategories",
         [{"column": "region", "values": ["atlantis"], "share": 0.01}]),
    ],
)  # fmt: skip
def test_each_quality_case_is_detected_and_reported(
    workdir, reference_uri, case: str, verdict: str, field: str, expected: object
) -> None:
    frame = _break(current_frame(1000, 21), case)
    status = check(workdir, reference_uri, frame, "dq-" + case.replace(" ", "-")).status
    assert status["verdict"] == verdict
    assert status["recommendation"] == ("Investigate" if verdict == "DataQualityIssue" else "None")
    assert status["dataQuality"][field] == expected
    measured = {c["name"] for c in status["columns"]}
    broken_column = {"missing column": "call_minutes", "numbers as strings": "tenure_months"}.get(case)
    # Every other column is still measured (a nullable Int64 column included), the broken one is not.
    assert measured == set(FEATURES) - {broken_column}


def test_too_few_rows_is_insufficient_data(workdir, reference_uri) -> None:
    status = check(workdir, reference_uri, current_frame(50, 7), "few").status
    assert (status["verdict"], status["recommendation"]) == ("InsufficientData", "None")
    assert status["rows"]["current"] == 50
    assert status["columns"] == []


TIME_KEYS = {"runId", "time", "lastRunTime", "lastSuccessfulRunTime", "lastTransitionTime",
             "lastRetrainRecommendationTime"}  # fmt: skip


def without_times(value):
    if isinstance(value, dict):
        return {k: "T" if k in TIME_KEYS else without_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def test_same_inputs_same_json_but_timestamps(workdir, reference_uri) -> None:
    frame = current_frame(1500, 8, Scenario(kind="covariate", features=TWO))
    current = write_parquet(frame, workdir / "det.parquet")
    # Each run calibrates afresh (its own cache), so equal thresholds come from the seed, not a cache hit.
    one, two = (
        run_check(spec_for(reference_uri, current), now=now, settings=settings(workdir / cache)).status
        for now, cache in ((NOW, "det-cache-1"), (NOW + timedelta(hours=1), "det-cache-2"))
    )
    assert one["lastRunTime"] != two["lastRunTime"]
    assert json.loads(report.to_json(without_times(one))) == without_times(two)


def test_history_is_bounded_newest_first_and_other_conditions_kept(workdir, reference_uri) -> None:
    ready = {"type": "Ready", "status": "True", "reason": "Reconciled", "message": "ok",
             "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 3}  # fmt: skip
    previous = {
        "runs": 25, "runsByVerdict": {"NoDrift": 25}, "conditions": [ready],
        "history": [{"time": f"t{i}", "verdict": "NoDrift", "driftShare": 0.0, "recommendation": "None"}
                    for i in range(20)],
    }  # fmt: skip
    status = check(workdir, reference_uri, current_frame(1000, 9), "hist", previous_status=previous).status
    assert len(status["history"]) == 20
    assert status["history"][0]["time"] == "2026-11-27T10:15:00Z"
    assert status["runs"] == 26
    assert status["runsByVerdict"] == {"NoDrift": 26}
    assert status["conditions"][0] == ready
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Drifted", "RetrainRecommended"]


def test_error_status_keeps_counters_and_says_why() -> None:
    previous = {"runs": 3, "runsByVerdict": {"NoDrift": 3}, "lastSuccessfulRunTime": "2026-11-27T09:00:00Z"}
    status = error_status(previous, NOW, "current: capture location s3://x does not exist")
    assert status["verdict"] == "Error"
    assert status["runs"] == 4
    assert status["runsByVerdict"] == {"Error": 1, "NoDrift": 3}
    assert status["lastSuccessfulRunTime"] == "2026-11-27T09:00:00Z"
    assert all(c["message"].startswith("current: capture") for c in status["conditions"])


def test_unreadable_reference_is_unusable_input(workdir) -> None:
    spec = spec_for(str(workdir / "missing.parquet"), str(workdir / "none-1.parquet"))
    with pytest.raises(UnusableInput, match=r"reference: .*does not exist"):
        run_check(spec, now=NOW)


def test_per_column_override_of_unknown_column_is_a_spec_error(workdir, reference_uri) -> None:
    current = write_parquet(current_frame(300, 1), workdir / "o.parquet")
    spec = spec_for(reference_uri, current, columns={}, drift={"perColumn": {"nope": {"method": "psi"}}})
    with pytest.raises(SpecError, match="nope"):
        run_check(spec, now=NOW, settings=settings(workdir / "cache"))


def test_per_column_override_and_fixed_thresholds(workdir, reference_uri) -> None:
    current = write_parquet(current_frame(1000, 2), workdir / "fixed.parquet")
    spec = spec_for(
        reference_uri, current, drift={"thresholds": "fixed", "perColumn": {"age": {"method": "ks"}}}
    )
    status = run_check(spec, now=NOW, settings=settings(workdir / "cache")).status
    columns = {c["name"]: c for c in status["columns"]}
    assert columns["age"]["method"] == "ks"
    assert columns["age"]["threshold"] == 0.05
    assert columns["tenure_months"]["threshold"] == 0.1
    assert status["thresholds"] == "fixed"


def test_capture_window_is_read_from_its_partitions_only(workdir, reference_uri) -> None:
    capture = workdir / "capture" / "churn"
    start = pd.Timestamp(NOW - timedelta(hours=1))
    write_capture(capture, current_frame(600, 11), start, 3600, "in")
    # Rows just after the window, and an unreadable file in an hour the window does not touch.
    write_capture(capture, current_frame(300, 12, Scenario(kind="covariate", features=TWO)),
                  pd.Timestamp(NOW), 600, "after")  # fmt: skip
    old = capture / "date=2026-11-26" / "hour=03"
    old.mkdir(parents=True)
    (old / "broken.parquet").write_bytes(b"not parquet")
    ids = [f"in-{i}" for i in range(300)]
    write_feedback(capture, ids, [1] * 300, pd.Timestamp(NOW - timedelta(minutes=5)), "fb")
    spec = spec_for(reference_uri, capture.as_uri())
    status = run_check(spec, now=NOW, settings=settings(workdir / "cache")).status
    assert status["rows"] == {
        "reference": 10_000,
        "current": 600,
        "labelled": 300,
        "sampleRate": 1.0,
        "estimatedCurrent": 600,
    }
    assert status["window"] == {"start": "2026-11-27T09:15:00Z", "end": "2026-11-27T10:15:00Z"}
    assert status["verdict"] == "NoDrift"
    assert status["targetDrift"]["drifted"] is True  # all joined labels are 1


def test_partly_labelled_window_compares_labels_as_the_reference_holds_them(workdir, reference_uri) -> None:
    # Unlabelled rows make the joined label column float (1.0); the reference holds ints (1).
    capture = workdir / "partly-labelled" / "churn"
    frame = current_frame(1000, 25)
    write_capture(capture, frame, pd.Timestamp(NOW - timedelta(minutes=50)), 600, "p")
    ids = [f"p-{i}" for i in range(700)]
    write_feedback(capture, ids, frame["churned"][:700].astype(int).tolist(), pd.Timestamp(NOW), "pfb")
    status = run_check(
        spec_for(reference_uri, capture.as_uri()), now=NOW, settings=settings(workdir / "cache")
    ).status
    assert status["rows"]["labelled"] == 700
    assert status["targetDrift"]["drifted"] is False
    assert status["targetDrift"]["score"] < status["targetDrift"]["threshold"]


def test_empty_capture_window_is_insufficient_data(workdir, reference_uri) -> None:
    capture = workdir / "empty-capture"
    capture.mkdir()
    status = run_check(spec_for(reference_uri, capture.as_uri()), now=NOW).status
    assert status["verdict"] == "InsufficientData"
    assert status["rows"]["current"] == 0
    assert status["dataQuality"]["missingColumns"] == []


def test_directory_that_is_not_a_capture_tree_is_unusable_not_zero_rows(workdir, reference_uri) -> None:
    flat = workdir / "flat"
    write_parquet(current_frame(300, 22), flat / "part-0.parquet")
    with pytest.raises(UnusableInput, match="not a capture tree"):
        run_check(spec_for(reference_uri, flat.as_uri()), now=NOW)
    capture = workdir / "capture-root"
    write_capture(
        capture / "churn", current_frame(300, 23), pd.Timestamp(NOW) - pd.Timedelta("10min"), 60, "r"
    )
    with pytest.raises(UnusableInput, match=r"use .*/capture-root/churn$"):
        run_check(spec_for(reference_uri, capture.as_uri()), now=NOW)
    assert (
        run_check(spec_for(reference_uri, (capture / "churn").as_uri()), now=NOW).status["rows"]["current"]
        == 300
    )


def test_label_named_by_the_model_card_next_to_the_reference_is_the_target(workdir, reference_uri) -> None:
    model_dir = workdir / "model"
    reference = write_parquet(reference_frame(), model_dir / "reference.parquet")
    current = write_parquet(current_frame(600, 24).drop(columns=["churned"]), workdir / "unlabelled.parquet")
    spec = spec_for(reference, current, columns={})  # columns inferred, no target named
    without_card = run_check(spec, now=NOW, settings=settings(workdir / "cache")).status
    assert without_card["dataQuality"]["missingColumns"] == ["churned"]  # the label taken for a feature
    (model_dir / "model-card.json").write_text(json.dumps({"name": "churn", "target": "churned"}))
    with_card = run_check(spec, now=NOW, settings=settings(workdir / "cache")).status
    assert with_card["verdict"] == "NoDrift"
    assert with_card["monitoredColumns"] == 15
    assert with_card["dataQuality"]["missingColumns"] == []


def test_json_status_round_trips(workdir, reference_uri) -> None:
    status = check(workdir, reference_uri, current_frame(800, 13), "rt").status
    assert json.loads(report.to_json(status)) == status


def test_report_forced_to_an_fsspec_location(workdir, reference_uri) -> None:
    import fsspec

    status = check(
        workdir, reference_uri, current_frame(400, 14), "memrep", report_dir="memory://reports/ns/dc",
        force_report=True,
    ).status  # fmt: skip
    assert status["report"] == {"uri": "memory://reports/ns/dc/20261127T101500Z.html"}
    with fsspec.open(status["report"]["uri"], "rb") as handle:
        assert b"<html" in handle.read(4000).lower()


@pytest.mark.parametrize(
    ("name", "scenario", "verdict"),
    [
        ("drift", Scenario(kind="covariate", features=EIGHT), "Drift"),
        ("broken", Scenario(kind="quality"), "DataQualityIssue"),
    ],
)
def test_report_written_unasked_on_drift_or_quality_issue(
    workdir, reference_uri, name: str, scenario: Scenario, verdict: str
) -> None:
    reports = workdir / f"reports-{name}"
    status = check(
        workdir, reference_uri, current_frame(600, 17, scenario), name, report_dir=str(reports)
    ).status
    assert status["verdict"] == verdict
    written = reports / "20261127T101500Z.html"
    assert status["report"] == {"uri": written.as_uri()}
    assert b"<html" in written.read_bytes()[:4000].lower()


def test_no_report_without_drift_even_with_a_report_dir(workdir, reference_uri) -> None:
    reports = str(workdir / "reports")
    status = check(workdir, reference_uri, current_frame(400, 15), "norep", report_dir=reports).status
    assert status["verdict"] == "NoDrift"
    assert status["report"] is None
    assert not (workdir / "reports").exists()


def test_string_column_listed_as_numerical_is_a_spec_error(workdir, reference_uri) -> None:
    current = write_parquet(current_frame(300, 16), workdir / "strnum.parquet")
    spec = spec_for(reference_uri, current, columns={"numerical": ["region"]})
    with pytest.raises(SpecError, match="region is listed as numerical"):
        run_check(spec, now=NOW, settings=settings(workdir / "cache"))


def test_empty_window_is_insufficient_data_whatever_min_rows_says(workdir, reference_uri) -> None:
    """Issue 9: with minRows 0 an empty window came out NoDrift (0 of 0 columns drifted)."""
    capture = workdir / "empty-capture-min-0"
    capture.mkdir()
    spec = spec_for(reference_uri, capture.as_uri())
    # model_copy skips validation: the engine must not trust minRows >= 1 to hold.
    spec = spec.model_copy(update={"current": spec.current.model_copy(update={"min_rows": 0})})
    status = run_check(spec, now=NOW).status
    assert status["verdict"] == "InsufficientData"
    assert status["recommendation"] == "None"
