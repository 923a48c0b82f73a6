"""The DriftCheck CRD, read statically: what it accepts, what kubectl shows, every status field declared.

What the real API server rejects, and what it prunes, is tested on it (tests/cluster/).
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.crd_schema import load_crd, object_errors, status_errors

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "manifests" / "driftchecks").glob("*.yaml"))
GOOD: dict[str, Any] = {
    "apiVersion": "driftwatch.io/v1alpha1",
    "kind": "DriftCheck",
    "metadata": {"name": "churn", "namespace": "default"},
    "spec": {
        "schedule": "*/15 * * * *",
        "reference": {"uri": "file:///data/reference/churn.parquet"},
        "current": {"uri": "file:///data/capture/churn", "window": "1h", "minRows": 200},
    },
}


def test_minimal_driftcheck_is_accepted() -> None:
    assert object_errors(GOOD) == []


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_example_manifest_is_accepted_by_the_crd_and_the_engine(path: Path) -> None:
    from driftwatch_controller.api.spec import DriftCheckSpec

    obj = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert object_errors(obj) == []
    assert DriftCheckSpec.from_manifest(obj).schedule == obj["spec"]["schedule"]


def test_drift_methods_are_the_engines() -> None:
    from driftwatch_controller.api.contracts import DriftMethod

    drift = load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["drift"]
    assert drift["properties"]["method"]["enum"] == list(typing.get_args(DriftMethod))


def test_printer_columns_show_verdict_drift_recommendation_rows_last_run_age() -> None:
    version = load_crd()["spec"]["versions"][0]
    columns = version["additionalPrinterColumns"]
    primary = [c["name"].upper() for c in columns if not c.get("priority")]
    assert primary == ["VERDICT", "DRIFT", "RECOMMENDATION", "ROWS", "LAST RUN", "AGE"]
    assert all(c.get("priority") == 1 for c in columns if c["name"].upper() not in primary)
    assert version["subresources"] == {"status": {}}


def test_short_name_and_category() -> None:
    names = load_crd()["spec"]["names"]
    assert names["shortNames"] == ["dchk"]  # `dc` is taken by OpenShift DeploymentConfig
    assert names["categories"] == ["driftwatch"]


def _documented_status() -> dict[str, Any]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(status:\n.*?)```", text, re.S)
    assert block is not None, "docs/architecture.md lost its status example"
    status = yaml.safe_load(block.group(1).replace('"..."', '"2026-11-27T10:15:03Z"'))["status"]
    return dict(status)


def test_every_documented_status_field_is_declared() -> None:
    assert status_errors(_documented_status()) == []


def test_an_undeclared_status_field_fails_validation() -> None:
    status = _documented_status()
    status["columns"][0]["pValue"] = 0.01
    assert status_errors(status) == [
        "status.columns.0: Additional properties are not allowed ('pValue' was unexpected)"
    ]


def test_engine_error_status_is_declared() -> None:
    import datetime as dt

    from driftwatch_controller.api.status import error_status

    status = error_status(None, dt.datetime(2026, 11, 27, tzinfo=dt.UTC), "cannot read file:///nope")
    assert status["verdict"] == "Error"
    assert status_errors(status) == []


def _leaf_paths(node: dict[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for name, child in (node.get("properties") or {}).items():
        path = f"{prefix}{name}"
        if child.get("properties"):
            paths += _leaf_paths(child, f"{path}.")
        else:
            paths.append(path)
    return paths


def test_reference_page_documents_every_spec_and_status_field() -> None:
    doc = (ROOT / "docs" / "driftcheck.md").read_text(encoding="utf-8")
    schema = load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    spec_fields = _leaf_paths(schema["spec"])
    missing = [path for path in spec_fields if f"`{path}`" not in doc and f"`{path}." not in doc]
    missing += [name for name in schema["status"]["properties"] if f"`{name}" not in doc]
    assert missing == []


def test_a_multiclass_spec_and_status_are_declared() -> None:
    import datetime as dt

    from driftwatch_controller.api.status import Carried, RunOutcome, check_status

    manifest = {
        **GOOD,
        "spec": {
            **GOOD["spec"],
            "columns": {
                "predictionClass": "prediction",
                "classProbabilities": ["probability_a", "probability_b"],
            },
        },
    }
    assert object_errors(manifest) == []
    bad = {**GOOD, "spec": {**GOOD["spec"], "columns": {"classProbabilities": "probability_a"}}}
    assert object_errors(bad) != []
    entry = {
        "column": "probability_a",
        "method": "wasserstein",
        "score": 0.3,
        "threshold": 0.05,
        "drifted": True,
    }
    outcome = RunOutcome(
        now=dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
        carried=Carried(),
        verdict="NoDrift",
        recommendation="None",
        reason="r",
        measured=True,
        drift_share=0.0,
        drifted_columns=0,
        monitored_columns=2,
        rows={"reference": 10, "current": 10, "labelled": 0},
        window=None,
        thresholds="calibrated",
        columns=[],
        prediction_drift={
            "column": "prediction",
            "method": "jensenshannon",
            "score": 0.1,
            "threshold": 0.03,
            "drifted": True,
            "classProbabilities": [entry],
        },
        target_drift=None,
        data_quality={},
        consecutive_drift_runs=0,
        last_retrain_recommendation=None,
    )
    status = check_status(outcome)
    assert status["predictionDrift"]["classProbabilities"] == [entry]
    assert status_errors(status) == []
