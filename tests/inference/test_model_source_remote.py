"""Model directories from a real S3 API (moto's server) and a real HTTP server on 127.0.0.1: `fetch-model`
copies them, `serve --model-uri` serves them (a real uvicorn process answering /v1/predict)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from driftwatch_demo import synthetic
from driftwatch_inference.model_card import CARD_FILE, MODEL_FILE, REFERENCE_FILE
from driftwatch_inference.model_source import fetch_model
from support.inference_server import running_inference_service, trained_model_dir
from support.model_stores import S3Store, http_store, s3_store
from support.processes import free_port

pytestmark = pytest.mark.integration

FILES = (MODEL_FILE, CARD_FILE, REFERENCE_FILE)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Store]:
    with s3_store() as store:
        store.upload(trained_model_dir(), "models", "churn/v1")
        yield store


def _fetch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "driftwatch_inference", "fetch-model", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)


def _clean_env(**extra: str) -> dict[str, str]:
    import os

    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DRIFTWATCH_"))}
    return {**keep, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", **extra}


def _fetch_from_s3(s3: S3Store, uri: str, model_dir: Path) -> subprocess.CompletedProcess[str]:
    """`fetch-model` of `uri` into `model_dir`, with the store's endpoint and credentials only."""
    return _fetch("--model-uri", uri, "--model-dir", str(model_dir), env=_clean_env(**s3.environment()))


def test_fetch_model_copies_from_s3_with_endpoint_and_credentials(s3: S3Store, tmp_path: Path) -> None:
    done = _fetch_from_s3(s3, "s3://models/churn/v1", tmp_path / "m")
    assert done.returncode == 0, done.stderr
    for name in FILES:
        assert (tmp_path / "m" / name).read_bytes() == (trained_model_dir() / name).read_bytes()


def test_fetch_model_from_s3_names_a_missing_object(s3: S3Store, tmp_path: Path) -> None:
    done = _fetch_from_s3(s3, "s3://models/churn/v9", tmp_path / "m")
    assert done.returncode == 1
    assert done.stderr == (
        "driftwatch-inference fetch-model: error: cannot fetch the model directory: "
        f"s3://models/churn/v9/{CARD_FILE}: not found\n"
    )
    assert not (tmp_path / "m").exists()


def test_fetch_model_from_an_unreachable_endpoint_is_one_line(tmp_path: Path) -> None:
    dead = {"client_kwargs": {"endpoint_url": f"http://127.0.0.1:{free_port()}"}}
    env = _clean_env(
        AWS_ACCESS_KEY_ID="k",
        AWS_SECRET_ACCESS_KEY="s",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_MAX_ATTEMPTS="1",
        DRIFTWATCH_MODEL_STORAGE_OPTIONS=json.dumps(dead),
    )
    done = _fetch("--model-uri", "s3://models/churn/v1", "--model-dir", str(tmp_path / "m"), env=env)
    assert done.returncode == 1
    prefix = "driftwatch-inference fetch-model: error: cannot fetch the model directory"
    assert done.stderr.startswith(f"{prefix}: s3://models/churn/v1/{CARD_FILE}: ")
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_fetch_from_http_copies_the_directory(tmp_path: Path) -> None:
    with http_store(trained_model_dir().parent) as base:
        assert fetch_model(f"{base}/{trained_model_dir().name}", tmp_path / "m") == FILES
    assert (tmp_path / "m" / MODEL_FILE).read_bytes() == (trained_model_dir() / MODEL_FILE).read_bytes()


def test_fetch_from_http_names_a_missing_file(tmp_path: Path) -> None:
    root = tmp_path / "served" / "churn"
    root.mkdir(parents=True)
    for name in (MODEL_FILE, CARD_FILE):
        (root / name).write_bytes((trained_model_dir() / name).read_bytes())
    with http_store(tmp_path / "served") as base:
        done = _fetch("--model-uri", f"{base}/churn", "--model-dir", str(tmp_path / "m"), env=_clean_env())
    assert done.returncode == 1
    assert done.stderr.endswith(f"{base}/churn/{REFERENCE_FILE}: not found\n")
    assert not (tmp_path / "m").exists()


def _predict(url: str) -> dict[str, object]:
    (record,) = synthetic.records(synthetic.generate(1, seed=3))
    answer = httpx.post(f"{url}/v1/predict", json=record, timeout=30)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_serve_from_an_s3_uri_answers_predictions(s3: S3Store, tmp_path: Path) -> None:
    env = {**s3.environment(), "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    args = ("--model-uri", "s3://models/churn/v1")
    with running_inference_service(tmp_path, model_dir=tmp_path / "fetched", env=env, args=args) as svc:
        card = httpx.get(f"{svc.url}/v1/model", timeout=10).json()
        body = _predict(svc.url)
    assert card == json.loads((trained_model_dir() / CARD_FILE).read_text())
    assert body["model_version"] == card["version"]
    assert (tmp_path / "fetched" / MODEL_FILE).is_file()


def test_serve_from_an_http_uri_answers_predictions(tmp_path: Path) -> None:
    with http_store(trained_model_dir().parent) as base:
        args = ("--model-uri", f"{base}/{trained_model_dir().name}")
        with running_inference_service(tmp_path, model_dir=tmp_path / "fetched", args=args) as svc:
            body = _predict(svc.url)
    assert body["prediction"] in (0, 1)


def test_serve_from_an_unreadable_uri_exits_1_naming_uri_and_file(tmp_path: Path) -> None:
    with http_store(tmp_path) as base:
        command = [
            sys.executable,
            "-m",
            "driftwatch_inference",
            "serve",
            "--port",
            str(free_port()),
            "--model-uri",
            f"{base}/nothing",
            "--model-dir",
            str(tmp_path / "m"),
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=60, check=False, env=_clean_env()
        )
    assert done.returncode == 1
    assert done.stderr == (
        "driftwatch-inference serve: error: cannot fetch the model directory: "
        f"{base}/nothing/{CARD_FILE}: not found\n"
    )
