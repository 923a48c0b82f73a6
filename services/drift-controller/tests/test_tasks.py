"""Every task's outputs and labels, end to end through the check, on generated data with planted drift.

Binary, multiclass and regression models write different output columns and labels
(docs/architecture.md, the table of tasks): the check measures each class probability, a
regression's prediction and label as numbers, string classes as categories, and takes its defaults
from the model card next to the reference.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from drift_fixtures import settings, write_parquet
from driftwatch_capture import schema as capture
from driftwatch_controller.api.spec import DriftCheckSpec, SpecError
from driftwatch_controller.engine import report
from driftwatch_controller.engine.check import CheckOutcome, run_check

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 10, 15, tzinfo=UTC)
CLASSES = ("bronze", "gold", "silver")


def features(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Two features that never drift here: every drift below is in the outputs or the labels."""
    return pd.DataFrame(
        {
            "tenure": rng.integers(0, 72, n).astype(np.int64),
            "region": rng.choice(["north", "south", "east"], n),
        }
    )


def multiclass_frame(n: int, seed: int, *, gold_shift: bool = False) -> pd.DataFrame:
    """Three classes; with `gold_shift` only `probability_gold`'s distribution moves.

    bronze and silver each keep their marginal U(0, 0.5); only their dependence changes (from
    independent to bronze + silver = 0.5), so gold = 1 - bronze - silver goes from a triangle over
    [0, 1] to about 0.5: one class probability drifts, the other two do not.
    """
    rng = np.random.default_rng(seed)
    bronze = rng.uniform(0, 0.5, n)
    silver = 0.5 - bronze + rng.normal(0, 0.005, n) if gold_shift else rng.uniform(0, 0.5, n)
    silver = np.clip(silver, 0, 0.5)
    gold = 1 - bronze - silver
    probabilities = np.column_stack([bronze, gold, silver])
    frame = features(rng, n)
    frame["prediction"] = np.array(CLASSES)[probabilities.argmax(axis=1)]
    frame["probability"] = probabilities.max(axis=1)
    for index, label in enumerate(CLASSES):
        frame[capture.class_probability_column(label)] = probabilities[:, index]
    frame["tier"] = [CLASSES[rng.choice(3, p=p / p.sum())] for p in probabilities]
    return frame


def regression_frame(n: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = features(rng, n)
    frame["prediction"] = rng.normal(100 + shift, 15, n)
    frame["spend"] = frame["prediction"] + rng.normal(0, 5, n)
    return frame


def binary_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = features(rng, n)
    frame["probability"] = rng.beta(2, 5, n)
    frame["prediction"] = (frame["probability"] >= 0.5).astype(np.int64)
    frame["churned"] = rng.binomial(1, frame["probability"]).astype(np.int64)
    return frame


def model_dir(root: Path, reference: pd.DataFrame, card: dict[str, Any] | None) -> str:
    """A reference.parquet with, when given, its model-card.json beside it (docs/architecture.md)."""
    uri = write_parquet(reference, root / "reference.parquet")
    if card is not None:
        (root / "model-card.json").write_text(json.dumps({"name": root.name, **card}))
    return uri


def spec(reference: str, current: str, **columns: Any) -> DriftCheckSpec:
    return DriftCheckSpec.from_manifest(
        {
            "reference": {"uri": reference},
            "current": {"uri": current, "window": "1h", "minRows": 200},
            "columns": columns,
        }
    )


def run(tmp_path: Path, reference: str, current: pd.DataFrame, **columns: Any) -> CheckOutcome:
    current_uri = write_parquet(current, tmp_path / "current.parquet")
    return run_check(spec(reference, current_uri, **columns), now=NOW, settings=settings(tmp_path / "cache"))


def write_capture(root: Path, frame: pd.DataFrame, start: datetime) -> list[str]:
    """Capture rows spread over the 50 minutes from `start`, in the documented layout; their ids."""
    frame = frame.reset_index(drop=True)
    ids = [f"r-{i}" for i in range(len(frame))]
    ts = pd.Timestamp(start) + pd.to_timedelta(np.linspace(0, 3000, len(frame), endpoint=False), unit="s")
    frame.insert(0, "request_id", ids)
    frame.insert(1, "ts", ts)
    frame.insert(2, "model_version", "1.0.0-test")
    for hour, part in frame.groupby(frame["ts"].dt.floor("h")):
        directory = root / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        directory.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(part, preserve_index=False)
        table = table.set_column(1, "ts", table.column("ts").cast(capture.TIMESTAMP))
        pq.write_table(table, directory / "pod-0.parquet")
    return ids


def write_feedback(root: Path, ids: list[str], labels: list[Any], task: capture.Task, classes: Any) -> None:
    """Labels in the feedback schema of `task` (int64, string or float64 `label`), arriving at NOW."""
    directory = root / "feedback" / f"date={NOW:%Y-%m-%d}" / f"hour={NOW:%H}"
    directory.mkdir(parents=True, exist_ok=True)
    arrived = pa.array([NOW - timedelta(minutes=1)] * len(ids), capture.TIMESTAMP)
    table = pa.table(
        [pa.array(ids, pa.string()), arrived, pa.nulls(len(ids), capture.TIMESTAMP), pa.array(labels)],
        schema=capture.feedback_schema(task, classes),
    )
    pq.write_table(table, directory / "pod-0.parquet")


def by_column(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["column"]: e for e in entries}


# --- multiclass: one class probability drifts ---------------------------------------------------


def test_only_the_shifted_class_probability_drifts(tmp_path: Path) -> None:
    reference = model_dir(tmp_path / "model", multiclass_frame(5000, 1), None)
    probabilities = [capture.class_probability_column(c) for c in CLASSES]
    kwargs = {"predictionClass": "prediction", "classProbabilities": probabilities, "target": "tier"}
    drifted = run(tmp_path / "a", reference, multiclass_frame(2000, 2, gold_shift=True), **kwargs).status
    steady = run(tmp_path / "b", reference, multiclass_frame(2000, 3), **kwargs).status

    entries = by_column(drifted["predictionDrift"]["classProbabilities"])
    assert list(entries) == probabilities
    assert {c: e["drifted"] for c, e in entries.items()} == {
        "probability_bronze": False,
        "probability_gold": True,
        "probability_silver": False,
    }
    assert entries["probability_gold"]["score"] > 3 * entries["probability_gold"]["threshold"]
    assert all(e["method"] == "wasserstein" for e in entries.values())  # numerical, as a feature would be
    assert not any(e["drifted"] for e in steady["predictionDrift"]["classProbabilities"])
    # The predicted class (strings) is on top, compared as categories; outputs never count as features.
    assert drifted["predictionDrift"]["column"] == "prediction"
    assert drifted["predictionDrift"]["method"] == "jensenshannon"
    assert {c["name"] for c in drifted["columns"]} == {"tenure", "region"}
    assert drifted["driftShare"] == 0.0


def test_class_probability_status_is_in_the_table_output(tmp_path: Path) -> None:
    reference = model_dir(tmp_path / "model", multiclass_frame(3000, 4), None)
    status = run(
        tmp_path,
        reference,
        multiclass_frame(1000, 5, gold_shift=True),
        classProbabilities=["probability_gold", "probability_bronze"],
    ).status
    # No predictionClass: predictionDrift carries the class probabilities alone.
    assert set(status["predictionDrift"]) == {"classProbabilities"}
    table = report.to_table(status)
    gold_row = next(line for line in table.splitlines() if line.startswith("probability_gold (prediction)"))
    assert gold_row.split()[-1] == "yes"


def test_inferred_features_leave_out_every_class_probability(tmp_path: Path) -> None:
    reference = model_dir(tmp_path / "model", multiclass_frame(3000, 6).drop(columns=["tier"]), None)
    status = run(tmp_path, reference, multiclass_frame(500, 7).drop(columns=["tier"])).status
    assert {c["name"] for c in status["columns"]} == {"tenure", "region"}
    assert status["predictionDrift"] is None  # card-less and unnamed: no output is guessed


def test_unknown_class_probability_column_is_a_spec_error_naming_it(tmp_path: Path) -> None:
    reference = model_dir(tmp_path / "model", multiclass_frame(1000, 8), None)
    with pytest.raises(SpecError, match="probability_platinum are not in the reference"):
        run(tmp_path, reference, multiclass_frame(300, 9), classProbabilities=["probability_platinum"])


def test_a_class_column_named_as_a_class_probability_is_a_spec_error(tmp_path: Path) -> None:
    reference = model_dir(tmp_path / "model", multiclass_frame(1000, 10), None)
    with pytest.raises(
        SpecError, match="classProbabilities names prediction, but the reference holds string"
    ):
        run(tmp_path, reference, multiclass_frame(300, 11), classProbabilities=["prediction"])


def test_a_class_probability_listed_as_a_feature_too_is_refused() -> None:
    with pytest.raises(SpecError, match=r"classProbabilities: \['probability_gold'\] are listed as features"):
        spec(
            "r.parquet", "c.parquet", numerical=["probability_gold"], classProbabilities=["probability_gold"]
        )


# --- regression: prediction and label are numbers -----------------------------------------------


@pytest.mark.parametrize(("shift", "drifted"), [(12.0, True), (0.0, False)])
def test_regression_prediction_drift_is_numerical(tmp_path: Path, shift: float, drifted: bool) -> None:
    reference = model_dir(tmp_path / "model", regression_frame(5000, 12), None)
    status = run(
        tmp_path, reference, regression_frame(2000, 13, shift=shift), prediction="prediction", target="spend"
    ).status
    assert status["predictionDrift"]["column"] == "prediction"
    assert status["predictionDrift"]["method"] == "wasserstein"
    assert status["predictionDrift"]["drifted"] is drifted
    # The label, as numbers too (a classifier's would be jensenshannon over categories).
    assert status["targetDrift"]["method"] == "wasserstein"
    assert status["targetDrift"]["drifted"] is drifted


def test_regression_labels_joined_from_feedback_give_numerical_target_drift(tmp_path: Path) -> None:
    card = {"task": "regression", "target": "spend", "classes": []}
    reference = model_dir(tmp_path / "model", regression_frame(5000, 14), card)
    capture_root = tmp_path / "capture" / "spend"
    current = regression_frame(1000, 15).drop(columns=["spend"])
    ids = write_capture(capture_root, current, NOW - timedelta(minutes=55))
    labels = (current["prediction"] + 25).round(2).tolist()  # the world moved: every outcome is higher
    write_feedback(capture_root, ids[:600], labels[:600], "regression", [])
    status = run_check(spec(reference, capture_root.as_uri()), now=NOW, settings=settings(tmp_path)).status
    assert status["rows"]["labelled"] == 600
    assert status["targetDrift"]["column"] == "spend"
    assert status["targetDrift"]["method"] == "wasserstein"
    assert status["targetDrift"]["drifted"] is True
    assert status["predictionDrift"]["drifted"] is False  # from the card: prediction, unchanged


# --- string classes -------------------------------------------------------------------------------


def string_class_frame(n: int, seed: int, cat_share: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = features(rng, n)
    frame["probability"] = rng.uniform(0.5, 1, n)
    frame["prediction"] = np.where(rng.uniform(size=n) < 0.5, "cat", "dog")
    frame["animal"] = np.where(rng.uniform(size=n) < cat_share, "cat", "dog")
    return frame


@pytest.mark.parametrize(("cat_share", "drifted"), [(0.9, True), (0.5, False)])
def test_string_labels_joined_from_feedback_give_target_drift(
    tmp_path: Path, cat_share: float, drifted: bool
) -> None:
    reference = model_dir(tmp_path / "model", string_class_frame(5000, 16, 0.5), None)
    capture_root = tmp_path / "capture" / "pets"
    current = string_class_frame(800, 17, cat_share)
    ids = write_capture(capture_root, current.drop(columns=["animal"]), NOW - timedelta(minutes=55))
    write_feedback(capture_root, ids[:500], current["animal"][:500].tolist(), "binary", ["cat", "dog"])
    columns = {"prediction": "probability", "predictionClass": "prediction", "target": "animal"}
    status = run_check(
        spec(reference, capture_root.as_uri(), **columns), now=NOW, settings=settings(tmp_path)
    ).status
    assert status["rows"] == {
        "reference": 5000,
        "current": 800,
        "labelled": 500,
        "sampleRate": 1.0,
        "estimatedCurrent": 800,
    }
    assert status["targetDrift"]["column"] == "animal"
    assert status["targetDrift"]["method"] == "jensenshannon"
    assert status["targetDrift"]["labelledRows"] == 500
    assert status["targetDrift"]["drifted"] is drifted
    assert status["predictionDrift"]["class"]["method"] == "jensenshannon"
    assert status["predictionDrift"]["class"]["drifted"] is False
    assert status["dataQuality"]["typeMismatches"] == []


def test_string_classes_named_as_prediction_are_compared_as_categories(tmp_path: Path) -> None:
    reference = model_dir(tmp_path / "model", string_class_frame(3000, 18, 0.5), None)
    current = string_class_frame(1000, 19, 0.5)
    current["prediction"] = np.where(np.arange(1000) < 900, "cat", "dog")
    status = run(tmp_path, reference, current, prediction="prediction", target="animal").status
    assert status["predictionDrift"]["column"] == "prediction"
    assert status["predictionDrift"]["method"] == "jensenshannon"
    assert status["predictionDrift"]["drifted"] is True


# --- defaults from the model card -----------------------------------------------------------------


def test_binary_card_defaults_probability_and_predicted_class(tmp_path: Path) -> None:
    card = {"task": "binary", "target": "churned", "classes": [0, 1]}
    reference = model_dir(tmp_path / "model", binary_frame(4000, 20), card)
    status = run(tmp_path, reference, binary_frame(1000, 21).drop(columns=["churned"])).status
    assert status["predictionDrift"]["column"] == "probability"
    assert status["predictionDrift"]["class"]["column"] == "prediction"
    assert {c["name"] for c in status["columns"]} == {"tenure", "region"}  # the label is not a feature
    assert status["dataQuality"]["missingColumns"] == []


def test_multiclass_card_defaults_class_and_the_class_probabilities_the_reference_holds(
    tmp_path: Path,
) -> None:
    card = {"task": "multiclass", "target": "tier", "classes": [*CLASSES, "platinum"]}
    reference = model_dir(tmp_path / "model", multiclass_frame(4000, 22), card)
    status = run(tmp_path, reference, multiclass_frame(1500, 23, gold_shift=True)).status
    assert status["predictionDrift"]["column"] == "prediction"
    entries = by_column(status["predictionDrift"]["classProbabilities"])
    # probability_platinum is in the card's classes, not in the reference: not defaulted.
    assert list(entries) == ["probability_bronze", "probability_gold", "probability_silver"]
    assert [c for c, e in entries.items() if e["drifted"]] == ["probability_gold"]
    assert {c["name"] for c in status["columns"]} == {"tenure", "region"}


def test_regression_card_defaults_prediction(tmp_path: Path) -> None:
    card = {"task": "regression", "target": "spend", "classes": []}
    reference = model_dir(tmp_path / "model", regression_frame(4000, 24), card)
    status = run(tmp_path, reference, regression_frame(1500, 25, shift=12.0)).status
    assert status["predictionDrift"]["column"] == "prediction"
    assert status["predictionDrift"]["drifted"] is True
    assert "class" not in status["predictionDrift"]
    assert status["targetDrift"]["method"] == "wasserstein"  # the card says regression: a numeric label


def test_the_spec_wins_over_the_card(tmp_path: Path) -> None:
    card = {"task": "multiclass", "target": "tier", "classes": list(CLASSES)}
    reference = model_dir(tmp_path / "model", multiclass_frame(3000, 26), card)
    status = run(
        tmp_path,
        reference,
        multiclass_frame(800, 27),
        predictionClass="tier",
        classProbabilities=["probability_gold"],
    ).status
    assert status["predictionDrift"]["column"] == "tier"
    assert [e["column"] for e in status["predictionDrift"]["classProbabilities"]] == ["probability_gold"]


def test_without_a_card_no_output_is_defaulted(tmp_path: Path) -> None:
    reference = model_dir(tmp_path / "model", binary_frame(3000, 28), None)
    status = run(tmp_path, reference, binary_frame(800, 29), target="churned").status
    assert status["predictionDrift"] is None
    assert status["targetDrift"]["method"] == "jensenshannon"
    assert {c["name"] for c in status["columns"]} == {"tenure", "region"}


def test_feedback_files_disagreeing_on_the_label_type_skip_the_one_unlike_the_reference(
    tmp_path: Path,
) -> None:
    reference = model_dir(tmp_path / "model", string_class_frame(2000, 30, 0.5), None)
    capture_root = tmp_path / "capture" / "pets"
    ids = write_capture(
        capture_root, string_class_frame(400, 31, 0.5).drop(columns=["animal"]), NOW - timedelta(minutes=55)
    )
    write_feedback(capture_root, ids[:200], ["cat"] * 200, "binary", ["cat", "dog"])
    # The same hour, a file from a model whose classes were integers (issue 12: skipped and named,
    # where it used to fail the run).
    earlier = capture_root / "feedback" / f"date={NOW:%Y-%m-%d}" / f"hour={NOW:%H}"
    (earlier / "pod-0.parquet").rename(earlier / "pod-1.parquet")
    write_feedback(capture_root, ids[200:], [1] * 200, "binary", [0, 1])
    status = run_check(
        spec(reference, capture_root.as_uri(), target="animal"), now=NOW, settings=settings(tmp_path)
    ).status
    assert status["rows"]["labelled"] == 200
    assert status["skippedFiles"]["count"] == 1
    [skipped] = status["skippedFiles"]["files"]
    assert skipped["name"] == f"feedback/date={NOW:%Y-%m-%d}/hour={NOW:%H}/pod-0.parquet"
    assert skipped["reason"].startswith("column label is int64")


@pytest.mark.parametrize(
    ("values", "task", "kind"),
    [
        ([0.0, 1.0, None, 1.0], None, "categorical"),  # a 0/1 label read with a missing value
        ([12.5, 99.1, 40.0], None, "numerical"),
        ([1, 2, 3], "regression", "numerical"),  # the card says so, whatever the values look like
        ([0.5, 0.25], "multiclass", "categorical"),
        (["cat", "dog"], None, "categorical"),
    ],
)
def test_the_label_is_numerical_for_a_regression_only(values: list[Any], task: Any, kind: str) -> None:
    from driftwatch_controller.engine.columns import target_kind

    assert target_kind(pd.DataFrame({"y": values}), "y", task) == kind


def test_cli_flags_name_the_class_and_the_class_probabilities(tmp_path: Path, capsys, monkeypatch) -> None:
    from driftwatch_controller.cli import main

    monkeypatch.setenv("DRIFTWATCH_CALIBRATION_CACHE_DIR", str(tmp_path / "cache"))
    reference = model_dir(tmp_path / "model", multiclass_frame(3000, 32), None)
    current = write_parquet(multiclass_frame(1000, 33, gold_shift=True), tmp_path / "current.parquet")
    argv = [
        "check",
        "--reference",
        reference,
        "--current",
        current,
        "-o",
        "json",
        "--target",
        "tier",
        "--prediction-class",
        "prediction",
        "--class-probabilities",
        "probability_gold,probability_silver",
    ]
    assert main(argv) == 0
    prediction = json.loads(capsys.readouterr().out)["predictionDrift"]
    assert prediction["column"] == "prediction"
    assert {e["column"]: e["drifted"] for e in prediction["classProbabilities"]} == {
        "probability_gold": True,
        "probability_silver": False,
    }
