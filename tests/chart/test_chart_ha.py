"""Several controller replicas in the rendered chart: kopf peering switched on with its peering object
and the least RBAC for it, a PodDisruptionBudget, a soft anti-affinity, a rolling update; one replica
stays standalone with none of it."""

from __future__ import annotations

from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from support.chart_render import CHART, NAMESPACE, by_kind, render, run_helm

pytestmark = pytest.mark.integration

PEERING_CRDS = CHART / "crds" / "kopf-peering.yaml"
TWO = "controller.replicaCount=2"


def controller(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in by_kind(objects, "Deployment") if o["metadata"]["name"].endswith("-controller"))


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def rules_of(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    role = next(o for o in by_kind(objects, kind) if o["metadata"]["name"].endswith("-controller"))
    rules: list[dict[str, Any]] = role["rules"]
    return rules


def kopf_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rules if r["apiGroups"] == ["kopf.dev"]]


def test_one_replica_runs_standalone_with_no_peering_objects() -> None:
    objects = render("v35", None)
    env = env_of(controller(objects))
    assert "DRIFTWATCH_PEERING" not in env
    assert controller(objects)["spec"]["strategy"] == {"type": "Recreate"}
    assert "affinity" not in controller(objects)["spec"]["template"]["spec"]
    assert not by_kind(objects, "ClusterKopfPeering") + by_kind(objects, "KopfPeering")
    assert not [p for p in by_kind(objects, "PodDisruptionBudget") if "controller" in p["metadata"]["name"]]
    assert kopf_rules(rules_of(objects, "ClusterRole")) == []


def test_two_replicas_peer_through_the_charts_cluster_peering_object() -> None:
    objects = render("v35", None, TWO)
    deployment = controller(objects)
    env = env_of(deployment)
    (peering,) = by_kind(objects, "ClusterKopfPeering")
    assert env["DRIFTWATCH_PEERING"] == peering["metadata"]["name"] == "dw-driftwatch-controller"
    assert env["DRIFTWATCH_PEERING_LIFETIME"] == "20"
    assert env["POD_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    # Least privilege: list and watch the kind, patch only this release's object, create nothing.
    assert kopf_rules(rules_of(objects, "ClusterRole")) == [
        {"apiGroups": ["kopf.dev"], "resources": ["clusterkopfpeerings"], "verbs": ["list", "watch"]},
        {
            "apiGroups": ["kopf.dev"],
            "resources": ["clusterkopfpeerings"],
            "resourceNames": ["dw-driftwatch-controller"],
            "verbs": ["patch"],
        },
    ]


def test_a_namespace_scoped_controller_peers_in_each_watched_namespace() -> None:
    objects = render("v35", None, TWO, "rbac.scope=namespace", "controller.watchNamespaces={team-a,team-b}")
    peerings = by_kind(objects, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["team-a", "team-b"]
    assert not by_kind(objects, "ClusterKopfPeering")
    assert env_of(controller(objects))["DRIFTWATCH_WATCH_NAMESPACES"] == "team-a,team-b"
    for role in by_kind(objects, "Role"):
        if role["metadata"]["name"].endswith("-controller"):
            assert {r["resources"][0] for r in kopf_rules(role["rules"])} == {"kopfpeerings"}


def test_two_replicas_get_a_pdb_and_a_soft_anti_affinity() -> None:
    objects = render("v35", None, TWO)
    (pdb,) = [
        p for p in by_kind(objects, "PodDisruptionBudget") if p["metadata"]["name"].endswith("-controller")
    ]
    labels = controller(objects)["spec"]["selector"]["matchLabels"]
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": labels}}
    anti = controller(objects)["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti  # one node (kind) still runs both
    (term,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == labels
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    off = render("v35", None, TWO, "controller.podDisruptionBudget.enabled=false", "controller.affinity.x=y")
    assert not [
        p for p in by_kind(off, "PodDisruptionBudget") if p["metadata"]["name"].endswith("-controller")
    ]
    assert controller(off)["spec"]["template"]["spec"]["affinity"] == {"x": "y"}


@pytest.mark.parametrize("k8s", ["1.29.0", "1.35.0"])
def test_ha_objects_are_valid_and_the_peering_object_matches_the_shipped_crd(k8s: str) -> None:
    objects = render("v35", None, TWO)
    for obj in objects:
        if obj["apiVersion"] in ("policy/v1", "apps/v1", "rbac.authorization.k8s.io/v1"):
            kubernetes_validate.validate(obj, k8s, strict=True)
    crds = {c["spec"]["names"]["kind"]: c for c in yaml.safe_load_all(PEERING_CRDS.read_text())}
    assert {c["spec"]["group"] for c in crds.values()} == {"kopf.dev"}
    assert crds["ClusterKopfPeering"]["spec"]["scope"] == "Cluster"
    assert crds["KopfPeering"]["spec"]["scope"] == "Namespaced"
    for peering in by_kind(objects, "ClusterKopfPeering"):
        schema = crds["ClusterKopfPeering"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        jsonschema.validate(peering, schema)


def test_the_peering_crds_ship_with_the_chart() -> None:
    result = run_helm("v35", "show", "crds", str(CHART))
    assert result.returncode == 0, result.stderr
    names = {d["metadata"]["name"] for d in yaml.safe_load_all(result.stdout) if d}
    assert {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"} <= names


def test_the_values_schema_bounds_the_peering_lifetime() -> None:
    result = run_helm(
        "v35",
        "template",
        "dw",
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--set",
        "controller.peering.lifetimeSeconds=5",
    )
    assert result.returncode != 0
    assert "/controller/peering/lifetimeSeconds" in result.stderr
