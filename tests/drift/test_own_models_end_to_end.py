"""A user's own models of every task, from their own files to a drift verdict, with no code change.

For each model: fit on the user's data, `skops.io.dump` it, `driftwatch-inference package` it, serve
it with the real service on 127.0.0.1, send a normal and a drifted hour of traffic with delayed
labels, and run `driftwatch check` (a real process) on what the service captured. The DriftCheck
names no columns: features, outputs and the label come from the reference and its model card.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from driftwatch_demo import synthetic
from driftwatch_inference.cli import main as inference_cli
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from support.inference_server import running_inference_service
from support.user_models import FEATURES, TREE_TYPES, dump_user_files, user_pipeline

pytestmark = pytest.mark.integration

DRIFTWATCH = str(Path(sys.executable).parent / "driftwatch")
ROWS = 600
LABELLED = 150


def _segment(frame: pd.DataFrame) -> pd.Series:
    """A three-class label the features explain: how long the customer has stayed."""
    return pd.cut(frame["tenure_months"], [-1, 12, 36, 10_000], labels=["new", "settled", "loyal"]).astype(
        str
    )


def _spend(frame: pd.DataFrame) -> pd.Series:
    """A numeric label the features explain: next month's bill."""
    return frame["monthly_charges"] * 1.1 + frame["data_usage_gb"] * 0.5


def _churned(frame: pd.DataFrame) -> pd.Series:
    return frame[synthetic.TARGET]


@dataclass(frozen=True)
class UserModel:
    name: str
    estimator: Callable[[], BaseEstimator]
    target: str
    label: Callable[[pd.DataFrame], pd.Series]
    trust: str
    task: str


MODELS = [
    UserModel(
        "rf-churn",
        lambda: RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0),
        "churned",
        _churned,
        TREE_TYPES["random_forest"],
        "binary",
    ),
    UserModel(
        "hgb-churn",
        lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0),
        "churned",
        _churned,
        TREE_TYPES["hist_gradient_boosting"],
        "binary",
    ),
    UserModel(
        "segment",
        lambda: RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0),
        "segment",
        _segment,
        TREE_TYPES["random_forest"],
        "multiclass",
    ),
    UserModel(
        "spend",
        lambda: HistGradientBoostingRegressor(max_iter=20, random_state=0),
        "spend",
        _spend,
        TREE_TYPES["hist_gradient_boosting"],
        "regression",
    ),
]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _send(url: str, frame: pd.DataFrame, labels: pd.Series, labelled: int) -> None:
    records = [{k: _plain(v) for k, v in row.items()} for row in frame[FEATURES].to_dict("records")]
    response = httpx.post(f"{url}/v1/predict", json={"instances": records}, timeout=60)
    assert response.status_code == 200, response.text
    for prediction, label in list(zip(response.json()["predictions"], labels, strict=True))[:labelled]:
        body = {"request_id": prediction["request_id"], "label": _plain(label)}
        answer = httpx.post(f"{url}/v1/feedback", json=body, timeout=10)
        assert answer.status_code == 202, answer.text


def _manifest(workdir: Path, name: str) -> Path:
    """The smallest DriftCheck a user writes: where the data is, nothing about columns."""
    spec = {
        "apiVersion": "driftwatch.io/v1alpha1",
        "kind": "DriftCheck",
        "metadata": {"name": name},
        "spec": {
            "model": name,
            "schedule": "0 * * * *",
            "reference": {"uri": "file:///unused"},
            "current": {"uri": "file:///unused", "window": "1h", "minRows": 200},
        },
    }
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _check(manifest: Path, model_dir: Path, current: Path, window: tuple[datetime, datetime]) -> dict:
    """`driftwatch check` of one window; both windows of a model share one calibration cache (the same
    reference and window size), so the second reads the thresholds the first bootstrapped."""
    start, end = window
    seconds = int((end - start) / timedelta(seconds=1)) + 1
    command = [
        DRIFTWATCH,
        "check",
        "-f",
        str(manifest),
        "--reference",
        (model_dir / "reference.parquet").as_uri(),
        "--current",
        current.as_uri(),
        "--now",
        end.isoformat(),
        "--window",
        f"{seconds}s",
        "-o",
        "json",
    ]
    env = {**os.environ, "DRIFTWATCH_CALIBRATION_CACHE_DIR": str(model_dir.parent / "calibration-cache")}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module", params=MODELS, ids=[m.name for m in MODELS])
def checked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One user model, packaged, served through a normal and a drifted phase, and checked on each."""
    user: UserModel = request.param
    workdir = tmp_path_factory.mktemp(user.name)
    training = synthetic.generate(2000, seed=1)
    estimator = user_pipeline(user.estimator()).fit(training[FEATURES], user.label(training))
    reference = synthetic.generate(1500, seed=2)
    reference = reference[FEATURES].assign(**{user.target: user.label(reference)})
    model_file, reference_file = dump_user_files(workdir / "user", estimator, reference)
    model_dir = workdir / "model"
    assert (
        inference_cli(
            [
                "package",
                "--model",
                str(model_file),
                "--reference",
                str(reference_file),
                "--target",
                user.target,
                "--name",
                user.name,
                "--trust",
                user.trust,
                "--out",
                str(model_dir),
            ]
        )
        == 0
    )
    normal, drifted = synthetic.generate(ROWS, seed=3), synthetic.generate(ROWS, seed=4, scenario="covariate")
    env = {"DRIFTWATCH_CAPTURE_FLUSH_INTERVAL_S": "0.5"}
    with running_inference_service(workdir, model_dir=model_dir, env=env) as svc:
        start_normal = datetime.now(UTC)
        _send(svc.url, normal, user.label(normal), LABELLED)
        time.sleep(1.2)
        end_normal = start_drift = datetime.now(UTC)
        time.sleep(0.1)
        _send(svc.url, drifted, user.label(drifted), 0)
        time.sleep(1.2)
        end_drift = datetime.now(UTC)
        card = httpx.get(f"{svc.url}/v1/model", timeout=10).json()
    manifest = _manifest(workdir, user.name)
    current = svc.capture_dir / user.name
    return {
        "user": user,
        "card": card,
        "normal": _check(manifest, model_dir, current, (start_normal, end_normal)),
        "drift": _check(manifest, model_dir, current, (start_drift, end_drift)),
    }


def test_the_card_says_the_task_read_off_the_model(checked: dict[str, Any]) -> None:
    assert checked["card"]["task"] == checked["user"].task


def test_a_normal_hour_is_no_drift_with_the_labels_joined(checked: dict[str, Any]) -> None:
    status = checked["normal"]
    assert status["verdict"] == "NoDrift", status["reason"]
    assert status["rows"] == {
        "reference": 1500,
        "current": ROWS,
        "labelled": LABELLED,
        "sampleRate": 1.0,
        "estimatedCurrent": ROWS,
    }
    assert status["monitoredColumns"] == len(FEATURES)
    assert status["targetDrift"]["column"] == checked["user"].target
    assert status["targetDrift"]["labelledRows"] == LABELLED


def test_a_drifted_hour_is_drift_in_the_features_and_in_the_predictions(checked: dict[str, Any]) -> None:
    status, task = checked["drift"], checked["user"].task
    assert status["verdict"] == "Drift", status["reason"]
    flagged = {c["name"] for c in status["columns"] if c["drifted"]}
    assert {"tenure_months", "monthly_charges", "data_usage_gb"} <= flagged
    prediction = status["predictionDrift"]
    if task == "binary":
        assert prediction["column"] == "probability"
        assert prediction["class"]["column"] == "prediction"
    elif task == "multiclass":
        assert prediction["column"] == "prediction"
        per_class = {c["column"]: c for c in prediction["classProbabilities"]}
        assert set(per_class) == {f"probability_{c}" for c in checked["card"]["classes"]}
        # The segments follow tenure, which the covariate shift moves: the class mix moves too.
        assert prediction["drifted"] or any(c["drifted"] for c in per_class.values())
    else:
        assert prediction["column"] == "prediction"
        # The bill follows monthly charges and data usage, both shifted: so does the prediction.
        assert prediction["drifted"]
