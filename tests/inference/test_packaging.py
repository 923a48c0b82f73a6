"""`driftwatch-inference package` on a user's own Pipelines: the card it writes, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from driftwatch_inference.cli import main
from driftwatch_inference.model_card import CARD_FILE, MODEL_FILE, REFERENCE_FILE
from driftwatch_inference.packaging import model_version, widened_range
from driftwatch_inference.scoring import UntrustedTypesError, load_model
from driftwatch_inference.settings import Settings
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from support.user_models import (
    FEATURES,
    TARGET,
    TREE_TYPES,
    classifier,
    dump_user_files,
    fitted,
    reference_frame,
    user_pipeline,
)

pytestmark = pytest.mark.unit

RF_TRUST = ["--trust", TREE_TYPES["random_forest"]]


def _package(model: Path, reference: Path, out: Path, *extra: str, target: str = TARGET) -> int:
    return main(
        [
            "package",
            "--model",
            str(model),
            "--reference",
            str(reference),
            "--target",
            target,
            "--out",
            str(out),
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def user_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return dump_user_files(tmp_path_factory.mktemp("user"), fitted("random_forest"), reference_frame())


def test_card_takes_features_classes_and_trust_from_the_users_artefacts(
    user_files: tuple[Path, Path], tmp_path: Path
) -> None:
    model, reference = user_files
    assert _package(model, reference, tmp_path / "out", *RF_TRUST, "--name", "mine") == 0
    card = json.loads((tmp_path / "out" / CARD_FILE).read_text())
    assert card["name"] == "mine"
    assert card["version"] == model_version(model.read_bytes())
    assert card["task"] == "binary"
    assert card["classes"] == [0, 1]
    assert card["trusted_types"] == [TREE_TYPES["random_forest"]]
    assert [f["name"] for f in card["features"]] == FEATURES
    frame = reference_frame()
    tenure = next(f for f in card["features"] if f["name"] == "tenure_months")
    lo, hi = int(frame["tenure_months"].min()), int(frame["tenure_months"].max())
    assert tenure["kind"] == "numerical"
    assert tenure["dtype"] == "int"
    assert tenure["observed_range"] == {"min": lo, "max": hi}
    assert tenure["valid_range"] == {"min": max(0, lo - (hi - lo)), "max": hi + (hi - lo)}
    contract = next(f for f in card["features"] if f["name"] == "contract")
    assert contract["kind"] == "categorical"
    assert contract["dtype"] == "str"
    assert contract["categories"] == sorted(frame["contract"].unique())
    assert card["reference"] == {"file": REFERENCE_FILE, "rows": len(frame)}


def test_reference_is_scored_by_the_users_model(user_files: tuple[Path, Path], tmp_path: Path) -> None:
    model, reference = user_files
    assert _package(model, reference, tmp_path / "out", *RF_TRUST) == 0
    table = pq.read_table(tmp_path / "out" / REFERENCE_FILE)
    assert table.schema.names == [*FEATURES, "prediction", "probability", TARGET]
    pipeline = fitted("random_forest")
    expected = pipeline.predict_proba(reference_frame()[FEATURES])[:, 1]
    np.testing.assert_allclose(table.column("probability").to_numpy(), expected, rtol=0, atol=1e-12)
    assert (tmp_path / "out" / MODEL_FILE).read_bytes() == model.read_bytes()


def test_valid_range_widens_the_observed_one_by_its_width() -> None:
    assert widened_range(10.0, 20.0, "float") == (0.0, 30.0)
    assert widened_range(-5.0, 5.0, "float") == (-15.0, 15.0)
    assert widened_range(3.0, 3.0, "int") == (0.0, 6.0)


def _refusals(workdir: Path) -> dict[str, tuple[Path, Path, tuple[str, ...], str, str]]:
    """name: (model, reference, extra flags, target, expected message)."""
    model, reference = dump_user_files(workdir / "rf", fitted("random_forest"), reference_frame())
    frame = reference_frame()
    no_feature = workdir / "no-feature.parquet"
    frame.drop(columns=["age"]).to_parquet(no_feature)
    unscorable = workdir / "unscorable.parquet"
    frame.assign(age="old").to_parquet(unscorable)
    unknown_label = workdir / "unknown-label.parquet"
    frame.assign(**{TARGET: np.where(frame[TARGET] == 1, 7, 0)}).to_parquet(unknown_label)
    broken = workdir / "broken.skops"
    broken.write_bytes(b"not a skops archive")
    multiclass = frame.assign(**{TARGET: np.arange(len(frame)) % 3})
    multi_model, multi_ref = dump_user_files(
        workdir / "multi",
        user_pipeline(classifier("random_forest")).fit(multiclass[FEATURES], multiclass[TARGET]),
        multiclass,
    )
    regressor = user_pipeline(RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0))
    reg_model, reg_ref = dump_user_files(
        workdir / "reg", regressor.fit(frame[FEATURES], frame[TARGET]), frame
    )
    text_target = workdir / "text-target.parquet"
    frame.assign(**{TARGET: np.where(frame[TARGET] == 1, "yes", "no")}).to_parquet(text_target)
    clash = frame.rename(columns={"age": "probability"})
    clash_features = [("probability" if f == "age" else f) for f in FEATURES]
    clash_model, clash_ref = dump_user_files(
        workdir / "clash",
        user_pipeline(classifier("random_forest")).fit(clash[clash_features], clash[TARGET]),
        clash,
    )
    trust, rf_type = tuple(RF_TRUST), TREE_TYPES["random_forest"]
    reg_trust = ("--trust", "sklearn.tree._tree.Tree")
    return {
        "untrusted type": (model, reference, (), TARGET, f"{rf_type}; review them, then pass --trust"),
        "model does not load": (broken, reference, (), TARGET, "does not load as a skops model"),
        "target missing": (model, reference, trust, "label", "target 'label' is not a column"),
        "feature missing": (model, no_feature, trust, TARGET, "missing from the reference: age"),
        "cannot score": (model, unscorable, trust, TARGET, "cannot score the reference: ValueError"),
        "multiclass as binary": (
            multi_model,
            multi_ref,
            (*trust, "--task", "binary"),
            TARGET,
            "has 3 classes, not 2: use --task multiclass",
        ),
        "binary as multiclass": (
            model,
            reference,
            (*trust, "--task", "multiclass"),
            TARGET,
            "use --task binary",
        ),
        "classifier as regression": (
            model,
            reference,
            (*trust, "--task", "regression"),
            TARGET,
            "is a classifier with classes [0, 1]",
        ),
        "regressor as classifier": (
            reg_model,
            reg_ref,
            (*reg_trust, "--task", "binary"),
            TARGET,
            "use --task regression for a regressor",
        ),
        "regression of text labels": (
            reg_model,
            text_target,
            (*reg_trust, "--task", "regression"),
            TARGET,
            "a regression needs numbers",
        ),
        "feature named as an output": (clash_model, clash_ref, trust, TARGET, "probability share a name"),
        "unknown label": (model, unknown_label, trust, TARGET, "labels not in the classes [0, 1]"),
    }


REFUSALS = [
    "untrusted type",
    "model does not load",
    "target missing",
    "feature missing",
    "cannot score",
    "multiclass as binary",
    "binary as multiclass",
    "classifier as regression",
    "regressor as classifier",
    "regression of text labels",
    "feature named as an output",
    "unknown label",
]


@pytest.mark.parametrize("case", REFUSALS)
def test_refusal_exits_2_with_one_line_and_writes_nothing(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, reference, extra, target, message = _refusals(tmp_path / "in")[case]
    capsys.readouterr()
    out = tmp_path / "site" / "out"
    assert _package(model, reference, out, *extra, target=target) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("driftwatch-inference package: error: ")
    assert err.count("\n") == 1
    assert not out.exists()
    assert not (tmp_path / "site").exists() or list((tmp_path / "site").iterdir()) == []


def test_an_unknown_task_is_a_usage_error(user_files: tuple[Path, Path], tmp_path: Path) -> None:
    model, reference = user_files
    with pytest.raises(SystemExit) as exited:
        _package(model, reference, tmp_path / "out", "--task", "ranking")
    assert exited.value.code == 2
    assert not (tmp_path / "out").exists()


def test_a_multiclass_model_gets_its_classes_and_one_probability_column_each(tmp_path: Path) -> None:
    frame = reference_frame()
    labels = np.array(["bronze", "silver", "gold"])[np.arange(len(frame)) % 3]
    data = frame.assign(**{TARGET: labels})
    model = user_pipeline(classifier("random_forest")).fit(data[FEATURES], data[TARGET])
    model_path, reference = dump_user_files(tmp_path / "in", model, data)
    assert _package(model_path, reference, tmp_path / "out", *RF_TRUST) == 0
    card = json.loads((tmp_path / "out" / CARD_FILE).read_text())
    assert card["task"] == "multiclass"
    assert card["classes"] == ["bronze", "gold", "silver"]
    table = pq.read_table(tmp_path / "out" / REFERENCE_FILE).to_pandas()
    expected = model.predict_proba(data[FEATURES])
    for i, label in enumerate(card["classes"]):
        np.testing.assert_allclose(table[f"probability_{label}"], expected[:, i], rtol=0, atol=1e-12)
    assert table["prediction"].tolist() == list(model.classes_[expected.argmax(axis=1)])
    np.testing.assert_allclose(table["probability"], expected.max(axis=1), rtol=0, atol=1e-12)
    assert table[TARGET].tolist() == labels.tolist()


def test_a_regression_writes_float_predictions_and_histogram_bounds(tmp_path: Path) -> None:
    frame = reference_frame()
    data = frame.assign(spend=frame["monthly_charges"] * 1.5 + frame["tenure_months"])
    features = [f for f in FEATURES if f != "monthly_charges"]
    model = user_pipeline(RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0))
    pre: ColumnTransformer = model.steps[0][1]
    model.fit(data[features], data["spend"])
    assert pre.feature_names_in_.tolist() == features
    model_path, reference = dump_user_files(tmp_path / "in", model, data[[*features, "spend"]])
    assert _package(model_path, reference, tmp_path / "out", *RF_TRUST, target="spend") == 0
    card = json.loads((tmp_path / "out" / CARD_FILE).read_text())
    assert card["task"] == "regression"
    assert card["classes"] == []
    table = pq.read_table(tmp_path / "out" / REFERENCE_FILE)
    assert table.schema.names == [*features, "prediction", "spend"]
    predictions = table.column("prediction").to_numpy()
    np.testing.assert_allclose(predictions, model.predict(data[features]), rtol=0, atol=1e-9)
    buckets = card["prediction_buckets"]
    assert buckets == sorted(buckets)
    assert buckets[0] <= predictions.min()
    assert buckets[-1] >= predictions.max()


def test_an_encoder_that_raises_on_new_categories_is_marked_so_in_the_card(tmp_path: Path) -> None:
    frame = reference_frame()
    strict = OneHotEncoder(handle_unknown="error", sparse_output=False)
    categorical = ["contract", "internet_service", "payment_method", "region"]
    lenient = ["plan_tier"]
    pre = ColumnTransformer(
        [("strict", strict, categorical), ("lenient", OneHotEncoder(handle_unknown="ignore"), lenient)],
        remainder=StandardScaler(),
    )
    model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))]).fit(
        frame[FEATURES], frame[TARGET]
    )
    model_path, reference = dump_user_files(tmp_path / "in", model, frame)
    assert _package(model_path, reference, tmp_path / "out") == 0
    card = json.loads((tmp_path / "out" / CARD_FILE).read_text())
    marks = {f["name"]: f.get("accepts_unseen", True) for f in card["features"] if f["kind"] == "categorical"}
    assert {name for name, accepted in marks.items() if not accepted} == set(categorical)
    assert card["unseen"] == "accept"


def test_serve_loads_a_reviewed_type_and_refuses_an_unreviewed_one(user_files: tuple[Path, Path]) -> None:
    model, _ = user_files
    with pytest.raises(UntrustedTypesError) as refused:
        load_model(model)
    assert refused.value.types == (TREE_TYPES["random_forest"],)
    pipeline = load_model(model, [TREE_TYPES["random_forest"]])
    assert list(pipeline.feature_names_in_) == FEATURES


def test_trust_variable_is_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTWATCH_TRUST", "a.B, c.D")
    assert Settings().trust == ("a.B", "c.D")
