"""Pod Security Standards "restricted" (Kubernetes 1.29+), plus the chart's own hardening, as a check on
pod specs: the chart and kind tests assert it on every rendered pod."""

from __future__ import annotations

from typing import Any

RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
    "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip


def violations(name: str, pod: dict[str, Any]) -> list[str]:
    """Pod Security Standards "restricted" (Kubernetes 1.29+) rules that this pod spec breaks."""
    found = []
    pod_ctx = pod.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            found.append(f"{name}: {flag}")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"{name}: volume {volume['name']} uses {kinds}")
    for container in pod.get("initContainers", []) + pod["containers"]:
        where = f"{name}/{container['name']}"
        ctx = container.get("securityContext", {})
        if ctx.get("privileged"):
            found.append(f"{where}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allowPrivilegeEscalation must be false")
        caps = ctx.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            found.append(f"{where}: capabilities must drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{where}: adds capabilities {caps['add']}")
        if ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is not True:
            found.append(f"{where}: runAsNonRoot must be true")
        if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
            found.append(f"{where}: runAsUser 0")
        seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile", {})).get("type")
        if seccomp not in {"RuntimeDefault", "Localhost"}:
            found.append(f"{where}: seccompProfile must be RuntimeDefault or Localhost, got {seccomp}")
        if any(p.get("hostPort") for p in container.get("ports", [])):
            found.append(f"{where}: hostPort")
        # Hardening beyond "restricted" that this chart promises (CONVENTIONS.md).
        if ctx.get("readOnlyRootFilesystem") is not True:
            found.append(f"{where}: readOnlyRootFilesystem must be true")
        if not container.get("resources", {}).get("limits"):
            found.append(f"{where}: no resource limits")
    return found
