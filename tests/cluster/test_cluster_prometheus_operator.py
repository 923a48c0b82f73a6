"""The `release` label wiring, proven by the real prometheus-operator.

kube-prometheus-stack's Prometheus selects ServiceMonitors and PrometheusRules by the label
`release: <its release>`; a chart that gets it wrong is scraped by nobody, silently. Here the
prometheus-operator (built by `make cluster-tools` at the version of the vendored CRDs) reconciles a
`Prometheus` that selects as kube-prometheus-stack does; the configuration it generates must hold
scrape jobs for the chart's ServiceMonitors and the chart's alert rules, and nothing of a release
labelled for another Prometheus.
"""

from __future__ import annotations

import base64
import gzip
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support.chart_render import SCHEMAS
from support.cluster_release import Release, new_release
from support.control_plane import ControlPlane, prometheus_operator_binary, wait_until
from support.pod_runner import PodRunner
from support.processes import free_port, stop_gracefully

pytestmark = pytest.mark.cluster

SELECTED = {"matchLabels": {"release": "kube-prometheus-stack"}}


def _operator_crds() -> list[Path]:
    """The CRDs of the pinned prometheus-operator, copied from its module by `make cluster-tools`."""
    return sorted((prometheus_operator_binary().parent / "crds").glob("*.yaml"))


@pytest.fixture(scope="module")
def prometheus_operator(control_plane: ControlPlane, monitoring_crds: bool) -> Iterator[ControlPlane]:
    if not monitoring_crds:
        pytest.skip(f"prometheus-operator CRDs not found in {SCHEMAS} (the workspace's shared/schemas)")
    binary = prometheus_operator_binary()
    if not binary.exists() or not _operator_crds():
        pytest.fail(f"{binary} missing: run `make cluster-tools`", pytrace=False)
    for crd in _operator_crds():
        control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd))
    control_plane.kubectl("wait", "--for=condition=Established", "crd/prometheuses.monitoring.coreos.com")
    pki = control_plane.ca_file.parent
    log = (control_plane.workdir / "prometheus-operator.log").open("wb")
    process = subprocess.Popen(
        [
            str(binary),
            f"--apiserver={control_plane.api_url}",
            f"--ca-file={pki / 'ca.crt'}",
            f"--cert-file={pki / 'admin.crt'}",
            f"--key-file={pki / 'admin.key'}",
            f"--web.listen-address=127.0.0.1:{free_port()}",
            "--log-level=info",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    control_plane.processes["prometheus-operator"] = process
    try:
        control_plane.create_namespace("monitoring")
        control_plane.apply(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "Prometheus",
                "metadata": {"name": "kps", "namespace": "monitoring"},
                # As kube-prometheus-stack's values set it: select on the release label, in every namespace.
                "spec": {
                    "serviceMonitorSelector": SELECTED,
                    "serviceMonitorNamespaceSelector": {},
                    "ruleSelector": SELECTED,
                    "ruleNamespaceSelector": {},
                    "replicas": 1,
                },
            }
        )
        yield control_plane
    finally:
        stop_gracefully(process, timeout=10)
        control_plane.processes.pop("prometheus-operator", None)


def _install(
    plane: ControlPlane, runner: PodRunner, workdir: Path, namespace: str, release_label: str
) -> Release:
    # ClusterIP: kind's values give the inference Service node port 30800, which only one release can hold.
    release = new_release(
        plane,
        runner,
        workdir,
        namespace,
        monitoring={"labels": {"release": release_label}},
        inference={"service": {"type": "ClusterIP", "nodePort": None}},
    )
    release.install("--timeout", "2m")
    return release


def _generated_config(plane: ControlPlane) -> dict[str, object] | None:
    secret = plane.get("/api/v1/namespaces/monitoring/secrets/prometheus-kps")
    data = (secret or {}).get("data") or {}
    if "prometheus.yaml.gz" not in data:
        return None

    return dict(yaml.safe_load(gzip.decompress(base64.b64decode(data["prometheus.yaml.gz"]))))


def test_the_operator_scrapes_and_loads_rules_of_the_release_labelled_for_it(
    prometheus_operator: ControlPlane, pod_runner: PodRunner, tmp_path: Path
) -> None:
    plane = prometheus_operator
    # The unlabelled release first: by the time the labelled one shows in the configuration, the
    # operator has seen the other's objects too.
    releases = [
        _install(plane, pod_runner, tmp_path / "unwired", "po-unwired", "another-prometheus"),
        _install(plane, pod_runner, tmp_path / "wired", "po-wired", "kube-prometheus-stack"),
    ]

    def jobs() -> list[str] | None:
        config = _generated_config(plane) or {}
        names = [str(job["job_name"]) for job in config.get("scrape_configs") or []]  # type: ignore[attr-defined]
        return names if any("po-wired" in n for n in names) and len(names) >= 2 else None

    names = wait_until(jobs, timeout=120, what="the operator's generated scrape configuration")
    assert "serviceMonitor/po-wired/driftwatch-inference/0" in names
    assert "serviceMonitor/po-wired/driftwatch-controller/0" in names
    assert not [n for n in names if "po-unwired" in n]

    def rule_files() -> dict[str, str] | None:
        configmap = plane.get("/api/v1/namespaces/monitoring/configmaps/prometheus-kps-rulefiles-0") or {}
        files = dict(configmap.get("data") or {})
        return files if any(key.startswith("po-wired-") for key in files) else None

    files = wait_until(rule_files, timeout=120, what="the operator's rule files")
    wired = "".join(text for key, text in files.items() if key.startswith("po-wired-"))
    groups = yaml.safe_load(wired)["groups"]
    alerts = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    assert {"DriftDetected", "RetrainRecommended", "DriftCheckStale", "InferenceDown"} <= alerts
    assert not [key for key in files if key.startswith("po-unwired-")]
    rule = plane.get("/apis/monitoring.coreos.com/v1/namespaces/po-unwired/prometheusrules/driftwatch") or {}
    assert rule["metadata"]["labels"]["release"] == "another-prometheus"  # it exists, only unselected
    for release in releases:
        release.helm("uninstall", release.name, "--namespace", release.namespace)
