"""The kind workflow files agree with the chart: the release label, the dashboard sidecar label and folder
annotation, pinned node image, 127.0.0.1-only ports, and a traffic Job that is valid and restricted."""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest
import yaml
from driftwatch_controller.api.spec import DriftCheckSpec
from driftwatch_controller.controller.builders import build_retrain_job
from driftwatch_demo.cli import build_parser
from support.chart_render import CHART, ROOT, by_kind, pod_specs, render, run_helm
from support.image_builds import image_commands
from support.pod_security import violations

pytestmark = pytest.mark.integration

KIND = ROOT / "kind"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((KIND / name).read_text())
    return data


def test_cluster_pins_the_node_image_and_binds_ports_to_localhost() -> None:
    cluster = load("cluster.yaml")
    for node in cluster["nodes"]:
        assert "@sha256:" in node["image"]
        for mapping in node.get("extraPortMappings", []):
            assert mapping["listenAddress"] == "127.0.0.1"
    ports = {m["containerPort"] for n in cluster["nodes"] for m in n["extraPortMappings"]}
    assert load("driftwatch-values.yaml")["inference"]["service"]["nodePort"] in ports
    assert load("kube-prometheus-stack-values.yaml")["prometheus"]["service"]["nodePort"] in ports


def test_kind_values_render_and_match_kube_prometheus_stack() -> None:
    objects = render("v35", KIND / "driftwatch-values.yaml")
    stack = load("kube-prometheus-stack-values.yaml")
    sidecar = stack["grafana"]["sidecar"]["dashboards"]
    for monitor in by_kind(objects, "ServiceMonitor") + by_kind(objects, "PrometheusRule"):
        # `make kind-up` installs the stack as release kube-prometheus-stack; it selects on that label.
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    dashboards = [m for m in by_kind(objects, "ConfigMap") if "-dashboard-" in m["metadata"]["name"]]
    assert len(dashboards) == 3
    for cm in dashboards:
        assert cm["metadata"]["labels"][sidecar["label"]] == sidecar["labelValue"]
        assert sidecar["folderAnnotation"] in cm["metadata"]["annotations"]
    assert sidecar["searchNamespace"] == "ALL"
    images = {
        c["image"]
        for d in by_kind(objects, "Deployment")
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"driftwatch/inference:dev", "driftwatch/drift-controller:dev"}


def test_traffic_job_is_valid_restricted_and_targets_the_release_service() -> None:
    job = load("traffic-job.yaml")
    for version in ("1.29.0", "1.35.0"):
        kubernetes_validate.validate(job, version, strict=True)
    assert violations("Job/driftwatch-traffic", job["spec"]["template"]["spec"]) == []
    # `make deploy` installs the release RELEASE of the Makefile; `make traffic` applies the Job as is.
    release = re.search(r"^RELEASE\s*\?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert release is not None
    rendered = run_helm(
        "v35", "template", release.group(1), str(CHART), "--values", str(KIND / "driftwatch-values.yaml")
    )
    services = [o for o in yaml.safe_load_all(rendered.stdout) if o and o["kind"] == "Service"]
    service = next(
        s["metadata"]["name"] for s in services if s["metadata"]["name"].endswith("inference-churn")
    )
    pod = job["spec"]["template"]["spec"]
    phases = [(c["name"], c["command"]) for c in pod["initContainers"] + pod["containers"]]
    assert [name for name, _ in phases] == ["normal", "drifted"]
    for _, command in phases:
        assert f"http://{service}:8000" in command
    assert phases[1][1][phases[1][1].index("--scenario") + 1] != "none"
    for _, command in phases:
        # Every flag is one the traffic command really has (argparse exits on an unknown one).
        assert command[0] == "driftwatch-demo"
        args = build_parser().parse_args(command[1:])
        assert args.command == "traffic"
        assert args.seed is not None  # replayable, and one seed per phase
    assert len({build_parser().parse_args(command[1:]).seed for _, command in phases}) == 2
    for container in pod["initContainers"] + pod["containers"]:
        assert container["command"][0] in image_commands(container["image"])


def controller_watch(release: str, namespace: str) -> tuple[str, set[str]]:
    """DRIFTWATCH_WATCH_NAMESPACES of a release installed with the kind values, and its ClusterRole kinds."""
    rendered = run_helm(
        "v35", "template", release, str(CHART), "--namespace", namespace,
        "--values", str(KIND / "driftwatch-values.yaml"),
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    objects = [o for o in yaml.safe_load_all(rendered.stdout) if o]
    (deployment,) = [
        d for d in by_kind(objects, "Deployment") if d["metadata"]["name"].endswith("controller")
    ]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    cluster_wide = {o["kind"] for o in objects if o["kind"] in {"ClusterRole", "ClusterRoleBinding"}}
    return env["DRIFTWATCH_WATCH_NAMESPACES"], cluster_wide


def test_make_deploy_and_make_e2e_releases_each_watch_only_their_namespace() -> None:
    # `make deploy` (release driftwatch) and `make e2e` (release e2e-<id> in its own namespace) share the
    # cluster: a controller watching every namespace would reconcile the other's DriftChecks too.
    assert controller_watch("driftwatch", "driftwatch") == ("driftwatch", set())
    assert controller_watch("e2e-abc123", "driftwatch-e2e-abc123") == ("driftwatch-e2e-abc123", set())


def test_grafana_login_told_to_users_is_the_one_kind_sets() -> None:
    password = load("kube-prometheus-stack-values.yaml")["grafana"]["adminPassword"]
    makefile = (ROOT / "Makefile").read_text()
    walkthrough = (ROOT / "docs" / "kubernetes.md").read_text()
    e2e = (ROOT / "tests" / "e2e" / "test_e2e_kind.py").read_text()
    assert f"(admin / {password}" in makefile
    assert f"`admin` / `{password}`" in walkthrough
    assert f'"GRAFANA_PASSWORD", "{password}"' in e2e


def test_make_images_builds_what_the_kind_release_and_its_check_pods_run() -> None:
    makefile = (ROOT / "Makefile").read_text()
    variables = dict(re.findall(r"^([A-Z_]+)\s*\?=\s*(.+?)\s*$", makefile, re.MULTILINE))
    tag = variables["IMAGE_TAG"]
    built = {variables[v].replace("$(IMAGE_TAG)", tag) for v in ("INFERENCE_IMAGE", "CONTROLLER_IMAGE")}
    objects = render("v35", KIND / "driftwatch-values.yaml")
    (controller,) = [
        d for d in by_kind(objects, "Deployment") if d["metadata"]["name"].endswith("controller")
    ]
    env = {e["name"]: e.get("value") for e in controller["spec"]["template"]["spec"]["containers"][0]["env"]}
    pods = [spec for _, spec in pod_specs(objects)] + [load("traffic-job.yaml")["spec"]["template"]["spec"]]
    used = {c["image"] for pod in pods for c in pod.get("initContainers", []) + pod["containers"]}
    # Check pods run the image the controller is told; kind never pulls (`kind load` put it there).
    assert used | {env["DRIFTWATCH_CHECK_IMAGE"]} == built
    assert env["DRIFTWATCH_CHECK_IMAGE_PULL_POLICY"] == "Never"
    for service in ("inference", "drift-controller"):
        # `make images` builds with context services/<name>: the Dockerfile copies only from there.
        assert f"-f services/{service}/Dockerfile services/{service}" in makefile


def test_example_driftchecks_read_where_the_release_puts_reference_and_capture() -> None:
    objects = render("v35", KIND / "driftwatch-values.yaml")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    (controller,) = [
        d for d in by_kind(objects, "Deployment") if d["metadata"]["name"].endswith("controller")
    ]
    env = {e["name"]: e.get("value") for e in controller["spec"]["template"]["spec"]["containers"][0]["env"]}
    mount = env["DRIFTWATCH_DATA_MOUNT_PATH"]  # where check pods see the data claim
    assert mount == values["data"]["mountPath"]  # where the inference pods write it
    inference = next(
        d for d in by_kind(objects, "Deployment") if d["metadata"]["name"].endswith("inference-churn")
    )
    (copy,) = inference["spec"]["template"]["spec"]["initContainers"]
    reference = f"file://{copy['command'][-1]}"  # where the copy-reference initContainer writes it
    examples = sorted((ROOT / "manifests" / "driftchecks").glob("*.yaml"))
    assert examples
    for path in examples:
        spec = yaml.safe_load(path.read_text())["spec"]
        # The capture layout is <capture.uri>/<model> (docs/architecture.md).
        assert spec["current"]["uri"] == f"{values['capture']['uri']}/{spec['model']}", path.name
        assert spec["reference"]["uri"] == reference, path.name


def test_manual_retrain_example_makes_a_valid_restricted_job_on_the_release_claim() -> None:
    manifest = yaml.safe_load((ROOT / "manifests" / "driftchecks" / "churn-manual-retrain.yaml").read_text())
    meta = {**manifest["metadata"], "namespace": "driftwatch"}
    job = build_retrain_job(DriftCheckSpec.parse(manifest["spec"]), meta, "20261127T101500Z")
    for version in ("1.29.0", "1.35.0"):
        kubernetes_validate.validate(job, version, strict=True)
    pod = job["spec"]["template"]["spec"]
    assert violations("Job/retrain", pod) == []
    (train,) = pod["containers"]
    assert train["command"][0] in image_commands(train["image"])
    assert build_parser().parse_args(train["command"][1:]).command == "train"
    for container in pod["containers"]:
        if container["securityContext"].get("readOnlyRootFilesystem"):
            assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}, container["name"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    release = [
        o for o in render("v35", KIND / "driftwatch-values.yaml") if o["kind"] == "PersistentVolumeClaim"
    ]
    # render() names the release "dw"; `make deploy` names it "driftwatch" (claim driftwatch-data).
    assert {c["metadata"]["name"].replace("dw-driftwatch-", "driftwatch-") for c in release} == claims
