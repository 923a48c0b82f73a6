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
from support.crd_schema import load_crd, object_errors, run_outcome, status_errors

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


PERFORMANCE = {
    "task": "binary",
    "metric": "roc_auc",
    "labelledRows": 300,
    "labelCoverage": 0.25,
    "reference": {
        "rows": 10000,
        "metrics": [{"name": "roc_auc", "value": 0.81, "lower": 0.80, "upper": 0.82}],
        "confusion": {"labels": [0, 1], "matrix": [[7000, 900], [1100, 1000]]},
    },
    "realized": {
        "rows": 300,
        "metrics": [
            {"name": "roc_auc", "value": 0.74, "lower": 0.69, "upper": 0.79},
            {"name": "log_loss", "value": 0.52, "lower": 0.47, "upper": 0.58},
        ],
        "confusion": {"labels": ["no", "yes"], "matrix": [[200, 30], [40, 30]]},
    },
    "estimated": {
        "method": "CBPE",
        "assumption": "no concept drift: P(y|x) as in the reference; the calibrated probabilities hold",
        "rows": 1200,
        "metrics": [{"name": "roc_auc", "value": 0.79, "lower": 0.76, "upper": 0.82}],
    },
    "drop": {"metric": "roc_auc", "kind": "realized", "value": 0.07, "significant": True},
    "reason": "realized on 300 labelled rows; estimated by CBPE on 1200 rows",
}


def test_a_status_with_performance_is_declared_and_kubectl_shows_its_summary() -> None:
    from driftwatch_controller.api.status import check_status

    status = check_status(run_outcome(performance=PERFORMANCE, performance_degraded=True))
    assert status_errors(status) == []
    assert (
        status["performance"]["summary"] == "roc_auc 0.74 realized (reference 0.81, drop 0.07, significant)"
    )
    assert status["history"][0]["performanceDegraded"] is True
    column = next(
        c for c in load_crd()["spec"]["versions"][0]["additionalPrinterColumns"] if c["name"] == "Performance"
    )
    node: Any = {"status": status}
    for part in column["jsonPath"].strip(".").split("."):
        node = node[part]
    assert node == status["performance"]["summary"]


def test_a_status_without_performance_clears_it_and_marks_no_history() -> None:
    from driftwatch_controller.api.status import check_status

    status = check_status(run_outcome())
    assert status["performance"] is None  # null, so that a merge patch clears an earlier block
    assert "performanceDegraded" not in status["history"][0]
    assert status_errors(status) == []


def test_an_undeclared_performance_field_fails_validation() -> None:
    from driftwatch_controller.api.status import check_status

    block = {**PERFORMANCE, "realized": {**PERFORMANCE["realized"], "auc": 0.74}}
    assert status_errors(check_status(run_outcome(performance=block))) == [
        "status.performance.realized: Additional properties are not allowed ('auc' was unexpected)"
    ]


@pytest.mark.parametrize(
    ("changes", "summary"),
    [
        ({"drop": None, "realized": None}, "roc_auc 0.79 estimated (reference 0.81)"),
        (
            {"drop": {"metric": "roc_auc", "kind": "estimated", "value": 0.02, "significant": False}},
            "roc_auc 0.79 estimated (reference 0.81, drop 0.02)",
        ),
        (
            {"drop": None, "realized": None, "estimated": None, "labelledRows": 12},
            "roc_auc (reference 0.81, no window metric, 12 labelled rows)",
        ),
        (
            {
                "task": "regression",
                "metric": "mae",
                "estimated": None,
                "reference": {"rows": 100, "metrics": [{"name": "mae", "value": 12.04}]},
                "realized": {"rows": 300, "metrics": [{"name": "mae", "value": 15.1}]},
                "drop": {"metric": "mae", "kind": "realized", "value": 3.06, "significant": True},
            },
            "mae 15.1 realized (reference 12, drop 3.06, significant)",
        ),
    ],
)
def test_the_summary_says_which_window_metric_it_shows(changes: dict[str, Any], summary: str) -> None:
    from driftwatch_controller.api.status import performance_summary

    assert performance_summary({**PERFORMANCE, **changes}) == summary
