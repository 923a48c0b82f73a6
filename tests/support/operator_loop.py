"""DriftCheck manifests and status reads for the operator tests against the emulator (tests/operator)."""

from __future__ import annotations

from typing import Any

from support.controller import Cluster
from support.crd_schema import object_errors

NS = "default"
FEATURES_NUMERICAL = [
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls_90d",
    "data_usage_gb",
]
RETRAIN_TEMPLATE = {
    "metadata": {"labels": {"app.kubernetes.io/name": "churn-retrain"}},
    "spec": {
        "backoffLimit": 0,
        "template": {
            "spec": {"restartPolicy": "Never", "containers": [{"name": "train", "image": "train:1"}]}
        },
    },
}


def driftcheck(name: str, reference: str, current: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schedule": "*/15 * * * *",
        "reference": {"uri": reference},
        "current": {"uri": current, "window": "1h", "minRows": 100},
        "columns": {"prediction": "probability", "target": "churned"},
    }
    body.update(spec)
    obj = {"apiVersion": "driftwatch.io/v1alpha1", "kind": "DriftCheck",
           "metadata": {"name": name, "namespace": NS}, "spec": body}  # fmt: skip
    assert object_errors(obj) == [], "a test manifest the real API server would reject"
    return obj


def status_of(cluster: Cluster, name: str) -> dict[str, Any]:
    obj = cluster.get("driftchecks", NS, name)
    return dict((obj or {}).get("status") or {})


def condition(cluster: Cluster, name: str, type_: str) -> dict[str, Any] | None:
    return next((c for c in status_of(cluster, name).get("conditions", []) if c["type"] == type_), None)


def events_for(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    return [e for e in cluster.list("events", NS) if (e.get("involvedObject") or {}).get("name") == name]


def write_run(cluster: Cluster, name: str, run_id: str, recommendation: str) -> None:
    """What a check pod writes (only the fields the gate reads), through the status subresource."""
    patch = (
        f'{{"status": {{"runId": "{run_id}", "verdict": "Drift", "recommendation": "{recommendation}", '
        f'"reason": "test run", "driftShare": 0.6}}}}'
    )
    cluster.kubectl(
        "patch", "driftcheck", name, "-n", NS, "--subresource=status", "--type=merge", "-p", patch
    )


def retrain_jobs(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    return [j for j in cluster.list("jobs", NS) if j["metadata"]["name"].startswith(f"{name}-retrain-")]


def apply_retraining(cluster: Cluster, name: str, mode: str, **spec: Any) -> None:
    """Apply a DriftCheck retraining in `mode` and wait for its CronJob (tests write its runs by hand)."""
    retrain = {"mode": mode, "jobTemplate": RETRAIN_TEMPLATE}
    cluster.apply(driftcheck(name, "file:///r.parquet", "file:///c", retrain=retrain, **spec))
    cluster.wait_for(lambda: cluster.get("cronjobs", NS, f"driftcheck-{name}"), what="the CronJob")
