"""Several models per release (`models:`), each from its own source: what `helm template` renders for them,
and what the schema and the templates refuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.chart_render import CHART, by_kind, render, run_helm

pytestmark = pytest.mark.integration

MODELS: list[dict[str, Any]] = [
    {
        "name": "fraud",
        "source": {
            "uri": "s3://models/fraud/v3",
            "secret": "fraud-s3",
            "storageOptions": {"client_kwargs": {"endpoint_url": "http://minio.storage:9000"}},
        },
        "replicas": 3,
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"}},
        "extraEnv": [{"name": "DRIFTWATCH_MAX_BATCH_SIZE", "value": "50"}],
        "driftChecks": [
            {"name": "fraud-daily", "spec": {"schedule": "0 3 * * *", "current": {"uri": "s3://c/x"}}}
        ],
    },
    {"name": "churn-v2", "source": {"pvc": {"claimName": "model-store", "subPath": "churn/v2"}}},
    {
        "name": "upsell",
        "source": {"image": {"repository": "example.com/upsell", "tag": "1.4", "path": "/model/"}},
    },
]


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    values = tmp_path_factory.mktemp("models") / "values.yaml"
    values.write_text(yaml.safe_dump({"models": MODELS}))
    return render("v35", values)


def deployment(objects: list[dict[str, Any]], model: str) -> dict[str, Any]:
    return next(
        d
        for d in by_kind(objects, "Deployment")
        if d["metadata"]["name"] == f"dw-driftwatch-inference-{model}"
    )


def pod(objects: list[dict[str, Any]], model: str) -> dict[str, Any]:
    spec: dict[str, Any] = deployment(objects, model)["spec"]["template"]["spec"]
    return spec


def flag(container: dict[str, Any], name: str) -> str:
    command: list[str] = container["command"]
    return command[command.index(name) + 1]


def test_each_model_gets_a_deployment_and_a_service_labelled_with_its_name(
    objects: list[dict[str, Any]],
) -> None:
    names = {f"dw-driftwatch-inference-{m['name']}" for m in MODELS}
    assert {d["metadata"]["name"] for d in by_kind(objects, "Deployment")} == {
        *names,
        "dw-driftwatch-controller",
    }
    services = {s["metadata"]["name"]: s for s in by_kind(objects, "Service")}
    for model in MODELS:
        name = f"dw-driftwatch-inference-{model['name']}"
        selector = deployment(objects, model["name"])["spec"]["selector"]["matchLabels"]
        assert selector["driftwatch.io/model"] == model["name"]
        assert services[name]["spec"]["selector"] == selector
        assert services[name]["metadata"]["labels"]["driftwatch.io/model"] == model["name"]
    assert deployment(objects, "fraud")["spec"]["replicas"] == 3
    assert deployment(objects, "upsell")["spec"]["replicas"] == 1  # inference.replicaCount


def test_one_servicemonitor_scrapes_every_model_under_one_job(objects: list[dict[str, Any]]) -> None:
    monitor = next(
        m for m in by_kind(objects, "ServiceMonitor") if m["metadata"]["name"] == "dw-driftwatch-inference"
    )
    wanted = monitor["spec"]["selector"]["matchLabels"].items()
    scraped = [s for s in by_kind(objects, "Service") if wanted <= s["metadata"]["labels"].items()]
    assert sorted(s["metadata"]["labels"]["driftwatch.io/model"] for s in scraped) == sorted(
        m["name"] for m in MODELS
    )
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http"]
    assert {s["metadata"]["labels"][monitor["spec"]["jobLabel"]] for s in scraped} == {
        "dw-driftwatch-inference"
    }


def test_a_uri_model_is_fetched_by_an_init_container_that_alone_gets_the_secret(
    objects: list[dict[str, Any]],
) -> None:
    spec = pod(objects, "fraud")
    fetch, copy = spec["initContainers"]
    assert (fetch["name"], copy["name"]) == ("fetch-model", "copy-reference")
    assert fetch["command"] == [
        "driftwatch-inference",
        "fetch-model",
        "--model-uri",
        "s3://models/fraud/v3",
        "--model-dir",
        "/models/fraud",
    ]
    assert fetch["envFrom"] == [{"secretRef": {"name": "fraud-s3"}}]
    (options,) = fetch["env"]
    assert options["name"] == "DRIFTWATCH_MODEL_STORAGE_OPTIONS"
    assert json.loads(options["value"]) == {"client_kwargs": {"endpoint_url": "http://minio.storage:9000"}}
    (serve,) = spec["containers"]
    assert "envFrom" not in serve
    assert flag(serve, "--model-dir") == "/models/fraud"
    assert {"name": "DRIFTWATCH_MAX_BATCH_SIZE", "value": "50"} in serve["env"]
    assert serve["resources"] == {"limits": {"cpu": "2", "memory": "1Gi"}}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["model"] == {"name": "model", "emptyDir": {"sizeLimit": "1Gi"}}
    assert {"name": "model", "mountPath": "/models"} in fetch["volumeMounts"]
    assert {"name": "model", "mountPath": "/models", "readOnly": True} in serve["volumeMounts"]


def test_a_pvc_model_is_mounted_read_only_from_its_sub_path(objects: list[dict[str, Any]]) -> None:
    spec = pod(objects, "churn-v2")
    assert [c["name"] for c in spec["initContainers"]] == ["copy-reference"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["model"]["persistentVolumeClaim"] == {"claimName": "model-store", "readOnly": True}
    (serve,) = spec["containers"]
    mount = {"name": "model", "mountPath": "/models/churn-v2", "subPath": "churn/v2", "readOnly": True}
    assert mount in serve["volumeMounts"]
    assert flag(serve, "--model-dir") == "/models/churn-v2"


def test_an_image_model_is_copied_from_its_image_into_an_empty_dir(objects: list[dict[str, Any]]) -> None:
    spec = pod(objects, "upsell")
    copy_model, copy_reference = spec["initContainers"]
    assert copy_model["image"] == "example.com/upsell:1.4"
    assert copy_model["command"] == ["cp", "-R", "/model/.", "/models/upsell"]
    assert copy_model["securityContext"]["readOnlyRootFilesystem"] is True
    assert copy_reference["command"][-2:] == ["/models/upsell", "/data/reference/upsell.parquet"]
    assert {v["name"] for v in spec["volumes"]} == {"data", "model", "tmp"}


def test_models_write_capture_under_their_own_prefix(objects: list[dict[str, Any]]) -> None:
    uris = {m["name"]: flag(pod(objects, m["name"])["containers"][0], "--capture-uri") for m in MODELS}
    assert uris == {name: f"file:///data/capture/{name}" for name in uris}


def test_a_model_drift_check_is_labelled_with_it_and_reads_its_reference_copy(
    objects: list[dict[str, Any]],
) -> None:
    (check,) = by_kind(objects, "DriftCheck")
    assert check["metadata"]["name"] == "fraud-daily"
    assert check["metadata"]["labels"]["driftwatch.io/model"] == "fraud"
    assert check["spec"]["reference"] == {"uri": "file:///data/reference/fraud.parquet"}
    assert check["spec"]["current"] == {"uri": "s3://c/x"}


def test_helm_test_checks_every_model(objects: list[dict[str, Any]]) -> None:
    (test_pod,) = by_kind(objects, "Pod")
    urls = test_pod["spec"]["containers"][0]["command"][3:]
    for model in MODELS:
        assert f"http://dw-driftwatch-inference-{model['name']}:8000/readyz|" in urls


def test_default_values_serve_the_demo_model_baked_in_the_image() -> None:
    (model,) = yaml.safe_load((CHART / "values.yaml").read_text())["models"]
    assert model == {"name": "churn", "source": {"builtin": True}, "capturePrefix": ""}
    (inference,) = [
        d for d in by_kind(render("v35", None), "Deployment") if "-inference-" in d["metadata"]["name"]
    ]
    (serve,) = inference["spec"]["template"]["spec"]["containers"]
    assert flag(serve, "--model-dir") == "/app/model"
    assert flag(serve, "--capture-uri") == "file:///data/capture"  # <capture>/churn, as before
    assert {v["name"] for v in inference["spec"]["template"]["spec"]["volumes"]} == {"data", "tmp"}


def _refused(tmp_path: Path, models: list[dict[str, Any]]) -> str:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"models": models}))
    result = run_helm("v35", "template", "dw", str(CHART), "--values", str(values))
    assert result.returncode != 0, "rendered"
    return result.stderr


@pytest.mark.parametrize(
    "source",
    [
        {},
        {"builtin": True, "uri": "s3://models/x"},
        {"uri": "s3://models/x", "pvc": {"claimName": "store"}},
        {"builtin": False},
        {"uri": "ftp://models/x"},
        {"image": {"repository": "example.com/m", "path": "/model"}},
    ],
    ids=["none", "builtin-and-uri", "uri-and-pvc", "builtin-false", "bad-scheme", "image-without-tag"],
)
def test_schema_refuses_a_model_without_exactly_one_source(source: dict[str, Any], tmp_path: Path) -> None:
    assert "/models/0/source" in _refused(tmp_path, [{"name": "m", "source": source}])


def test_schema_refuses_an_empty_model_list(tmp_path: Path) -> None:
    assert "/models" in _refused(tmp_path, [])


def test_two_models_of_one_name_are_refused(tmp_path: Path) -> None:
    model = {"name": "m", "source": {"builtin": True}}
    assert 'the name "m" is used twice' in _refused(tmp_path, [model, {**model, "capturePrefix": "other"}])


def test_two_models_writing_under_one_capture_prefix_are_refused(tmp_path: Path) -> None:
    models = [
        {"name": "a", "source": {"builtin": True}, "capturePrefix": ""},
        {"name": "b", "source": {"uri": "http://models/b"}, "capturePrefix": ""},
    ]
    assert "a and b write capture under the same prefix" in _refused(tmp_path, models)


def test_a_model_name_too_long_for_a_service_is_refused(tmp_path: Path) -> None:
    assert "longer than the 63 characters" in _refused(
        tmp_path, [{"name": "m" * 40, "source": {"builtin": True}}]
    )
