"""Start the real inference service (uvicorn process on 127.0.0.1) for cross-service tests.

    from support.inference_server import running_inference_service

    with running_inference_service(tmp_path) as svc:
        httpx.post(f"{svc.url}/v1/predict", json=record)
    # the process got SIGTERM and flushed its capture into svc.capture_dir

The model is trained once per test session (seed 42) into a temporary directory and reused.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from driftwatch_demo import synthetic

from support.processes import free_port, stop_gracefully

MODEL_SEED = 42
TRAINED_AT = datetime(2026, 1, 1, tzinfo=UTC)
_trained: dict[int, Path] = {}


@dataclass(frozen=True)
class InferenceService:
    """A running service: base URL, its model and capture directories, and the process."""

    url: str
    model_dir: Path
    capture_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def capture_uri(self) -> str:
        return self.capture_dir.as_uri()

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def trained_model_dir(seed: int = MODEL_SEED) -> Path:
    """A model directory trained with `seed`, shared by every test of this session (do not modify it)."""
    if seed not in _trained:
        from driftwatch_demo.training import train

        root = Path(tempfile.mkdtemp(prefix="driftwatch-model-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        train(root / "model", seed=seed, at=TRAINED_AT)  # a fixed trained_at: the same card each run
        _trained[seed] = root / "model"
    return _trained[seed]


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float,
                expect_ready: bool) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    path = "/readyz" if expect_ready else "/healthz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"inference service exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(url + path, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"inference service not ready after {timeout}s:\n{log_path.read_text()}")


@contextmanager
def running_inference_service(
    workdir: Path | None = None,
    *,
    model_dir: Path | None = None,
    capture_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    args: tuple[str, ...] = (),
    expect_ready: bool = True,
    timeout: float = 60.0,
) -> Iterator[InferenceService]:
    """Serve a model (default: the session's seed-42 model) until the block exits, then SIGTERM it.

    `workdir` holds the capture (`<workdir>/capture`, unless `capture_dir`) and the process log; a
    temporary directory is used when omitted. `env` adds environment variables (e.g.
    DRIFTWATCH_CAPTURE_FLUSH_INTERVAL_S); `args` adds `serve` flags. With `expect_ready=False` the
    helper waits for /healthz only (for tests of an unwritable capture sink).
    """
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="driftwatch-serve-")
        workdir = Path(tmp.name)
    model_dir = model_dir if model_dir is not None else trained_model_dir()
    capture_dir = capture_dir if capture_dir is not None else workdir / "capture"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / f"inference-{port}.log"
    command = [
        sys.executable, "-m", "driftwatch_inference", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--model-dir", str(model_dir), "--capture-uri", capture_dir.as_uri(), *args,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    try:
        _wait_ready(url, process, log_path, timeout, expect_ready)
        yield InferenceService(url=url, model_dir=model_dir, capture_dir=capture_dir, process=process,
                               log_path=log_path)  # fmt: skip
    finally:
        stop_gracefully(process)  # SIGTERM: the service flushes its capture
        if tmp is not None:
            tmp.cleanup()


def demo_traffic(rows: int, seed: int) -> tuple[list[dict[str, object]], list[object]]:
    """`rows` request records of the demo model's features (seeded) and their true labels, in order."""
    frame = synthetic.generate(rows, seed=seed)
    return synthetic.records(frame), frame[synthetic.TARGET].tolist()
