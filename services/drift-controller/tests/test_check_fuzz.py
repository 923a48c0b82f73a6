"""`driftwatch check -f` fuzzed (issue 12): generated manifests (random bytes and text, YAML and JSON with a
field of the wrong type or missing) over small data files (empty, wrong columns, not Parquet, a capture
tree with bad files). Every run ends in a verdict (exit 0, or 1 with --fail-on) or exit 2 with a one-line
reason; never a traceback, never the internal-error code."""

from __future__ import annotations

import copy
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from drift_fixtures import current_frame, reference_frame, write_capture, write_parquet
from driftwatch_controller.api import contracts
from driftwatch_controller.cli import main
from driftwatch_demo.synthetic import Scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

EXAMPLES = 150
NOW = "2026-11-27T10:00:00Z"
FIELD_PATHS = (
    ("kind",),
    ("metadata",),
    ("metadata", "name"),
    ("spec",),
    ("spec", "model"),
    ("spec", "schedule"),
    ("spec", "reference"),
    ("spec", "reference", "uri"),
    ("spec", "current"),
    ("spec", "current", "uri"),
    ("spec", "current", "window"),
    ("spec", "current", "minRows"),
    ("spec", "columns"),
    ("spec", "columns", "numerical"),
    ("spec", "columns", "categorical"),
    ("spec", "columns", "target"),
    ("spec", "columns", "prediction"),
    ("spec", "drift"),
    ("spec", "drift", "method"),
    ("spec", "drift", "thresholds"),
    ("spec", "drift", "threshold"),
    ("spec", "drift", "perColumn"),
    ("spec", "policy"),
    ("spec", "policy", "investigateShare"),
    ("spec", "policy", "retrainShare"),
    ("spec", "policy", "consecutiveRuns"),
    ("spec", "policy", "cooldown"),
    ("spec", "policy", "performance"),
    ("spec", "retrain"),
    ("spec", "retrain", "mode"),
    ("spec", "job"),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("fuzz-data")
    capture = root / "capture" / "churn"
    write_capture(capture, current_frame(250, 1), pd.Timestamp("2026-11-27T09:10:00Z"), 600, "a")
    hour = capture / "date=2026-11-27" / "hour=09"
    (hour / "bad.parquet").write_bytes(b"PAR1 junk")
    (root / "bytes.parquet").write_bytes(b"\x00\x01 not parquet")
    (root / "garbage.csv").write_bytes(b'a,"b\n\xff\xfe,,,\n')
    return {
        "reference": write_parquet(reference_frame(400), root / "reference.parquet"),
        "current": write_parquet(current_frame(300, 2), root / "current.parquet"),
        "drifted": write_parquet(
            current_frame(300, 4, Scenario(kind="covariate", features=("age", "tenure_months", "contract"))),
            root / "drifted.parquet",
        ),
        "capture": str(capture),
        "empty": write_parquet(current_frame(10, 3).head(0), root / "empty.parquet"),
        "wrong columns": write_parquet(
            pd.DataFrame({"x": range(300), "y": ["a"] * 300}), root / "wrong.parquet"
        ),
        "not parquet": str(root / "bytes.parquet"),
        "bad csv": str(root / "garbage.csv"),
        "missing": str(root / "nope.parquet"),
        "not a capture tree": str(root),
    }


def _base(data: dict[str, str], reference: str, current: str) -> dict[str, Any]:
    return {
        "apiVersion": "driftwatch.io/v1alpha1",
        "kind": "DriftCheck",
        "metadata": {"name": "fuzz"},
        "spec": {
            "schedule": "*/15 * * * *",
            "reference": {"uri": data[reference]},
            "current": {"uri": data[current], "window": "1h", "minRows": 50},
            "columns": {
                "numerical": ["age", "tenure_months"],
                "categorical": ["contract"],
                "target": "churned",
            },
            "drift": {"method": "auto", "thresholds": "calibrated"},
            "policy": {"investigateShare": 0.2, "retrainShare": 0.5, "consecutiveRuns": 2, "cooldown": "24h"},
            "retrain": {"mode": "Off"},
        },
    }


@st.composite
def manifests(draw: st.DrawFn, data: dict[str, str]) -> bytes:
    kind = draw(st.sampled_from(["bytes", "text", "yaml", "json"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "text":
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    names = sorted(data)
    # Usable data more often than not, so that half the runs get as far as the engine.
    reference = draw(st.sampled_from(["reference"] * len(names) + names))
    current = draw(st.sampled_from(["current", "capture", "drifted"] * len(names) + names))
    manifest = _base(data, reference, current)
    for _ in range(draw(st.integers(0, 2))):
        path = draw(st.sampled_from(FIELD_PATHS))
        parent = manifest
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None  # type: ignore[assignment]
        if not isinstance(parent, dict):
            continue
        if draw(st.booleans()):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(JSONISH)
    manifest = copy.deepcopy(manifest)
    if kind == "json":
        return json.dumps(manifest).encode()
    return yaml.safe_dump(manifest, allow_unicode=True).encode("utf-8", "surrogatepass")


def test_generated_manifests_and_files_end_in_a_verdict_or_one_line_never_a_traceback(
    data, capsys, monkeypatch, tmp_path_factory
) -> None:
    monkeypatch.setenv("DRIFTWATCH_CALIBRATION_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "fuzz-cache"))
    monkeypatch.setenv("DRIFTWATCH_CALIBRATION_REPLICATES", "100")
    workdir = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    codes: Counter[int] = Counter()
    started = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(manifest=manifests(data), fail_on=st.booleans())
    def run(manifest: bytes, fail_on: bool) -> None:
        path = workdir / "dc.yaml"
        path.write_bytes(manifest)
        args = ["check", "-f", str(path), "--now", NOW, "-o", "json"]
        code = main([*args, "--fail-on", "investigate"] if fail_on else args)
        out, err = capsys.readouterr()
        codes[code] += 1
        assert "Traceback" not in err, (manifest, err)
        assert code in (contracts.EXIT_OK, contracts.EXIT_FAIL_ON, contracts.EXIT_UNUSABLE), (manifest, err)
        if code == contracts.EXIT_UNUSABLE:
            assert out == ""
            lines = [line for line in err.splitlines() if line.startswith("driftwatch check: ")]
            assert len(lines) == 1, (manifest, err)
        else:
            assert json.loads(out)["verdict"] in contracts.VERDICTS
            assert code == contracts.EXIT_OK or fail_on

    run()
    assert time.monotonic() - started < 60
    assert codes[contracts.EXIT_UNUSABLE] > 0
    assert codes[contracts.EXIT_OK] > 0, codes  # some reached a verdict
    assert codes[contracts.EXIT_FAIL_ON] > 0, codes  # and some --fail-on investigate
    print(codes)  # shown with -s
