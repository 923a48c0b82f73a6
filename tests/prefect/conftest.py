"""A real Prefect server on 127.0.0.1 (its SQLite database in a temporary PREFECT_HOME), the project's
.venv-prefect that runs the flow, and generated no-drift and drift capture windows."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from driftwatch_demo.synthetic import generate
from support.processes import die_with_parent, free_port, stop_gracefully

ROOT = Path(__file__).resolve().parents[2]
PREFECT_VENV = ROOT / ".venv-prefect"
SERVER_START_S = 90
RETRIES_503 = 10
# The windows the tests check: one hour of normal traffic, one of covariate drift (the demo's scenarios).
NO_DRIFT_NOW = "2026-01-01T10:55:00Z"
DRIFT_NOW = "2026-01-01T12:55:00Z"


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    env: dict[str, str]

    def post(self, path: str, body: dict[str, object]) -> object:
        return self._call("POST", path, body)

    def get(self, path: str) -> object:
        return self._call("GET", path, None)

    def _call(self, method: str, path: str, body: dict[str, object] | None) -> object:
        # 503 is the server's "database is locked, try again" under SQLite write contention; Prefect's own
        # clients retry it too.
        for _ in range(RETRIES_503):
            response = httpx.request(method, f"{self.api_url}{path}", json=body, timeout=30)
            if response.status_code != 503:
                break
            time.sleep(1)
        response.raise_for_status()
        return response.json()

    def driftwatch(self, *args: str) -> subprocess.Popen[str]:
        """`driftwatch <args>` of .venv-prefect against this server, started (not waited for)."""
        return subprocess.Popen(
            [str(PREFECT_VENV / "bin" / "driftwatch"), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent,
        )


@pytest.fixture(scope="session")
def prefect_venv() -> Path:
    """.venv-prefect as `make test` builds it (a no-op when it is up to date)."""
    subprocess.run(
        ["make", "-s", "prefect-venv"], cwd=ROOT, check=True, stdin=subprocess.DEVNULL, timeout=900
    )
    return PREFECT_VENV


@pytest.fixture(scope="session")
def prefect_server(prefect_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
        # The flow's tests read their artefacts and logs back at once: send logs without batching delay.
        "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.3",
        # Fewer calibration replicates than the default 400: the same for the flow and `driftwatch check`,
        # so their statuses still agree, at a quarter of the CPU on a shared machine.
        "DRIFTWATCH_CALIBRATION_REPLICATES": "100",
        # One calibration cache for every check process of the session: the flows and `driftwatch check`
        # share the reference, so each threshold is bootstrapped once and read back by the others (its key
        # holds the reference's digest, method, window size, replicates, quantile and seed).
        "DRIFTWATCH_CALIBRATION_CACHE_DIR": str(tmp_path_factory.mktemp("calibration-cache")),
    }
    env.pop("PREFECT_PROFILE", None)
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [
            str(prefect_venv / "bin" / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    deadline = time.monotonic() + SERVER_START_S
    while True:
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            stop_gracefully(server)
            pytest.fail(f"prefect server did not start: {(home / 'server.log').read_text()[-2000:]}")
        time.sleep(0.5)
    try:
        yield PrefectServer(api_url, env)
    finally:
        stop_gracefully(server)
        log.close()
    assert (home / "prefect.db").exists(), "the server kept its state in its own SQLite database"


def _write_capture(root: Path, frame: pd.DataFrame, start: pd.Timestamp, name: str) -> None:
    """`frame` as capture rows over 50 minutes from `start`, in the inference service's layout."""
    frame = frame.drop(columns=["churned"]).reset_index(drop=True)
    ts = start + pd.to_timedelta(np.linspace(0, 3000, len(frame), endpoint=False), unit="s")
    frame.insert(0, "request_id", [f"{name}-{i}" for i in range(len(frame))])
    frame.insert(1, "ts", ts)
    frame.insert(2, "model_version", "1.0.0-test")
    frame["prediction"] = 0
    frame["probability"] = 0.2
    directory = root / f"date={start:%Y-%m-%d}" / f"hour={start:%H}"
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(1, "ts", table.column("ts").cast(pa.timestamp("us", tz="UTC")))
    pq.write_table(table, directory / f"test-{name}.parquet")


@pytest.fixture(scope="session")
def churn_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """reference.parquet and a capture tree: hour 10 normal traffic (and one torn file), hour 12 covariate
    drift."""
    root = tmp_path_factory.mktemp("prefect-data")
    generate(3000, 1234).to_parquet(root / "reference.parquet", index=False)
    _write_capture(root / "capture", generate(600, 7), pd.Timestamp("2026-01-01T10:00:00Z"), "normal")
    # A torn file in the normal hour: the check skips it, and says so in the flow run's logs.
    (root / "capture" / "date=2026-01-01" / "hour=10" / "test-torn.parquet").write_bytes(b"PAR1 torn")
    _write_capture(
        root / "capture", generate(600, 8, "covariate"), pd.Timestamp("2026-01-01T12:00:00Z"), "drift"
    )
    return root


JOB_TEMPLATE = {
    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "t", "image": "x"}]}}}
}


def manifest(data: Path, name: str, **spec: object) -> dict[str, object]:
    """A DriftCheck over `churn_data`: one run is enough to recommend Retrain at a 0.25 share."""
    body: dict[str, object] = {
        "schedule": "*/30 * * * *",
        "reference": {"uri": str(data / "reference.parquet")},
        "current": {"uri": str(data / "capture"), "window": "1h", "minRows": 200},
        "columns": {"target": "churned"},
        "policy": {"consecutiveRuns": 1, "retrainShare": 0.25},
        **spec,
    }
    return {
        "apiVersion": "driftwatch.io/v1alpha1",
        "kind": "DriftCheck",
        "metadata": {"name": name},
        "spec": body,
    }
