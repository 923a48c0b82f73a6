"""Training writes the model, card and reference of docs/architecture.md, reproducibly."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from driftwatch_demo import synthetic
from driftwatch_demo.cli import main
from driftwatch_inference.model_card import CARD_FILE, MODEL_FILE, REFERENCE_FILE, load_card
from driftwatch_inference.scoring import build_scorer, load_model

pytestmark = pytest.mark.unit


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_card_describes_features_metrics_and_reference(model_dir: Path) -> None:
    card = json.loads((model_dir / CARD_FILE).read_text())
    assert card["name"] == "churn"
    assert card["version"] == f"1.0.0-{_digest(model_dir / MODEL_FILE)[:12]}"
    assert card["trained_at"] == "2026-01-01T00:00:00Z"
    assert card["classes"] == [0, 1]
    assert [f["name"] for f in card["features"]] == list(synthetic.FEATURE_NAMES)
    tenure = card["features"][0]
    assert tenure["valid_range"] == {"min": 0, "max": 240}
    assert 0 <= tenure["observed_range"]["min"] <= tenure["observed_range"]["max"] <= 72
    contract = next(f for f in card["features"] if f["name"] == "contract")
    assert contract["categories"] == ["month-to-month", "one-year", "two-year"]
    holdout = card["metrics"]["holdout"]
    assert holdout["rows"] == 4000
    assert holdout["roc_auc"] > 0.7
    assert card["reference"] == {"file": REFERENCE_FILE, "rows": 10_000}
    assert card["task"] == "binary"
    assert card["trusted_types"] == []  # scaler, one-hot and logistic are all in skops' default set


def test_card_read_back_gives_the_generator_features(model_dir: Path) -> None:
    # One FeatureSpec type from generator to card to request model: nothing is lost on the way.
    assert load_card(model_dir).features == synthetic.FEATURES


def test_reference_has_features_prediction_probability_and_label(model_dir: Path) -> None:
    table = pq.read_table(model_dir / REFERENCE_FILE)
    assert table.num_rows == 10_000
    assert table.schema.names == [*synthetic.FEATURE_NAMES, "prediction", "probability", "churned"]
    assert str(table.schema.field("tenure_months").type) == "int64"
    assert str(table.schema.field("contract").type) == "string"
    probability = table.column("probability").to_numpy()
    prediction = table.column("prediction").to_numpy()
    assert ((probability > 0.5).astype(int) == prediction).all()


def test_same_seed_writes_byte_identical_artefacts(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    assert main(["train", "--out", str(tmp_path / "again"), "--seed", "42"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == load_card(model_dir).version
    for name in (MODEL_FILE, CARD_FILE, REFERENCE_FILE):
        assert _digest(tmp_path / "again" / name) == _digest(model_dir / name), name


def test_the_service_scores_the_demo_model_as_scikit_learn_does(model_dir: Path) -> None:
    model = load_model(model_dir / MODEL_FILE)
    card = load_card(model_dir)
    frame = synthetic.generate(2000, seed=11, scenario="covariate")
    scorer = build_scorer(model, card, frame[list(card.feature_names)])
    rows = synthetic.records(frame)
    expected = model.predict_proba(frame[list(synthetic.FEATURE_NAMES)])
    np.testing.assert_allclose(scorer.score(rows), expected, rtol=0, atol=1e-5)
