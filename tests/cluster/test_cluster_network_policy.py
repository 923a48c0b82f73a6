"""The chart's NetworkPolicies on the real API server: installed by `helm install` (on by default) and
listed by `kubectl get networkpolicies`; the variants with an object store, model sources and extra
egress accepted by a server-side dry run. The control plane has no CNI: nothing here enforces them
(docs/kubernetes.md, "NetworkPolicy")."""

from __future__ import annotations

import pytest
from support.chart_render import CHART, run_helm
from support.cluster_release import Release

pytestmark = pytest.mark.cluster

# The chart installed in this namespace for the module (the `release` fixture of conftest.py).
NAMESPACE = "dw-netpol"
COMPONENTS = ("inference", "controller", "check", "test")


def test_helm_install_creates_the_network_policies_kubectl_lists(release: Release) -> None:
    listed = release.plane.kubectl("get", "networkpolicies", "--namespace", NAMESPACE, "-o", "name").stdout
    prefix = f"networkpolicy.networking.k8s.io/{release.name}"
    assert sorted(listed.split()) == sorted(f"{prefix}-{c}" for c in COMPONENTS)
    stored = release.plane.get(
        f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies/{release.name}-controller"
    )
    assert stored is not None
    (rule,) = stored["spec"]["ingress"]
    assert rule["ports"] == [{"port": release.metrics_port, "protocol": "TCP"}]
    assert stored["spec"]["policyTypes"] == ["Ingress", "Egress"]
    release.wait_controller()  # the controller runs beside them (nothing enforces them here)


def test_every_network_policy_option_is_accepted_by_the_api_server(release: Release) -> None:
    manifest = release.workdir / "network-policies.yaml"
    sets = [
        "networkPolicy.captureStore.to[0].ipBlock.cidr=52.95.0.0/16",
        "networkPolicy.modelSources.to[0].namespaceSelector.matchLabels.team=models",
        "networkPolicy.extraEgress[0].to[0].ipBlock.cidr=10.1.0.0/16",
        "networkPolicy.inference.from[0].ipBlock.cidr=192.168.0.0/16",
    ]
    args = ["template", release.name, str(CHART), "--namespace", NAMESPACE, "--show-only"]
    rendered = run_helm("v35", *args, "templates/networkpolicy.yaml", *[f"--set={s}" for s in sets])
    assert rendered.returncode == 0, rendered.stderr
    manifest.write_text(rendered.stdout)
    result = release.plane.kubectl("apply", "--dry-run=server", "-f", str(manifest), "--namespace", NAMESPACE)
    assert result.stdout.count("(server dry run)") == len(COMPONENTS)
