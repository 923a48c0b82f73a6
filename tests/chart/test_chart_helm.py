"""The chart renders and lints with helm 3 and helm 4, and its values schema rejects bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.chart_render import CHART, CI_VALUES, HELMS, ROOT, by_kind, render, render_text, run_helm

pytestmark = pytest.mark.integration


def ids(path: Path) -> str:
    return path.name.removesuffix("-values.yaml")


@pytest.mark.parametrize("flavour", HELMS)
@pytest.mark.parametrize("values", CI_VALUES, ids=ids)
def test_helm_lint_strict_passes(flavour: str, values: Path) -> None:
    result = run_helm(flavour, "lint", "--strict", str(CHART), "--values", str(values))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values", CI_VALUES, ids=ids)
def test_helm3_and_helm4_render_the_same_objects(values: Path) -> None:
    assert render("v34", values) == render("v35", values)


def test_ci_values_cover_default_full_and_minimal() -> None:
    assert {ids(path) for path in CI_VALUES} >= {"default", "full", "minimal"}


def test_default_install_renders_every_part() -> None:
    kinds = {(obj["kind"], obj["metadata"]["name"]) for obj in render("v35", None)}
    expected = {
        ("Deployment", "dw-driftwatch-inference-churn"),
        ("Deployment", "dw-driftwatch-controller"),
        ("Service", "dw-driftwatch-inference-churn"),
        ("Service", "dw-driftwatch-controller"),
        ("PersistentVolumeClaim", "dw-driftwatch-data"),
        ("ServiceMonitor", "dw-driftwatch-inference"),
        ("ServiceMonitor", "dw-driftwatch-controller"),
        ("PrometheusRule", "dw-driftwatch"),
        ("ConfigMap", "dw-driftwatch-dashboard-overview"),
        ("ConfigMap", "dw-driftwatch-dashboard-inference"),
        ("ConfigMap", "dw-driftwatch-dashboard-drift"),
        ("Pod", "dw-driftwatch-test"),
    }
    assert expected <= kinds
    assert not {kind for kind, _ in kinds} & {"HorizontalPodAutoscaler", "PodDisruptionBudget", "DriftCheck"}


def test_full_values_add_hpa_pdb_and_driftchecks() -> None:
    objects = render("v35", CHART / "ci" / "full-values.yaml")
    hpa = by_kind(objects, "HorizontalPodAutoscaler")[0]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)
    deployments = [d for d in by_kind(objects, "Deployment") if "-inference-" in d["metadata"]["name"]]
    assert len(deployments) == len(by_kind(objects, "HorizontalPodAutoscaler")) > 1  # one HPA per model
    for inference in deployments:
        assert "replicas" not in inference["spec"]  # the HPA owns the replica count
    assert by_kind(objects, "PodDisruptionBudget")[0]["spec"]["minAvailable"] == 1
    check = next(c for c in by_kind(objects, "DriftCheck") if c["metadata"]["name"] == "churn-hourly")
    assert check["metadata"]["namespace"] == "driftwatch"
    assert check["spec"]["reference"]["uri"] == "file:///data/reference/churn.parquet"


def test_minimal_values_render_only_the_workloads() -> None:
    kinds = sorted(obj["kind"] for obj in render("v35", CHART / "ci" / "minimal-values.yaml"))
    for absent in ("ServiceMonitor", "PrometheusRule", "ConfigMap", "PersistentVolumeClaim", "Pod"):
        assert absent not in kinds
    assert kinds.count("Deployment") == 2


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("inference.replicaCount=many", "/inference/replicaCount"),
        ("rbac.scope=everywhere", "/rbac/scope"),
        ("monitoring.serviceMonitor.interval=soon", "/monitoring/serviceMonitor/interval"),
        ("inference.typo=1", "typo"),
        ("driftChecks[0].name=Bad_Name", "/driftChecks/0"),
    ],
)
def test_values_schema_rejects_bad_values_naming_the_field(setting: str, message: str) -> None:
    result = run_helm("v35", "template", "dw", str(CHART), "--set", setting)
    assert result.returncode != 0
    assert message in result.stderr


def test_notes_print_port_forward_and_get_driftchecks() -> None:
    result = run_helm("v35", "install", "dw", str(CHART), "--namespace", "driftwatch", "--dry-run=client")
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "kubectl port-forward --namespace driftwatch svc/dw-driftwatch-inference-churn 8000:8000" in notes
    assert "kubectl get driftchecks --namespace driftwatch" in notes
    assert "svc/kube-prometheus-stack-grafana 3000:80" in notes


def test_render_text_is_deterministic() -> None:
    first = render_text("v35", CHART / "ci" / "full-values.yaml")
    render_text.cache_clear()
    assert render_text("v35", CHART / "ci" / "full-values.yaml") == first


def run_check(script: str) -> subprocess.CompletedProcess[str]:
    """A generator script with --check: exit code 0 when the committed output matches its source."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_committed_dashboards_match_the_generator() -> None:
    result = run_check("dashboards/generate.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_chart_readme_values_table_matches_values_yaml() -> None:
    result = run_check("chart/values_table.py")
    assert result.returncode == 0, result.stdout + result.stderr
