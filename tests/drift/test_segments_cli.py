"""`driftwatch check -f` with spec.segments, as a real process: per-region drift of the churn data, the status
it prints declared by the CRD, and a segment column the reference cannot segment by refused by name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from driftwatch_demo import synthetic
from support.crd_schema import status_errors

pytestmark = pytest.mark.integration

DRIFTWATCH = str(Path(sys.executable).parent / "driftwatch")
PLANTED = ("monthly_charges", "data_usage_gb")


def _manifest(directory: Path, current: Path, segments: dict) -> Path:
    manifest = {
        "apiVersion": "driftwatch.io/v1alpha1",
        "kind": "DriftCheck",
        "metadata": {"name": "churn-segments"},
        "spec": {
            "reference": {"uri": str(directory / "reference.parquet")},
            "current": {"uri": str(current)},
            "segments": segments,
            "policy": {"investigateShare": 0.2, "segmentShare": 0.1},
        },
    }
    path = directory / f"{current.stem}-{len(segments)}.yaml"
    path.write_text(yaml.safe_dump(manifest))
    return path


def _check(manifest: Path) -> subprocess.CompletedProcess[str]:
    command = [DRIFTWATCH, "check", "-f", str(manifest), "-o", "json"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("segments-cli")
    synthetic.generate(20_000, 1).drop(columns=["churned"]).to_parquet(directory / "reference.parquet")
    current = synthetic.generate(10_000, 2).drop(columns=["churned"])
    # One region's customers pay more and use more data; the other four are unchanged.
    south = (current["region"] == "south").to_numpy()
    for name in PLANTED:
        current.loc[south, name] = current.loc[south, name] * 1.6 + np.float64(1.0)
    current.to_parquet(directory / "south.parquet")
    return directory


def test_the_check_process_reports_the_drifted_region_first(data) -> None:
    result = _check(_manifest(data, data / "south.parquet", {"columns": ["region"], "minRows": 200}))
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    worst = status["segments"][0]
    assert worst["segment"] == "region=south"
    assert set(PLANTED) <= set(worst["driftedColumns"])
    assert status["segmentCounts"] == {"total": 5, "evaluated": 5, "skipped": 0}
    # Two planted columns of 15 keep the global share under investigateShare: the segment alone decides.
    assert status["driftShare"] < 0.2
    assert (status["verdict"], status["recommendation"]) == ("Drift", "Investigate")
    assert "segment region=south" in status["reason"]
    # The API server keeps every field of it (an undeclared one would be pruned).
    assert status_errors(status) == []


def test_a_numerical_segment_column_exits_2_naming_spec_segments(data) -> None:
    result = _check(_manifest(data, data / "south.parquet", {"columns": ["tenure_months"]}))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "driftwatch check: spec.segments.columns: column tenure_months is monitored as numerical; "
        "segments need categories"
    )
    assert result.stdout == ""


def test_in_a_check_pod_a_bad_segment_column_is_an_error_status_naming_it(data) -> None:
    import argparse
    import datetime as dt

    from driftwatch_controller import checkpod

    manifest = yaml.safe_load(_manifest(data, data / "south.parquet", {"columns": ["altitude"]}).read_text())
    manifest["spec"]["schedule"] = "0 * * * *"
    for side in ("reference", "current"):
        manifest["spec"][side]["uri"] = Path(manifest["spec"][side]["uri"]).as_uri()
    now = dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC)
    status, code = checkpod._run_engine(manifest, {}, now, argparse.Namespace(), "churn-segments")
    assert code == checkpod.EXIT_UNUSABLE
    assert (status["verdict"], status["recommendation"]) == ("Error", "None")
    assert status["reason"] == "spec.segments.columns: column altitude is not in the reference dataset"
    assert status_errors(status) == []
