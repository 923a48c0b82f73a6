"""A controller limited to a namespace list acts there only and never asks for anything cluster-wide."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from support.controller import running_controller

pytestmark = pytest.mark.integration


def driftcheck(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "driftwatch.io/v1alpha1",
        "kind": "DriftCheck",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"schedule": "@hourly", "reference": {"uri": "file:///r"}, "current": {"uri": "file:///c"}},
    }


def test_watched_namespace_is_reconciled_and_others_are_left_alone(tmp_path: Path) -> None:
    with running_controller(tmp_path, env={"DRIFTWATCH_WATCH_NAMESPACES": "team-a"}) as cluster:
        cluster.apply(driftcheck("churn", "team-b"))
        cluster.apply(driftcheck("churn", "team-a"))
        cluster.wait_for(
            lambda: cluster.get("cronjobs", "team-a", "driftcheck-churn"), what="team-a's CronJob"
        )
        time.sleep(1.0)  # team-b's DriftCheck was applied first: it had every chance to be handled
        assert cluster.get("cronjobs", "team-b", "driftcheck-churn") is None
        namespaces = {r["namespace"] for r in cluster.requests() if r["user"] == "controller"}
    # Namespace-scoped RBAC (Roles) can only grant requests that name a namespace.
    assert namespaces == {"team-a"}
