"""What the rendered chart promises: valid Kubernetes objects, ServiceMonitors that select the Services,
the controller and inference contracts (env, command, volumes), dashboards for the Grafana sidecar."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from support.chart_render import CHART, CI_VALUES, NAMESPACE, ROOT, SCHEMAS, by_kind, render, run_helm

pytestmark = pytest.mark.integration

CUSTOM_GROUPS = ("monitoring.coreos.com/", "driftwatch.io/", "apiextensions.k8s.io/")
FULL = CHART / "ci" / "full-values.yaml"
MINIMAL = CHART / "ci" / "minimal-values.yaml"


def ids(path: Path) -> str:
    return path.name.removesuffix("-values.yaml")


def named(objects: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    return next(o for o in by_kind(objects, kind) if o["metadata"]["name"].endswith(suffix))


@pytest.mark.parametrize("k8s", ["1.29.0", "1.35.0"])
@pytest.mark.parametrize("values", CI_VALUES, ids=ids)
def test_builtin_objects_are_valid_kubernetes_strict(values: Path, k8s: str) -> None:
    builtin = [o for o in render("v35", values) if not o["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert builtin
    for obj in builtin:
        try:
            kubernetes_validate.validate(obj, k8s, strict=True)
        except kubernetes_validate.ValidationError as exc:
            name = f"{obj['kind']}/{obj['metadata']['name']}"
            pytest.fail(f"{name} invalid for Kubernetes {k8s}: {exc.message} at {list(exc.path)}")


def strict_schema(schema: Any) -> Any:
    """The CRD's structural schema as JSON Schema, rejecting unknown fields as `kubectl apply` does."""
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict_schema(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if isinstance(schema.get("pattern"), str) and "(?i)" in schema["pattern"]:
        # Go's RE2 accepts a flag group after `^`; Python wants global flags first.
        out["pattern"] = "(?i)" + schema["pattern"].replace("(?i)", "")
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


def crd_schema(path: Path, version: str) -> dict[str, Any]:
    crd = yaml.safe_load(path.read_text())
    served = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    schema: dict[str, Any] = strict_schema(served["schema"]["openAPIV3Schema"])
    return schema


@pytest.mark.parametrize("values", CI_VALUES, ids=ids)
def test_monitoring_objects_match_prometheus_operator_crds(values: Path) -> None:
    if not SCHEMAS.is_dir():
        pytest.skip(f"prometheus-operator CRD schemas not found at {SCHEMAS} (CI puts them beside the clone)")
    objects = render("v35", values)
    schemas = {
        "ServiceMonitor": crd_schema(SCHEMAS / "monitoring.coreos.com_servicemonitors.yaml", "v1"),
        "PrometheusRule": crd_schema(SCHEMAS / "monitoring.coreos.com_prometheusrules.yaml", "v1"),
    }
    checked = 0
    for kind, schema in schemas.items():
        for obj in by_kind(objects, kind):
            body = {k: v for k, v in obj.items() if k != "metadata"}
            jsonschema.validate(body, schema)
            checked += 1
    expected = 0 if values == MINIMAL else 3
    assert checked == expected


def test_driftchecks_from_values_match_the_crd() -> None:
    crd = CHART / "crds" / "driftcheck.yaml"
    schema = yaml.safe_load(crd.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    checks = by_kind(render("v35", FULL), "DriftCheck")
    assert checks
    for check in checks:
        jsonschema.validate({"spec": check["spec"]}, {**schema, "required": ["spec"]})


@pytest.mark.parametrize("values", [None, FULL], ids=["default", "full"])
def test_servicemonitors_select_a_service_port_that_exists(values: Path | None) -> None:
    objects = render("v35", values)
    services = by_kind(objects, "Service")
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in by_kind(objects, "Deployment")
    }
    for monitor in by_kind(objects, "ServiceMonitor"):
        wanted = monitor["spec"]["selector"]["matchLabels"]
        assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
        matches = [s for s in services if wanted.items() <= s["metadata"]["labels"].items()]
        # The inference monitor scrapes every model's Service, the controller's its one Service.
        inference = wanted["app.kubernetes.io/component"] == "inference"
        expected = len([d for d in pods if "-inference-" in d]) if inference else 1
        assert len(matches) == expected, f"{monitor['metadata']['name']} selects {len(matches)} Services"
        for service in matches:
            port_names = {p["name"] for p in service["spec"]["ports"]}
            for endpoint in monitor["spec"]["endpoints"]:
                assert endpoint["port"] in port_names
                assert endpoint["path"] == "/metrics"
            # and the Service reaches the pods of the Deployment of the same name
            assert service["spec"]["selector"].items() <= pods[service["metadata"]["name"]].items()
            if inference:  # one job for all models: the alerts select on it
                job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
                assert job == monitor["metadata"]["name"]


def test_monitoring_labels_come_from_values() -> None:
    default = render("v35", None)
    for obj in by_kind(default, "ServiceMonitor") + by_kind(default, "PrometheusRule"):
        assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    full = render("v35", FULL)
    for obj in by_kind(full, "ServiceMonitor"):
        assert obj["metadata"]["labels"]["release"] == "prom"
        assert obj["metadata"]["labels"]["scrape"] == "yes"
    assert by_kind(full, "PrometheusRule")[0]["metadata"]["labels"]["release"] == "prom"


def test_controller_servicemonitor_keeps_the_driftcheck_namespace_label() -> None:
    monitor = named(render("v35", None), "ServiceMonitor", "controller")
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True


def env_of(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_controller_deployment_gets_the_agreed_environment() -> None:
    objects = render("v35", None)
    controller = named(objects, "Deployment", "controller")
    container = controller["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["driftwatch", "controller"]
    assert container["image"] == "driftwatch/drift-controller:0.1.0"
    assert env_of(controller) == {
        "DRIFTWATCH_WATCH_NAMESPACES": "",
        "DRIFTWATCH_CHECK_IMAGE": "driftwatch/drift-controller:0.1.0",
        "DRIFTWATCH_CHECK_IMAGE_PULL_POLICY": "IfNotPresent",
        "DRIFTWATCH_CHECK_SERVICE_ACCOUNT": "dw-driftwatch-check",
        "DRIFTWATCH_CHECK_RESOURCES": json.dumps(
            {"limits": {"cpu": "1", "memory": "1536Mi"}, "requests": {"cpu": "100m", "memory": "256Mi"}},
            separators=(",", ":"),
        ),
        # Namespaced: check pods of DriftChecks in other namespaces cannot mount it (they would stay Pending).
        "DRIFTWATCH_DATA_PVC": f"{NAMESPACE}/dw-driftwatch-data",
        "DRIFTWATCH_DATA_MOUNT_PATH": "/data",
        "DRIFTWATCH_METRICS_PORT": "8080",
        "DRIFTWATCH_HEALTH_PORT": "8081",
        "DRIFTWATCH_LOG_FORMAT": "json",
    }
    assert controller["spec"]["template"]["spec"]["serviceAccountName"] == "dw-driftwatch-controller"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_controller_environment_follows_values() -> None:
    full = env_of(named(render("v35", FULL), "Deployment", "controller"))
    assert full["DRIFTWATCH_WATCH_NAMESPACES"] == "driftwatch,models"
    assert full["DRIFTWATCH_CHECK_IMAGE"] == "driftwatch/drift-controller:dev"
    assert full["DRIFTWATCH_CHECK_IMAGE_PULL_POLICY"] == "Never"
    minimal = env_of(named(render("v35", MINIMAL), "Deployment", "controller"))
    assert minimal["DRIFTWATCH_CHECK_IMAGE"] == "registry.example.com/driftwatch/drift-controller:0.1.0"
    assert minimal["DRIFTWATCH_CHECK_SERVICE_ACCOUNT"] == "driftwatch-check"
    assert minimal["DRIFTWATCH_DATA_PVC"] == ""
    scoped = env_of(named(render("v35", None, "rbac.scope=namespace"), "Deployment", "controller"))
    assert scoped["DRIFTWATCH_WATCH_NAMESPACES"] == NAMESPACE


def test_inference_serves_the_baked_model_and_writes_capture_to_the_data_volume() -> None:
    inference = named(render("v35", None), "Deployment", "inference-churn")
    pod = inference["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == [
        "driftwatch-inference", "serve", "--host", "0.0.0.0", "--port", "8000",
        "--model-dir", "/app/model", "--capture-uri", "file:///data/capture",
    ]  # fmt: skip
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "dw-driftwatch-data"
    (init,) = pod["initContainers"]
    assert init["image"] == container["image"]
    assert init["command"][-2:] == ["/app/model", "/data/reference/churn.parquet"]
    assert pod["automountServiceAccountToken"] is False


def test_data_claim_is_read_write_once_and_kept_on_uninstall() -> None:
    (claim,) = by_kind(render("v35", None), "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


@pytest.mark.parametrize("values", [None, FULL], ids=["default", "full"])
def test_dashboard_configmaps_carry_the_sidecar_label_folder_and_json(values: Path | None) -> None:
    maps = [m for m in by_kind(render("v35", values), "ConfigMap") if "-dashboard-" in m["metadata"]["name"]]
    files = sorted((CHART / "files" / "dashboards").glob("*.json"))
    assert len(maps) == len(files) == 3
    folder = "ML models" if values else "driftwatch"
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"]["grafana_folder"] == folder
        ((key, body),) = cm["data"].items()
        # The sidecar's file name: unique per release, so two releases never share (or delete) a file.
        assert key.startswith("dw-driftwatch-")
        name = key.removeprefix("dw-driftwatch-")
        assert json.loads(body) == json.loads((CHART / "files" / "dashboards" / name).read_text())


def test_every_alert_links_a_runbook_section() -> None:
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    headings = re.findall(r"^#+ (.+)$", runbooks, re.MULTILINE)
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-") for h in headings}
    (rule,) = by_kind(render("v35", None), "PrometheusRule")
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert {a["alert"] for a in alerts} == {
        "InferenceHighErrorRate", "InferenceLatencyP95High", "InferenceDown", "CaptureDropping",
        "DriftDetected", "RetrainRecommended", "ModelPerformanceDegraded", "DriftCheckStale",
        "DriftCheckFailing",
    }  # fmt: skip
    for alert in alerts:
        url = alert["annotations"]["runbook_url"]
        assert url.split("#")[1] in anchors, f"{alert['alert']}: no section for {url} in docs/runbooks.md"
        assert alert["annotations"]["summary"]
        assert alert["annotations"]["description"]


def test_alert_thresholds_come_from_values() -> None:
    (rule,) = by_kind(render("v35", FULL), "PrometheusRule")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert alerts["InferenceHighErrorRate"]["expr"].endswith("> 0.01")
    assert "> 0.25" in alerts["InferenceLatencyP95High"]["expr"]
    assert alerts["DriftDetected"]["labels"]["team"] == "ml-platform"


def test_alert_thresholds_set_on_the_command_line_render_as_numbers() -> None:
    # helm's --set types decimals as strings; the schema takes them only as plain decimals (no PromQL).
    t = "monitoring.prometheusRule.thresholds"
    (rule,) = by_kind(
        render("v35", None, f"{t}.errorRatio=0.02", f"{t}.latencyP95Seconds=1.5"), "PrometheusRule"
    )
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert alerts["InferenceHighErrorRate"]["expr"].endswith("> 0.02")
    assert "> 1.5" in alerts["InferenceLatencyP95High"]["expr"]
    refused = run_helm(
        "v35", "template", "dw", str(CHART), "--set", f"{t}.latencyP95Seconds=0.5 or vector(1)"
    )
    assert refused.returncode != 0
    assert "/monitoring/prometheusRule/thresholds/latencyP95Seconds" in refused.stderr


def test_runbook_commands_name_objects_the_chart_creates() -> None:
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    defaults = re.search(r"^NS=(\S+) APP=(\S+) MODEL=(\S+)$", runbooks, re.MULTILINE)
    assert defaults is not None, "docs/runbooks.md sets NS, APP and MODEL for its commands"
    namespace, app, model = defaults.groups()
    runbooks = runbooks.replace("$MODEL", model)
    # The release `driftwatch` in namespace `driftwatch`, as the runbooks assume (and `make deploy` installs).
    rendered = run_helm("v35", "template", "driftwatch", str(CHART), "--namespace", namespace)
    assert rendered.returncode == 0, rendered.stderr
    objects = {(o["kind"], o["metadata"]["name"]) for o in yaml.safe_load_all(rendered.stdout) if o}
    named_in_runbooks = re.findall(r"(deploy|serviceMonitor/\$NS)/\$APP-([a-z-]+)", runbooks)
    assert named_in_runbooks
    for kind, suffix in named_in_runbooks:
        expected = ("Deployment" if kind == "deploy" else "ServiceMonitor", f"{app}-{suffix}")
        assert expected in objects, f"docs/runbooks.md names {expected}, which the chart does not create"
