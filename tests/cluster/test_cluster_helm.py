"""`helm install / upgrade / uninstall` of the chart, as `make deploy` configures it, on a real API server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support.chart_render import SCHEMAS
from support.cluster_release import new_release
from support.control_plane import ControlPlane, wait_until
from support.inference_server import running_inference_service
from support.pod_runner import PodRunner
from support.processes import free_port

pytestmark = pytest.mark.cluster

# What a release owns that the API server lists per namespace (the CRD is cluster-wide and Helm keeps it).
KINDS = ",".join([
    "deployments", "replicasets", "services", "serviceaccounts", "configmaps", "secrets", "roles",
    "rolebindings",
    "pods", "persistentvolumeclaims", "cronjobs", "jobs", "poddisruptionbudgets",
])  # fmt: skip
MONITORING = "servicemonitors.monitoring.coreos.com,prometheusrules.monitoring.coreos.com"


def _release_objects(plane: ControlPlane, namespace: str, release: str) -> list[str]:
    out = plane.kubectl(
        "get",
        f"{KINDS},{MONITORING}",
        "--namespace",
        namespace,
        "-o",
        "name",
        "--selector",
        f"app.kubernetes.io/instance={release}",
    ).stdout
    return sorted(out.split())


@pytest.mark.parametrize("flavour", ["v34", "v35"], ids=["helm3", "helm4"])
def test_install_upgrade_uninstall_for_real(
    control_plane: ControlPlane, pod_runner: PodRunner, monitoring_crds: bool, tmp_path: Path, flavour: str
) -> None:
    if not monitoring_crds:
        pytest.skip(f"prometheus-operator CRDs not found in {SCHEMAS} (the workspace's shared/schemas)")
    namespace = f"helm-{flavour}"
    release = new_release(control_plane, pod_runner, tmp_path, namespace, flavour=flavour)
    manifest = release.helm(
        "template",
        release.name,
        "charts/driftwatch",
        "--namespace",
        namespace,
        "--values",
        "kind/driftwatch-values.yaml",
        "--values",
        str(release.values_file()),
    ).stdout
    rendered = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in yaml.safe_load_all(manifest) if d)

    release.install("--timeout", "2m")

    # Every rendered object was accepted by the real server (no --dry-run): each one exists now.
    for kind_name in rendered:
        kind, name = kind_name.split("/")
        if kind == "Pod":  # the helm test hook is created by `helm test` only
            continue
        control_plane.kubectl("get", kind.lower(), name, "--namespace", namespace)
    assert "ServiceMonitor/driftwatch-inference" in rendered
    assert "PrometheusRule/driftwatch" in rendered
    status = release.helm("status", release.name, "--namespace", namespace, "-o", "json").stdout
    assert '"status":"deployed"' in status.replace(" ", "")

    # The controller Deployment's pod, run by the pod runner, becomes healthy under the chart's RBAC.
    first = release.wait_controller()

    # Changed values: the Deployment rolls (Recreate), the new pod reads the new setting.
    release.install("--timeout", "2m", command="upgrade", values={"controller": {"logFormat": "text"}})
    deployment = control_plane.get(
        f"/apis/apps/v1/namespaces/{namespace}/deployments/{release.controller_name}"
    )
    assert deployment is not None
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "DRIFTWATCH_LOG_FORMAT", "value": "text"} in env
    second = wait_until(
        lambda: (pod := release.wait_controller())["metadata"]["uid"] != first["metadata"]["uid"] and pod,
        timeout=90,
        what="the upgraded controller pod",
    )
    assert second["metadata"]["name"] != first["metadata"]["name"]
    assert "2" in release.helm("history", release.name, "--namespace", namespace).stdout.splitlines()[-1]

    release.helm("uninstall", release.name, "--namespace", namespace, "--wait", "--timeout", "2m")

    # Nothing of the release is left but the data claim, which the chart keeps on purpose
    # (helm.sh/resource-policy: keep: captured predictions outlive a release).
    def gone() -> bool:
        return _release_objects(control_plane, namespace, release.name) == [
            "persistentvolumeclaim/driftwatch-data"
        ]

    try:
        wait_until(gone, timeout=60, what="the release's objects to go")
    except TimeoutError:
        pytest.fail(
            f"left behind after helm uninstall: {_release_objects(control_plane, namespace, release.name)}"
        )
    assert _release_objects(control_plane, namespace, release.name) == [
        "persistentvolumeclaim/driftwatch-data"
    ]
    assert control_plane.get(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/driftchecks.driftwatch.io"
    )


def test_helm_test_passes_against_the_release_and_fails_without_inference(
    control_plane: ControlPlane, pod_runner: PodRunner, monitoring_crds: bool, tmp_path: Path
) -> None:
    """`helm test`: the hook Pod, run by the pod runner, reaches the inference API and the controller's
    /metrics through their Service names (the runner's stand-in for DNS and kube-proxy routes them to the
    real inference process and the controller pod)."""
    namespace = "helm-test"
    release = new_release(control_plane, pod_runner, tmp_path, namespace, monitoring_crds=monitoring_crds)
    release.install("--timeout", "2m")
    release.wait_controller()
    pod_runner.services[f"driftwatch-controller.{namespace}:8080"] = release.metrics_port

    pod_runner.services[f"driftwatch-inference-churn.{namespace}:8000"] = free_port()  # nothing listens there
    failed = release.helm("test", release.name, "--namespace", namespace, "--timeout", "2m", check=False)
    assert failed.returncode != 0
    assert "driftwatch-test" in failed.stdout + failed.stderr

    (tmp_path / "inference").mkdir()
    with running_inference_service(tmp_path / "inference") as inference:
        port = int(inference.url.rsplit(":", 1)[1])
        pod_runner.services[f"driftwatch-inference-churn.{namespace}:8000"] = port
        passed = release.helm("test", release.name, "--namespace", namespace, "--timeout", "2m")
    assert "Phase:          Succeeded" in passed.stdout or "Phase: Succeeded" in " ".join(
        passed.stdout.split()
    )
    logs = pod_runner.logs(namespace, "driftwatch-test")
    assert logs.count("ok   ") == 3, logs
    release.helm("uninstall", release.name, "--namespace", namespace)
