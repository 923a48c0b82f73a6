"""The retraining gate end to end on the emulator: Manual waits for approval, Automatic cools down, and
a deleted DriftCheck takes its series with it (its children keep the owner reference)."""

from __future__ import annotations

import time

import pytest
from support.controller import Cluster, metric_value
from support.operator_loop import (
    NS,
    apply_retraining,
    events_for,
    retrain_jobs,
    status_of,
    write_run,
)

pytestmark = pytest.mark.integration


def test_manual_retrain_waits_for_approval_of_that_run_and_creates_one_job(cluster: Cluster) -> None:
    name = "gated"
    apply_retraining(cluster, name, "Manual")
    write_run(cluster, name, "20261127T100000Z", "Retrain")
    waiting = cluster.wait_for(lambda: status_of(cluster, name).get("retrain"), what="AwaitingApproval")
    assert (waiting["state"], waiting["runId"]) == ("AwaitingApproval", "20261127T100000Z")
    assert "driftwatch.io/approve-retrain=20261127T100000Z" in waiting["message"]
    assert f"-n {NS} " in waiting["message"]  # the approval command works as printed
    assert retrain_jobs(cluster, name) == []

    cluster.kubectl(
        "annotate", "driftcheck", name, "-n", NS, "driftwatch.io/approve-retrain=20261127T099999Z"
    )
    ignored = cluster.wait_for(
        lambda: [e for e in events_for(cluster, name) if e["reason"] == "RetrainApprovalIgnored"],
        what="refusal",
    )
    assert ignored[0]["type"] == "Warning"
    assert retrain_jobs(cluster, name) == []

    cluster.kubectl(
        "annotate",
        "driftcheck",
        name,
        "-n",
        NS,
        "driftwatch.io/approve-retrain=20261127T100000Z",
        "--overwrite",
    )
    jobs = cluster.wait_for(lambda: retrain_jobs(cluster, name), what="the retrain Job")
    created = cluster.wait_for(
        lambda: (r := status_of(cluster, name).get("retrain")) and r["state"] == "Created" and r,
        what="Created",
    )
    assert created["job"] == jobs[0]["metadata"]["name"] == "gated-retrain-20261127t100000z"
    assert jobs[0]["metadata"]["ownerReferences"][0]["name"] == name
    assert jobs[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "train:1"

    cluster.kubectl("annotate", "driftcheck", name, "-n", NS, "again=1")  # any later event changes nothing
    time.sleep(1.0)
    assert len(retrain_jobs(cluster, name)) == 1
    jobs_metric = metric_value(
        cluster.metrics(), "driftwatch_retrain_jobs_total", driftcheck=name, mode="Manual"
    )
    assert jobs_metric == 1


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
