"""A KServe V2 client's request, in MLServer's documented JSON form, over real HTTP to the real service."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest
from driftwatch_demo import synthetic
from support.inference_server import running_inference_service

pytestmark = pytest.mark.integration
DATATYPE = {"int": "INT64", "float": "FP64", "str": "BYTES"}


def test_a_pandas_codec_request_is_scored_captured_and_joinable(tmp_path: Path) -> None:
    records = synthetic.records(synthetic.generate(4, seed=11))
    with running_inference_service(tmp_path) as svc:
        card = httpx.get(f"{svc.url}/v1/model").json()
        metadata = httpx.get(f"{svc.url}/v2/models/churn").json()
        assert [i["name"] for i in metadata["inputs"]] == [f["name"] for f in card["features"]]
        # MLServer's `pd` content type: one input per column, strings as BYTES with content type `str`.
        request = {
            "id": "client-7",
            "parameters": {"content_type": "pd"},
            "inputs": [
                {
                    "name": f["name"],
                    "datatype": DATATYPE[f["dtype"]],
                    "shape": [len(records), 1],
                    "parameters": {"content_type": "str"} if f["dtype"] == "str" else None,
                    "data": [r[f["name"]] for r in records],
                }
                for f in card["features"]
            ],
            "outputs": None,
        }
        response = httpx.post(
            f"{svc.url}/v2/models/churn/infer",
            content=json.dumps(request),
            headers={"content-type": "application/json"},
            timeout=10,
        )
        assert httpx.get(f"{svc.url}/v2/health/ready").status_code == 200
        assert httpx.get(f"{svc.url}/v2/health/live").json() == {"live": True}
        v1 = httpx.post(f"{svc.url}/v1/predict", json={"instances": records}).json()["predictions"]
        refused = httpx.post(f"{svc.url}/v2/models/churn/infer", json={"inputs": request["inputs"][1:]})
        metrics = httpx.get(f"{svc.url}/metrics").text
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "client-7"
    assert body["model_name"] == "churn"
    assert body["model_version"] == card["version"]
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict"]["data"] == [p["prediction"] for p in v1]
    assert outputs["predict_proba"]["data"][1::2] == pytest.approx([p["probability"] for p in v1], abs=1e-12)
    ids = outputs["request_id"]["data"]
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("tenure_months: missing")
    assert 'route="/v2/models/{model_name}/infer"' in metrics
    assert 'driftwatch_validation_failures_total{model="churn",reason="missing_field"} 1.0' in metrics
    served = [f for f in (svc.capture_dir / "churn").rglob("*.parquet") if "feedback" not in f.parts]
    captured = pd.concat([pd.read_parquet(f) for f in served])
    assert set(ids) <= set(captured["request_id"])
    assert len(captured) == 2 * len(records)
