"""Check pods get the capture store's credentials (a Secret, of their own namespace only) and its fsspec
storage options, as the chart's capture.secret and capture.storageOptions set them."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from driftwatch_controller.api.spec import DriftCheckSpec
from driftwatch_controller.controller import builders
from driftwatch_controller.controller.settings import ControllerSettings
from pydantic import ValidationError

pytestmark = pytest.mark.unit

META = {"name": "churn", "namespace": "ml", "uid": "u-1", "generation": 3}
SPEC: dict[str, Any] = {
    "schedule": "*/15 * * * *",
    "reference": {"uri": "s3://models/churn/v1/reference.parquet"},
    "current": {"uri": "s3://capture/prod/churn", "window": "1h"},
}
OPTIONS = '{"client_kwargs": {"endpoint_url": "http://minio.storage:9000"}}'


def container(namespace: str = "ml", **overrides: Any) -> dict[str, Any]:
    settings = ControllerSettings(check_image="reg/check:1", **overrides)
    spec, meta = DriftCheckSpec.parse(SPEC, cluster=True), {**META, "namespace": namespace}
    cronjob = builders.build_cronjob(spec, meta, settings)
    kubernetes_validate.validate(cronjob, "1.33", strict=True)
    return dict(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0])


def test_the_secret_and_storage_options_reach_the_check_container() -> None:
    check = container(check_env_secret="ml/capture-s3", check_storage_options=OPTIONS)
    assert check["envFrom"] == [{"secretRef": {"name": "capture-s3"}}]
    assert {"name": "DRIFTWATCH_STORAGE_OPTIONS", "value": OPTIONS} in check["env"]


def test_a_namespaced_secret_is_not_referred_to_from_another_namespace() -> None:
    check = container("team-b", check_env_secret="ml/capture-s3")
    assert "envFrom" not in check  # the pod would never start: Secrets are namespaced


def test_no_secret_and_no_options_by_default() -> None:
    check = container()
    assert "envFrom" not in check
    assert all(e["name"] != "DRIFTWATCH_STORAGE_OPTIONS" for e in check["env"])


@pytest.mark.parametrize("value", ["{nope", "[1, 2]"])
def test_storage_options_that_are_not_a_json_object_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="check_storage_options"):
        ControllerSettings(check_storage_options=value)
