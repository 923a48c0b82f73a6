"""The retraining gate on the emulator: Automatic's CoolingDown branch (runs written directly, so a
Retrain recommendation can arrive within the cooldown), and a deleted DriftCheck takes its series
with it. Manual approval and both modes across a controller restart run on the real control plane
(tests/cluster/test_cluster_retrain.py)."""

from __future__ import annotations

import pytest
from support.controller import Cluster, metric_value
from support.operator_loop import (
    NS,
    apply_retraining,
    retrain_jobs,
    status_of,
    write_run,
)

pytestmark = pytest.mark.integration


def test_automatic_retrain_creates_a_job_then_cools_down(cluster: Cluster) -> None:
    name = "auto"
    apply_retraining(cluster, name, "Automatic", policy={"cooldown": "24h"})
    write_run(cluster, name, "20261127T110000Z", "Retrain")
    cluster.wait_for(lambda: retrain_jobs(cluster, name), what="the retrain Job")
    cluster.wait_for(
        lambda: (status_of(cluster, name).get("retrain") or {}).get("state") == "Created", what="Created"
    )

    write_run(cluster, name, "20261127T120000Z", "Retrain")
    cooling = cluster.wait_for(
        lambda: (r := status_of(cluster, name).get("retrain")) and r["runId"] == "20261127T120000Z" and r,
        what="the decision for the second run",
    )
    assert cooling["state"] == "CoolingDown"
    assert cooling["jobsCreated"] == 1
    assert len(retrain_jobs(cluster, name)) == 1


def test_deleted_driftcheck_metrics_disappear_and_children_keep_the_owner_reference(cluster: Cluster) -> None:
    name = "doomed"
    apply_retraining(cluster, name, "Automatic")
    write_run(cluster, name, "20261127T130000Z", "Retrain")
    cluster.wait_for(lambda: retrain_jobs(cluster, name), what="the retrain Job")
    cluster.wait_for(
        lambda: (
            metric_value(cluster.metrics(), "driftwatch_drift_share", driftcheck=name) == pytest.approx(0.6)
        ),
        what="the series",
    )
    uid = (cluster.get("driftchecks", NS, name) or {})["metadata"]["uid"]
    cluster.kubectl("delete", "driftcheck", name, "-n", NS)

    cluster.wait_for(
        lambda: metric_value(cluster.metrics(), "driftwatch_drift_share", driftcheck=name) is None,
        what="the series to go",
    )
    # The emulator has no garbage collector: what a real one would delete is what points at the owner.
    cronjob = cluster.get("cronjobs", NS, f"driftcheck-{name}")
    assert cronjob is not None
    assert [ref["uid"] for ref in cronjob["metadata"]["ownerReferences"]] == [uid]
    assert all(
        ref["uid"] == uid for job in retrain_jobs(cluster, name) for ref in job["metadata"]["ownerReferences"]
    )
