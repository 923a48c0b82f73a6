"""`driftwatch check` as a real process over the capture tree the real inference service wrote."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from driftwatch_demo import synthetic
from support.inference_server import running_inference_service

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DRIFTWATCH = str(Path(sys.executable).parent / "driftwatch")
MANIFEST = ROOT / "manifests" / "driftchecks" / "churn-demo.yaml"
ROWS = 800


def _send(url: str, frame, labelled: int) -> None:
    records = synthetic.records(frame)
    response = httpx.post(f"{url}/v1/predict", json={"instances": records}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    predictions = body["predictions"] if isinstance(body, dict) and "predictions" in body else body
    for prediction, label in list(zip(predictions, frame[synthetic.TARGET], strict=True))[:labelled]:
        fb = httpx.post(
            f"{url}/v1/feedback", json={"request_id": prediction["request_id"], "label": int(label)}
        )
        assert fb.status_code == 202, fb.text


def _check(model_dir: Path, capture: Path, window: tuple[datetime, datetime], *extra: str) -> dict:
    start, end = window
    seconds = int((end - start) / timedelta(seconds=1)) + 1
    command = [
        DRIFTWATCH, "check", "-f", str(MANIFEST), "--reference", (model_dir / "reference.parquet").as_uri(),
        "--current", (capture / "churn").as_uri(), "--now", end.isoformat(), "--window", f"{seconds}s",
        "-o", "json", *extra,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("capture-check")
    with running_inference_service(workdir, env={"DRIFTWATCH_CAPTURE_FLUSH_INTERVAL_S": "0.5"}) as svc:
        start_normal = datetime.now(UTC)
        _send(svc.url, synthetic.generate(ROWS, 31), labelled=100)
        time.sleep(1.2)
        end_normal = start_drift = datetime.now(UTC)
        time.sleep(0.1)
        _send(svc.url, synthetic.generate(ROWS, 32, "covariate"), labelled=0)
        time.sleep(1.2)
        end_drift = datetime.now(UTC)
        model_dir, capture = svc.model_dir, svc.capture_dir
    return {
        "model_dir": model_dir,
        "capture": capture,
        "normal": (start_normal, end_normal),
        "drift": (start_drift, end_drift),
        "reports": workdir / "reports",
    }


def test_normal_window_is_no_drift_with_labels_joined(captured) -> None:
    status = _check(captured["model_dir"], captured["capture"], captured["normal"])
    assert status["verdict"] == "NoDrift"
    assert status["rows"]["current"] == ROWS
    assert status["rows"]["labelled"] == 100
    assert status["monitoredColumns"] == 15
    assert status["predictionDrift"]["column"] == "probability"
    assert status["predictionDrift"]["class"]["column"] == "prediction"
    assert status["targetDrift"]["labelledRows"] == 100


def test_drifted_window_is_drift_and_writes_the_html_report(captured) -> None:
    status = _check(
        captured["model_dir"],
        captured["capture"],
        captured["drift"],
        "--report-dir",
        str(captured["reports"]),
    )
    assert status["rows"]["current"] == ROWS
    assert status["verdict"] == "Drift"
    assert status["recommendation"] in ("Investigate", "Retrain")
    flagged = {c["name"] for c in status["columns"] if c["drifted"]}
    assert {"tenure_months", "monthly_charges", "contract", "data_usage_gb"} <= flagged
    report = Path(status["report"]["uri"].removeprefix("file://"))
    assert report.parent == captured["reports"]
    assert report.read_text(encoding="utf-8")[:2000].lower().count("<html") == 1
