"""Fixtures of the operator tests: per module, one emulator with one `driftwatch controller`, and
traffic captured by the real inference service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.controller import Cluster, running_controller


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Drifted traffic captured by the real inference service: (reference file, capture dir of the model)."""
    from driftwatch_demo import synthetic
    from support.inference_server import running_inference_service

    workdir = tmp_path_factory.mktemp("inference")
    with running_inference_service(workdir) as service:
        records = synthetic.records(synthetic.generate(600, seed=7, scenario="covariate"))
        for start in range(0, len(records), 200):
            response = httpx.post(
                f"{service.url}/v1/predict", json={"instances": records[start : start + 200]}, timeout=30
            )
            assert response.status_code == 200, response.text
        reference, capture = service.model_dir / "reference.parquet", service.capture_dir / "churn"
    assert list(capture.rglob("*.parquet")), "the service captured nothing"
    return reference, capture


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_controller(tmp_path_factory.mktemp("operator")) as running:
        yield running
