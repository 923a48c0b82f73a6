"""The chart's NetworkPolicies as rendered: every driftwatch pod selected (check pods by the labels the
controller really gives them), inference open to its clients and Prometheus, the controller's metrics to
Prometheus only, egress to DNS, the API server and the capture store, valid for Kubernetes 1.29 and 1.35."""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest
from driftwatch_controller.controller.builders import labels_for
from support.chart_render import ROOT, by_kind, pod_specs, render

pytestmark = pytest.mark.integration

MAKEFILE = ROOT / "Makefile"
PROMETHEUS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}
S3 = "networkPolicy.captureStore.to[0].ipBlock.cidr=52.95.0.0/16"
MINIO = "networkPolicy.modelSources.to[0].podSelector.matchLabels.app=minio"


def policy(objects: list[dict[str, Any]], component: str) -> dict[str, Any]:
    return next(
        p for p in by_kind(objects, "NetworkPolicy") if p["metadata"]["name"].endswith(f"-{component}")
    )


def selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def egress_ports(policy: dict[str, Any]) -> set[int]:
    return {p["port"] for rule in policy["spec"].get("egress") or [] for p in rule.get("ports") or []}


def test_every_pod_of_the_chart_and_every_check_pod_is_selected() -> None:
    objects = render("v35", None)
    policies = by_kind(objects, "NetworkPolicy")
    templates = [o for o in objects if o["kind"] in ("Deployment", "Pod")]
    assert len(list(pod_specs(templates))) >= 3
    for obj in templates:
        labels = (
            obj["metadata"]["labels"]
            if obj["kind"] == "Pod"
            else obj["spec"]["template"]["metadata"]["labels"]
        )
        assert any(selects(p, labels) for p in policies), obj["metadata"]["name"]
    check_pod = labels_for({"name": "churn-hourly"}, "check")  # what the controller puts on its CronJobs
    assert selects(policy(objects, "check"), check_pod)
    assert {p["spec"]["policyTypes"] == ["Ingress", "Egress"] for p in policies} == {True}


def test_inference_admits_namespace_clients_and_prometheus_on_its_port_only() -> None:
    (rule,) = policy(render("v35", None), "inference")["spec"]["ingress"]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert {"podSelector": {}} in rule["from"]
    assert PROMETHEUS in rule["from"]
    custom = render("v35", None, "networkPolicy.inference.from[0].namespaceSelector.matchLabels.team=apps")
    (rule,) = policy(custom, "inference")["spec"]["ingress"]
    assert {"podSelector": {}} not in rule["from"]
    assert {"namespaceSelector": {"matchLabels": {"team": "apps"}}} in rule["from"]
    assert PROMETHEUS in rule["from"]


def test_controller_metrics_admit_prometheus_and_the_helm_test_only() -> None:
    (rule,) = policy(render("v35", None), "controller")["spec"]["ingress"]
    assert rule["ports"] == [
        {"port": 8080, "protocol": "TCP"}
    ]  # not the health port: kubelet probes pass anyway
    test_pod = {
        "podSelector": {
            "matchLabels": {"app.kubernetes.io/component": "test", "app.kubernetes.io/instance": "dw"}
        }
    }
    assert rule["from"] == [PROMETHEUS, test_pod]


def test_the_default_prometheus_selector_is_kube_prometheus_stack_on_kind() -> None:
    # `make kind-up` installs kube-prometheus-stack in MONITORING_NS; the prometheus-operator labels its
    # Prometheus pods app.kubernetes.io/name=prometheus (pkg/prometheus/server/operator.go, v0.93.0).
    namespace = re.search(r"^MONITORING_NS \?= (\S+)$", MAKEFILE.read_text(), re.M)
    assert namespace is not None
    assert PROMETHEUS["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == namespace.group(1)


def test_egress_is_dns_and_api_server_for_controller_and_checks_and_dns_only_for_inference() -> None:
    objects = render("v35", None)
    for component in ("controller", "check"):
        assert egress_ports(policy(objects, component)) == {53, 443, 6443}
    assert egress_ports(policy(objects, "inference")) == {53}  # a PVC capture needs no network
    assert egress_ports(policy(objects, "test")) == {53, 8000, 8080}
    dns = policy(objects, "controller")["spec"]["egress"][0]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}


def test_an_object_store_and_model_sources_open_egress_where_needed() -> None:
    objects = render("v35", None, S3, MINIO)
    store = {"ipBlock": {"cidr": "52.95.0.0/16"}}
    inference = policy(objects, "inference")["spec"]["egress"]
    check = policy(objects, "check")["spec"]["egress"]
    assert any(rule["to"] == [store] for rule in inference)
    assert any(rule["to"] == [store] for rule in check)
    assert any(rule["to"] == [{"podSelector": {"matchLabels": {"app": "minio"}}}] for rule in inference)
    assert not any(rule["to"] == [{"podSelector": {"matchLabels": {"app": "minio"}}}] for rule in check)
    assert not any(rule["to"] == [store] for rule in policy(objects, "controller")["spec"]["egress"])


def test_check_policies_follow_the_watched_namespaces() -> None:
    objects = render("v35", None, "controller.watchNamespaces={team-a}")
    checks = [p for p in by_kind(objects, "NetworkPolicy") if p["metadata"]["name"].endswith("-check")]
    assert sorted(p["metadata"]["namespace"] for p in checks) == ["driftwatch", "team-a"]


def test_disabled_renders_no_network_policy() -> None:
    assert by_kind(render("v35", None, "networkPolicy.enabled=false"), "NetworkPolicy") == []


@pytest.mark.parametrize("k8s", ["1.29.0", "1.35.0"])
def test_network_policies_with_every_option_are_valid_kubernetes(k8s: str) -> None:
    extra = "networkPolicy.extraEgress[0].to[0].ipBlock.cidr=10.1.0.0/16"
    policies = by_kind(render("v35", None, S3, MINIO, extra, "controller.replicaCount=2"), "NetworkPolicy")
    assert len(policies) == 4
    for obj in policies:
        kubernetes_validate.validate(obj, k8s, strict=True)
