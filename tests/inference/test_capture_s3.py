"""Two real inference processes capture under load into one bucket of a real S3 API (moto's server on
127.0.0.1), one of them durable, and `driftwatch check` reads the window back: rows in = rows out, every
file named after its replica, credentials from the environment only."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from driftwatch_capture import sketches
from driftwatch_demo import synthetic
from support.inference_server import running_inference_service
from support.model_stores import S3Store, s3_store

pytestmark = pytest.mark.integration

BUCKET, PREFIX = "capture", "prod"
DRIFTWATCH = str(Path(sys.executable).parent / "driftwatch")
MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "driftchecks" / "churn-demo.yaml"
LOAD_S = 3.0
LOAD_MAX_S = 30.0
BATCH = 10


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Store]:
    with s3_store() as store:
        store.client().create_bucket(Bucket=BUCKET)
        yield store


def _env(s3: S3Store, **extra: str) -> dict[str, str]:
    """The store's credentials as AWS_* variables, and no AWS config or credentials file to fall back on."""
    no_files = {"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    return {**extra, **s3.credentials(), **no_files}


def _keys(s3: S3Store) -> list[str]:
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _prediction_files(keys: list[str]) -> list[str]:
    return [k for k in keys if k.startswith(f"{PREFIX}/churn/date=") and k.endswith(".parquet")]


def _files_by_replica(s3: S3Store) -> Counter[str]:
    """How many prediction files each replica (`replica-<x>-<id>.parquet`) has published."""
    return Counter(k.rsplit("/", 1)[-1].split("-")[1] for k in _prediction_files(_keys(s3)))


def _drive(url: str, stop: threading.Event) -> list[str]:
    """Batches of BATCH rows from 4 threads until `stop`; the request ids of every 200 answer."""
    records = synthetic.records(synthetic.generate(BATCH, seed=7))

    def worker() -> list[str]:
        ids: list[str] = []
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                response = client.post(f"{url}/v1/predict", json={"instances": records})
                assert response.status_code == 200, response.text
                ids += [p["request_id"] for p in response.json()["predictions"]]
        return ids

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(worker) for _ in range(4)]
        return [i for f in futures for i in f.result()]


def test_two_replicas_write_one_bucket_and_the_check_reads_every_row(s3: S3Store, tmp_path: Path) -> None:
    uri = f"s3://{BUCKET}/{PREFIX}"
    options = json.dumps(s3.storage_options())
    base = ("--capture-uri", uri, "--capture-flush-interval-s", "0.3")
    durable = ("--capture-durable", "--capture-spool-dir", str(tmp_path / "spool-b"))
    replicas = {"replica-a": base, "replica-b": (*base, *durable)}
    answered: dict[str, list[str]] = {}
    for name in "ab":
        (tmp_path / name).mkdir()
    start = datetime.now(UTC)
    env = {
        name: _env(s3, DRIFTWATCH_CAPTURE_HOST=name, DRIFTWATCH_CAPTURE_STORAGE_OPTIONS=options)
        for name in replicas
    }
    with (
        running_inference_service(tmp_path / "a", env=env["replica-a"], args=replicas["replica-a"]) as a,
        running_inference_service(tmp_path / "b", env=env["replica-b"], args=replicas["replica-b"]) as b,
    ):
        stop = threading.Event()
        with ThreadPoolExecutor(2) as pool:
            loads = {
                "replica-a": pool.submit(_drive, a.url, stop),
                "replica-b": pool.submit(_drive, b.url, stop),
            }
            # Under load for LOAD_S, and on until each replica has flushed several files (a slow
            # store, or a loaded machine, makes flushes longer than the flush interval), within a bound.
            deadline = time.monotonic() + LOAD_MAX_S
            time.sleep(LOAD_S)
            while min(_files_by_replica(s3).values(), default=0) <= 2 and time.monotonic() < deadline:
                time.sleep(0.5)
            stop.set()
            answered = {name: f.result() for name, f in loads.items()}
        model_dir = a.model_dir
    end = datetime.now(UTC)

    client, keys = s3.client(), _keys(s3)
    predictions = _prediction_files(keys)
    # Each prediction file has its sketch beside it, published on S3 as the file was (issue 15).
    sidecars = {k for k in keys if k.startswith(f"{PREFIX}/churn/date=") and k.endswith(".sketch")}
    assert sidecars == {sketches.sidecar_path(k) for k in predictions}
    names = _files_by_replica(s3)
    assert set(names) == {"a", "b"}
    assert all(re.fullmatch(r"replica-[ab]-[0-9a-f]{32}\.parquet", k.rsplit("/", 1)[-1]) for k in predictions)
    assert min(names.values()) > 2  # several flushes each, under load, side by side
    assert not [k for k in keys if k.endswith(".partial")]

    stored: list[str] = []
    for key in predictions:
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        stored += pq.read_table(io.BytesIO(body), columns=["request_id"]).column(0).to_pylist()
    rows_in = answered["replica-a"] + answered["replica-b"]
    assert len(stored) == len(set(stored)) == len(rows_in)
    assert set(stored) == set(rows_in)

    seconds = int((end - start) / timedelta(seconds=1)) + 2
    reference = (model_dir / "reference.parquet").as_uri()
    command = [
        DRIFTWATCH,
        "check",
        "-f",
        str(MANIFEST),
        "--reference",
        reference,
        "--current",
        f"{uri}/churn",
    ]
    command += ["--now", end.isoformat(), "--window", f"{seconds}s", "-o", "json"]
    check_env = {**os.environ, **_env(s3, DRIFTWATCH_STORAGE_OPTIONS=options)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, env=check_env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"]["current"] == len(rows_in)
