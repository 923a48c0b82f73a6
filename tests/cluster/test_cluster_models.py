"""A release of two models on the real control plane: one from an s3:// URI (moto's S3 server, a Secret of
AWS credentials), one from an http:// URI (a file server), both on 127.0.0.1. Their pods, init containers
first, run through a pod runner of their own; each model answers through its Service and captures under
its own prefix, though both cards are named `churn`."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from driftwatch_demo import synthetic
from driftwatch_inference.model_card import CARD_FILE
from support.cluster_release import Release, new_release, service_url
from support.control_plane import ControlPlane, wait_until
from support.inference_server import trained_model_dir
from support.model_stores import http_store, s3_store
from support.pod_runner import Image, PodRunner

pytestmark = pytest.mark.cluster

NAMESPACE = "models"
BIN = Path(sys.executable).parent
INFERENCE = Image(BIN, [], ["driftwatch-inference", "serve"], {"HOME": "/tmp", "PYTHONUNBUFFERED": "1"})
HTTP_VERSION = "2.0.0-from-http"


def _served_by_http(root: Path) -> Path:
    """The demo model under another version, so that the two Services can be told apart."""
    folder = root / "churn-v2"
    shutil.copytree(trained_model_dir(), folder)
    card = json.loads((folder / CARD_FILE).read_text())
    (folder / CARD_FILE).write_text(json.dumps({**card, "version": HTTP_VERSION}))
    return folder


@pytest.fixture(scope="module")
def two_models(
    control_plane: ControlPlane,
    pod_runner: PodRunner,
    monitoring_crds: bool,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Release, PodRunner]]:
    workdir = tmp_path_factory.mktemp("two-models")
    _served_by_http(workdir / "http")
    with s3_store() as s3, http_store(workdir / "http") as base:
        s3_uri = s3.upload(trained_model_dir(), "models", "churn/v1")
        release = new_release(
            control_plane, pod_runner, workdir / "release", NAMESPACE, monitoring_crds=monitoring_crds
        )
        literals = [f"--from-literal={k}={v}" for k, v in s3.credentials().items()]
        control_plane.kubectl("create", "secret", "generic", "model-s3", "--namespace", NAMESPACE, *literals)
        inference_pods = PodRunner(
            control_plane,
            workdir / "runner",
            {"driftwatch/inference": INFERENCE},
            selector=f"app.kubernetes.io/instance={release.name},app.kubernetes.io/component=inference",
            remap_ports=True,
        ).start()
        values = {
            "capture": {"uri": (release.data_dir / "capture").as_uri()},
            "inference": {
                # kind's values give the first model node port 30800, which only one release can hold.
                "service": {"type": "ClusterIP", "nodePort": None},
                "modelVolume": {"mountPath": str(workdir / "models")},
                "extraEnv": [{"name": "DRIFTWATCH_CAPTURE_FLUSH_INTERVAL_S", "value": "0.5"}],
            },
            "models": [
                {
                    "name": "from-s3",
                    "source": {"uri": s3_uri, "secret": "model-s3", "storageOptions": s3.storage_options()},
                },
                {"name": "from-http", "source": {"uri": f"{base}/churn-v2"}},
            ],
        }
        try:
            release.install("--timeout", "2m", values=values)
            yield release, inference_pods
        finally:
            release.helm("uninstall", release.name, "--namespace", NAMESPACE, check=False)
            inference_pods.stop()


def _predict(url: str, rows: int) -> dict[str, object]:
    wait_until(lambda: _ready(url), timeout=120, what=f"{url}/readyz")
    records = synthetic.records(synthetic.generate(rows, seed=5))
    answer = httpx.post(f"{url}/v1/predict", json={"instances": records}, timeout=30)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    predictions = body["predictions"]
    assert isinstance(predictions, list)
    assert len(predictions) == rows
    return body


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _captured(folder: Path, rows: int) -> list[str]:
    """The model_version of every captured row under `folder`, once `rows` are there."""

    def versions() -> list[str] | None:
        files = sorted(folder.glob("date=*/hour=*/*.parquet"))
        found = [v for f in files for v in pq.read_table(f, columns=["model_version"]).column(0).to_pylist()]
        return found if len(found) >= rows else None

    result: list[str] = wait_until(versions, timeout=60, what=f"{rows} captured rows under {folder}")
    return result


def test_two_models_from_s3_and_http_answer_through_their_services_and_capture_apart(
    control_plane: ControlPlane, two_models: tuple[Release, PodRunner]
) -> None:
    release, runner = two_models
    s3_url = service_url(control_plane, runner, NAMESPACE, "driftwatch-inference-from-s3")
    http_url = service_url(control_plane, runner, NAMESPACE, "driftwatch-inference-from-http")
    try:
        s3_answers, http_answers = _predict(s3_url, 7), _predict(http_url, 5)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}\n{runner.all_logs()}") from None
    s3_card = httpx.get(f"{s3_url}/v1/model", timeout=10).json()
    assert s3_card == json.loads((trained_model_dir() / CARD_FILE).read_text())
    assert s3_answers["model_version"] == s3_card["version"]
    assert http_answers["model_version"] == HTTP_VERSION

    # Each pod ran fetch-model, then copy-reference, then the service.
    pods = {
        p["metadata"]["labels"]["driftwatch.io/model"]: p
        for p in control_plane.items(
            f"/api/v1/namespaces/{NAMESPACE}/pods", labelSelector="driftwatch.io/model"
        )
    }
    assert sorted(pods) == ["from-http", "from-s3"]
    for model, pod in pods.items():
        name = pod["metadata"]["name"]
        inits = pod["status"]["initContainerStatuses"]
        assert [(s["name"], s["state"]["terminated"]["exitCode"]) for s in inits] == [
            ("fetch-model", 0),
            ("copy-reference", 0),
        ]
        assert "fetched model.skops, model-card.json, reference.parquet" in runner.logs(
            NAMESPACE, name, "fetch-model"
        )
        assert (release.data_dir / "reference" / f"{model}.parquet").is_file()

    # Both cards are named churn: the model's capturePrefix (its name) keeps the datasets apart.
    capture = release.data_dir / "capture"
    assert _captured(capture / "from-s3" / "churn", 7) == [s3_card["version"]] * 7
    assert _captured(capture / "from-http" / "churn", 5) == [HTTP_VERSION] * 5
    assert sorted(p.name for p in capture.iterdir()) == ["from-http", "from-s3"]
