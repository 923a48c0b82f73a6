"""The retrain gate on a real control plane: one Job per approval, the cooldown, both across a SIGKILL."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest
from support.cluster_release import Release, check_spec, write_datasets
from support.control_plane import wait_until
from support.controller import metric_value

pytestmark = pytest.mark.cluster

RETRAIN_TEMPLATE = {
    "metadata": {"labels": {"app.kubernetes.io/part-of": "churn-retrain"}},
    "spec": {
        "backoffLimit": 0,
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [
                    {
                        "name": "train",
                        "image": "driftwatch/inference:test",
                        "command": ["driftwatch-demo", "train", "--out", "/tmp/candidate"],
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            }
        },
    },
}


# The chart installed in this namespace for the module (the `release` fixture of conftest.py).
NAMESPACE = "dw-retrain"


@pytest.fixture(scope="module")
def drifted(release: Release) -> dict[str, str]:
    return write_datasets(release.data_dir, shift=3.0)


def _spec(uris: dict[str, str], mode: str) -> dict[str, Any]:
    policy = {"investigateShare": 0.2, "retrainShare": 0.4, "consecutiveRuns": 1, "cooldown": "24h"}
    return check_spec(uris, policy=policy, retrain={"mode": mode, "jobTemplate": RETRAIN_TEMPLATE})


def _run(release: Release, name: str) -> dict[str, Any]:
    runs = int(((release.driftcheck(name) or {}).get("status") or {}).get("runs") or 0)
    release.annotate(name, "driftwatch.io/run-now", str(time.time_ns()))
    return release.wait_status(name, lambda s: int(s.get("runs") or 0) > runs, what=f"a run of {name}")[
        "status"
    ]


def _retrain_jobs(release: Release, name: str) -> list[str]:
    selector = f"driftwatch.io/driftcheck={name},app.kubernetes.io/component=retrain"
    return sorted(j["metadata"]["name"] for j in release.jobs(selector))


def _events(release: Release, name: str) -> str:
    return release.plane.kubectl(
        "get", "events", "--namespace", release.namespace, "--field-selector", f"involvedObject.name={name}"
    ).stdout


def _restart_controller(release: Release) -> None:
    """SIGKILL the controller's process; the pod runner restarts it in place (restartPolicy Always)."""
    pod = release.wait_controller()
    release.runner.kill(release.namespace, pod["metadata"]["name"], signal.SIGKILL)
    wait_until(
        lambda: any(
            s.get("restartCount", 0) > 0
            for p in release.controller_pods()
            for s in (p.get("status") or {}).get("containerStatuses") or []
        ),
        timeout=30,
        what="the controller container to restart",
    )
    release.wait_controller()


def test_manual_approval_creates_exactly_one_job_even_across_a_restart(
    release: Release, drifted: dict[str, str]
) -> None:
    release.apply_driftcheck("gated", _spec(drifted, "Manual"))
    status = _run(release, "gated")
    assert status["recommendation"] == "Retrain", status.get("reason")
    waiting = release.wait_status(
        "gated", lambda s: (s.get("retrain") or {}).get("state") == "AwaitingApproval"
    )
    run_id = waiting["status"]["retrain"]["runId"]
    assert run_id == status["runId"]
    assert "--overwrite" in waiting["status"]["retrain"]["message"]
    assert _retrain_jobs(release, "gated") == []

    # An approval of another run is refused with a Warning and creates nothing.
    release.annotate("gated", "driftwatch.io/approve-retrain", "20200101T000000Z")
    wait_until(lambda: "RetrainApprovalIgnored" in _events(release, "gated"), timeout=30, what="the refusal")
    assert _retrain_jobs(release, "gated") == []

    release.annotate("gated", "driftwatch.io/approve-retrain", run_id)
    created = release.wait_status("gated", lambda s: (s.get("retrain") or {}).get("state") == "Created")
    jobs = _retrain_jobs(release, "gated")
    assert len(jobs) == 1
    assert created["status"]["retrain"]["job"] == jobs[0]
    assert jobs[0] == f"gated-retrain-{run_id.lower()}"
    job = release.plane.get(f"/apis/batch/v1/namespaces/{release.namespace}/jobs/{jobs[0]}") or {}
    assert job["metadata"]["ownerReferences"][0]["name"] == "gated"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "driftwatch/inference:test"
    assert (
        metric_value(release.metrics(), "driftwatch_retrain_jobs_total", driftcheck="gated", mode="Manual")
        == 1
    )

    _restart_controller(release)
    # The same approval again, after the restart: still the one Job.
    release.annotate("gated", "driftwatch.io/approve-retrain", run_id)
    time.sleep(3)
    assert _retrain_jobs(release, "gated") == jobs
    events = release.plane.kubectl("describe", "driftcheck", "gated", "--namespace", release.namespace).stdout
    assert "RetrainJobCreated" in events.split("Events:", 1)[1], events


def test_automatic_retraining_respects_the_cooldown_across_a_restart(
    release: Release, drifted: dict[str, str]
) -> None:
    release.apply_driftcheck("auto", _spec(drifted, "Automatic"))
    first = _run(release, "auto")
    assert first["recommendation"] == "Retrain"
    release.wait_status("auto", lambda s: (s.get("retrain") or {}).get("state") == "Created")
    jobs = _retrain_jobs(release, "auto")
    assert len(jobs) == 1

    _restart_controller(release)
    second = _run(release, "auto")
    assert second["runId"] != first["runId"]
    time.sleep(3)
    assert _retrain_jobs(release, "auto") == jobs  # within the 24h cooldown: no second Job
    status = release.driftcheck("auto")["status"]
    assert status["retrain"]["job"] == jobs[0]
    assert status["retrain"]["jobsCreated"] == 1
    assert second["recommendation"] != "Retrain", second.get("reason")  # the policy's own cooldown
