"""A user's own Pipelines, packaged with the CLI and served by the real service on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from driftwatch_inference.cli import main
from driftwatch_inference.model_card import CARD_FILE
from driftwatch_inference.scoring import ENGINE_TOLERANCE
from support.inference_server import running_inference_service
from support.processes import free_port
from support.user_models import FEATURES, TARGET, TREE_TYPES, dump_user_files, fitted, reference_frame

pytestmark = pytest.mark.integration


def _packaged(workdir: Path, kind: str, *trust: str) -> Path:
    model, reference = dump_user_files(workdir / "user", fitted(kind), reference_frame())
    out = workdir / "model"
    flags = [arg for t in trust for arg in ("--trust", t)]
    assert main(["package", "--model", str(model), "--reference", str(reference), "--target", TARGET,
                 "--name", kind, "--out", str(out), *flags]) == 0  # fmt: skip
    return out


def _json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Records with plain Python numbers (numpy scalars are not JSON)."""
    return [
        {k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


@pytest.mark.parametrize("kind", sorted(TREE_TYPES))
def test_served_probability_is_the_pipelines_own(kind: str, tmp_path: Path) -> None:
    model_dir = _packaged(tmp_path, kind, TREE_TYPES[kind])
    rows = reference_frame(seed=9, rows=20)[FEATURES]
    instances = _json_rows(rows)
    expected = fitted(kind).predict_proba(rows)[:, 1]
    with running_inference_service(tmp_path, model_dir=model_dir) as svc:
        answer = httpx.post(f"{svc.url}/v1/predict", json={"instances": instances}, timeout=30)
        card = httpx.get(f"{svc.url}/v1/model", timeout=10).json()
    assert answer.status_code == 200, answer.text
    served = [p["probability"] for p in answer.json()["predictions"]]
    # Scored by ONNX when within the engine check's tolerance of the Pipeline (float32 tree outputs).
    np.testing.assert_allclose(served, expected, rtol=0, atol=ENGINE_TOLERANCE)
    assert [p["prediction"] for p in answer.json()["predictions"]] == [int(p > 0.5) for p in expected]
    assert card == json.loads((model_dir / CARD_FILE).read_text())
    assert card["name"] == kind
    assert card["trusted_types"] == [TREE_TYPES[kind]]


def _serve_once(model_dir: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "driftwatch_inference", "serve", "--host", "127.0.0.1",
               "--port", str(free_port()), "--model-dir", str(model_dir), *flags]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_serve_refuses_a_type_the_card_does_not_trust(tmp_path: Path) -> None:
    model_dir = _packaged(tmp_path, "random_forest", TREE_TYPES["random_forest"])
    card = json.loads((model_dir / CARD_FILE).read_text())
    (model_dir / CARD_FILE).write_text(json.dumps({**card, "trusted_types": []}))
    refused = _serve_once(model_dir)
    assert refused.returncode == 1
    assert f"untrusted skops type(s) in the model file: {TREE_TYPES['random_forest']}" in refused.stderr
    assert "--trust TYPE / DRIFTWATCH_TRUST" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_serve_flag_trusts_a_type_the_card_does_not_name(tmp_path: Path) -> None:
    model_dir = _packaged(tmp_path, "random_forest", TREE_TYPES["random_forest"])
    card = json.loads((model_dir / CARD_FILE).read_text())
    (model_dir / CARD_FILE).write_text(json.dumps({**card, "trusted_types": []}))
    record = _json_rows(reference_frame(rows=1)[FEATURES])[0]
    trust = ("--trust", TREE_TYPES["random_forest"])
    with running_inference_service(tmp_path, model_dir=model_dir, args=trust) as svc:
        answer = httpx.post(f"{svc.url}/v1/predict", json=record, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == card["version"]
