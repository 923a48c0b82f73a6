"""The capture on S3 in the chart: the Secret of credentials and the storage options reach the inference
pods and (through the controller) the check pods, the durable capture gets its spool, no claim is needed,
and no values file holds a key."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from driftwatch_controller.api.spec import DriftCheckSpec
from driftwatch_controller.controller.builders import build_cronjob, data_claim
from driftwatch_controller.controller.settings import ControllerSettings
from support.chart_render import CHART, NAMESPACE, by_kind, render

pytestmark = pytest.mark.integration

S3_VALUES = CHART / "ci" / "s3-capture-values.yaml"
ENDPOINT = {"client_kwargs": {"endpoint_url": "http://minio.storage:9000"}}


def _container(objects: list[dict[str, Any]], component: str) -> dict[str, Any]:
    deployment = next(
        d
        for d in by_kind(objects, "Deployment")
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == component
    )
    return dict(deployment["spec"]["template"]["spec"]["containers"][0])


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


@pytest.fixture(scope="module")
def s3_objects() -> list[dict[str, Any]]:
    return render("v35", S3_VALUES)


def test_inference_pods_get_the_secret_the_endpoint_and_the_s3_uri(s3_objects: list[dict[str, Any]]) -> None:
    inference = _container(s3_objects, "inference")
    assert inference["envFrom"] == [{"secretRef": {"name": "capture-s3"}}]
    env = _env(inference)
    assert json.loads(env["DRIFTWATCH_CAPTURE_STORAGE_OPTIONS"]) == ENDPOINT
    uri = inference["command"][inference["command"].index("--capture-uri") + 1]
    assert uri == "s3://driftwatch-capture/prod"  # the service adds the model folder, churn/


def test_the_durable_capture_spools_to_its_own_empty_dir(s3_objects: list[dict[str, Any]]) -> None:
    deployment = next(d for d in by_kind(s3_objects, "Deployment") if "inference" in d["metadata"]["name"])
    pod = deployment["spec"]["template"]["spec"]
    env = _env(pod["containers"][0])
    assert env["DRIFTWATCH_CAPTURE_DURABLE"] == "true"
    assert env["DRIFTWATCH_CAPTURE_GROUP_INTERVAL_S"] == "0.02"
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["capture-spool"] == env["DRIFTWATCH_CAPTURE_SPOOL_DIR"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["capture-spool"]["emptyDir"] == {"sizeLimit": "256Mi"}
    assert "persistentVolumeClaim" not in volumes["data"]


def test_no_claim_when_the_capture_and_references_are_on_s3(s3_objects: list[dict[str, Any]]) -> None:
    assert by_kind(s3_objects, "PersistentVolumeClaim") == []
    assert _env(_container(s3_objects, "controller"))["DRIFTWATCH_DATA_PVC"] == ""


def test_check_pods_get_the_secret_and_the_endpoint_through_the_controller(
    s3_objects: list[dict[str, Any]],
) -> None:
    env = _env(_container(s3_objects, "controller"))
    assert env["DRIFTWATCH_CHECK_ENV_SECRET"] == f"{NAMESPACE}/capture-s3"
    assert json.loads(env["DRIFTWATCH_CHECK_STORAGE_OPTIONS"]) == ENDPOINT
    # What the controller builds from those two variables, for a DriftCheck of the release namespace.
    settings = ControllerSettings(
        check_env_secret=env["DRIFTWATCH_CHECK_ENV_SECRET"],
        check_storage_options=env["DRIFTWATCH_CHECK_STORAGE_OPTIONS"],
    )
    spec = DriftCheckSpec.parse(
        {"schedule": "*/5 * * * *", "reference": {"uri": "s3://m/r.parquet"}, "current": {"uri": "s3://c/x"}},
        cluster=True,
    )
    pod = build_cronjob(spec, {"name": "churn-s3", "namespace": NAMESPACE}, settings)
    check = pod["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert check["envFrom"] == [{"secretRef": {"name": "capture-s3"}}]
    assert json.loads(_env(check)["DRIFTWATCH_STORAGE_OPTIONS"]) == ENDPOINT
    assert data_claim(env["DRIFTWATCH_CHECK_ENV_SECRET"], "other-team") == ""


def test_by_default_no_secret_no_options_no_spool() -> None:
    objects = render("v35")
    inference = _container(objects, "inference")
    assert "envFrom" not in inference
    assert not {"DRIFTWATCH_CAPTURE_STORAGE_OPTIONS", "DRIFTWATCH_CAPTURE_DURABLE"} & _env(inference).keys()
    controller = _env(_container(objects, "controller"))
    assert not {"DRIFTWATCH_CHECK_ENV_SECRET", "DRIFTWATCH_CHECK_STORAGE_OPTIONS"} & controller.keys()


def test_no_values_file_holds_a_key() -> None:
    files = [CHART / "values.yaml", *sorted((CHART / "ci").glob("*.yaml"))]
    for path in files:
        text = path.read_text()
        assert not re.search(r"(?i)aws_(secret_)?access_key(_id)?\s*:|secret_?access_?key\s*:", text), path
        assert not re.search(r"AKIA[0-9A-Z]{16}", text), path
