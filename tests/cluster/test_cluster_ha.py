"""Two controller replicas through kopf peering on the real control plane: one active, one paused; the
active one SIGKILLed in the middle of a burst of DriftChecks (restarted in place, as a kubelet does),
then the new active one lost with its pod (a node loss): each time the standby takes over within 30 s,
no DriftCheck is handled by two replicas at once, and nothing is duplicated.

Both replicas run as processes of the pod runner, each on ports of its own (the remap annotation)."""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support.cluster_release import Release, check_spec, new_release, write_datasets
from support.control_plane import ControlPlane, wait_until
from support.pod_runner import REMAP_ANNOTATION, PodRunner

pytestmark = pytest.mark.cluster

NAMESPACE = "dw-ha"
BURST = 40
RUN_NOW = 5  # of the burst, created with the run-now annotation: one Job each, never two
TAKEOVER_LIMIT = 30.0
LIFETIME = 20  # controller.peering.lifetimeSeconds (the chart's default)
RUN_NOW_ANNOTATION = "driftwatch.io/run-now"
HANDLER_SUCCEEDED = "succeeded."


@pytest.fixture(scope="module")
def ha_release(
    control_plane: ControlPlane,
    pod_runner: PodRunner,
    monitoring_crds: bool,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Release]:
    release = new_release(
        control_plane,
        pod_runner,
        tmp_path_factory.mktemp(NAMESPACE),
        NAMESPACE,
        monitoring_crds=monitoring_crds,
        controller={"replicaCount": 2, "podAnnotations": {REMAP_ANNOTATION: "true"}},
    )
    release.install("--timeout", "2m")
    try:
        yield release
    finally:
        release.helm("uninstall", release.name, "--namespace", release.namespace, check=False)


def peering_status(release: Release) -> dict[str, dict[str, Any]]:
    """The peering object's status: one entry per replica, {priority, lifetime, lastseen}."""
    obj = release.plane.get(
        f"/apis/kopf.dev/v1/namespaces/{release.namespace}/kopfpeerings/{release.controller_name}"
    )
    assert obj is not None, "the chart's KopfPeering is missing"
    status: dict[str, dict[str, Any]] = obj.get("status") or {}
    return status


def leader(release: Release, live: set[str]) -> str:
    """The identity (pod name) of highest priority among `live`: the one kopf lets act."""
    status = peering_status(release)
    return max((name for name in status if name in live), key=lambda name: status[name]["priority"])


def log_records(text: str) -> list[dict[str, Any]]:
    """The controller's JSON log lines (kopf's LogFormat.JSON), with their times as datetimes."""
    records = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        record["time"] = dt.datetime.fromisoformat(record["timestamp"])
        records.append(record)
    return records


def handled(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines of handlers that ran on a DriftCheck (reconcile, run-now, ...)."""
    return [
        r
        for r in records
        if str(r.get("message", "")).startswith("Handler ")
        and str(r["message"]).endswith(HANDLER_SUCCEEDED)
        and (r.get("object") or {}).get("kind") == "DriftCheck"
    ]


def resumed_at(records: list[dict[str, Any]]) -> dt.datetime | None:
    times = [r["time"] for r in records if str(r.get("message", "")).startswith("Resuming operations")]
    return times[0] if times else None


def cronjob_names(release: Release) -> set[str]:
    return {
        c["metadata"]["name"] for c in release.plane.items(f"/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs")
    }


def first_new_cronjob(release: Release, known: set[str], since: float) -> float:
    """Seconds from `since` (monotonic) until a CronJob not in `known` exists: a replica acts again."""
    wait_until(
        lambda: cronjob_names(release) - known, timeout=60, what="a CronJob after the kill", interval=0.05
    )
    return time.monotonic() - since


def _create_paced(release: Release, items: list[dict[str, Any]], pause: float) -> None:
    with release.plane.client() as api:
        for item in items:
            api.post(
                f"/apis/driftwatch.io/v1alpha1/namespaces/{NAMESPACE}/driftchecks", json=item
            ).raise_for_status()
            time.sleep(pause)


def burst_items(release: Release, prefix: str, count: int, run_now: int = 0) -> list[dict[str, Any]]:
    uris = write_datasets(release.data_dir)
    items = []
    for i in range(count):
        metadata: dict[str, Any] = {"name": f"{prefix}-{i:02d}"}
        if i < run_now:
            metadata["annotations"] = {RUN_NOW_ANNOTATION: "1"}
        items.append(
            {
                "apiVersion": "driftwatch.io/v1alpha1",
                "kind": "DriftCheck",
                "metadata": metadata,
                "spec": check_spec(uris),
            }
        )
    return items


def readiness(release: Release) -> dict[str, str]:
    """Each DriftCheck of the namespace: its Ready condition as `status/reason` ("-" when it has none)."""
    checks = release.plane.items(f"/apis/driftwatch.io/v1alpha1/namespaces/{NAMESPACE}/driftchecks")
    states = {}
    for check in checks:
        conditions = (check.get("status") or {}).get("conditions") or []
        ready = next((k for k in conditions if k.get("type") == "Ready"), None)
        states[check["metadata"]["name"]] = f"{ready['status']}/{ready.get('reason')}" if ready else "-"
    return states


def wait_all_ready(release: Release, names: set[str], timeout: float) -> None:
    """Until exactly `names` exist, each Ready=True; on time-out, fail naming the others' state."""
    deadline = time.monotonic() + timeout
    while True:
        states = readiness(release)
        if set(states) == names and all(s.startswith("True/") for s in states.values()):
            return
        if time.monotonic() > deadline:
            others = {n: s for n, s in states.items() if not s.startswith("True/")}
            raise AssertionError(
                f"after {timeout:.0f}s: missing {sorted(names - set(states))}, "
                f"unexpected {sorted(set(states) - names)}, not Ready {others}"
            )
        time.sleep(1)


def test_one_replica_acts_and_the_paused_one_stays_alive(ha_release: Release) -> None:
    pods = ha_release.running_controllers(2)
    names = {p["metadata"]["name"] for p in pods}
    wait_until(
        lambda: set(peering_status(ha_release)) >= names, timeout=60, what="both replicas in the peering"
    )
    status = peering_status(ha_release)
    assert len({status[n]["priority"] for n in names}) == 2  # distinct: kopf pauses every replica on a tie
    assert {status[n]["lifetime"] for n in names} == {LIFETIME}
    active = leader(ha_release, names)
    (standby,) = names - {active}
    ha_release.apply_driftcheck("ha-probe", check_spec(write_datasets(ha_release.data_dir)))
    ha_release.wait_status(
        "ha-probe", lambda s: any(c.get("type") == "Ready" for c in s.get("conditions") or [])
    )
    wait_until(
        lambda: (
            'driftcheck="ha-probe"'
            in httpx.get(ha_release.pod_url(active, ha_release.metrics_port) + "/metrics").text
        ),
        timeout=30,
        what="the active replica's drift metrics",
    )
    # The standby: alive for its liveness probe, serving /metrics, but no DriftCheck series of its own
    # (it mirrors nothing while paused), so Prometheus never sees a check twice.
    assert httpx.get(ha_release.pod_url(standby, ha_release.health_port) + "/healthz").status_code == 200
    standby_metrics = httpx.get(ha_release.pod_url(standby, ha_release.metrics_port) + "/metrics")
    assert standby_metrics.status_code == 200
    assert "driftcheck=" not in standby_metrics.text
    standby_log = log_records(ha_release.runner.logs(NAMESPACE, standby))
    assert handled(standby_log) == []
    # kopf starts a peered replica paused, and it stays so while a live peer outranks it.
    assert resumed_at(standby_log) is None
    assert any(
        r["object"]["name"] == "ha-probe"
        for r in handled(log_records(ha_release.runner.logs(NAMESPACE, active)))
    )


def test_standby_takes_over_a_burst_after_sigkill_without_acting_twice(ha_release: Release) -> None:
    pods = ha_release.running_controllers(2)
    names = {p["metadata"]["name"] for p in pods}
    active = leader(ha_release, names)
    (standby,) = names - {active}
    items = burst_items(ha_release, "burst", BURST, run_now=RUN_NOW)
    before = cronjob_names(ha_release)
    creator = threading.Thread(target=_create_paced, args=(ha_release, items, 0.1))
    creator.start()
    wait_until(
        lambda: len(cronjob_names(ha_release) - before) >= 5,
        timeout=60,
        what="the first CronJobs",
        interval=0.05,
    )
    ha_release.runner.kill(NAMESPACE, active, signal.SIGKILL)
    killed, killed_wall = time.monotonic(), dt.datetime.now(dt.UTC)
    time.sleep(0.3)  # what the killed process had sent is stored by now
    done_by_killed = cronjob_names(ha_release)
    takeover = first_new_cronjob(ha_release, done_by_killed, killed)
    creator.join(60)
    assert len(done_by_killed - before) < BURST, "the burst finished before the kill: nothing was interrupted"
    wait_all_ready(ha_release, {"ha-probe", *(f"burst-{i:02d}" for i in range(BURST))}, timeout=240)

    # Exactly one CronJob per DriftCheck, owned by it; one run-now Job for each annotated one.
    cronjobs = ha_release.plane.items(f"/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs")
    owners = sorted(c["metadata"]["labels"]["driftwatch.io/driftcheck"] for c in cronjobs)
    assert owners == sorted(["ha-probe", *(f"burst-{i:02d}" for i in range(BURST))])
    assert all(len(c["metadata"]["ownerReferences"]) == 1 for c in cronjobs)
    wait_until(
        lambda: all(
            RUN_NOW_ANNOTATION
            not in ((ha_release.driftcheck(f"burst-{i:02d}") or {})["metadata"].get("annotations") or {})
            for i in range(RUN_NOW)
        ),
        timeout=60,
        what="every run-now consumed",
    )
    jobs = sorted(j["metadata"]["labels"]["driftwatch.io/driftcheck"] for j in ha_release.jobs())
    assert jobs == [f"burst-{i:02d}" for i in range(RUN_NOW)]

    # One replica at a time: the killed one acted only before the kill, the standby only after it,
    # and the killed one, back as a standby (restarted in place), not at all.
    killed_log = log_records(ha_release.runner.previous_logs(NAMESPACE, active))
    restarted_log = log_records(ha_release.runner.logs(NAMESPACE, active))
    standby_log = log_records(ha_release.runner.logs(NAMESPACE, standby))
    assert handled(killed_log)
    assert max(r["time"] for r in handled(killed_log)) <= killed_wall
    resumed = resumed_at(standby_log)
    assert resumed is not None, "the standby never resumed"
    assert handled(standby_log)
    assert min(r["time"] for r in handled(standby_log)) >= resumed >= killed_wall
    assert handled(restarted_log) == []
    status = peering_status(ha_release)
    assert status[standby]["priority"] > status[active]["priority"]  # the restarted replica now waits

    resume_s = (resumed - killed_wall).total_seconds()
    print(
        f"\nSIGKILL, restarted in place: standby resumed after {resume_s:.2f}s, "
        f"first CronJob after {takeover:.2f}s"
    )
    assert takeover < TAKEOVER_LIMIT


def test_standby_takes_over_when_the_active_pod_is_lost_with_its_node(ha_release: Release) -> None:
    pods = ha_release.running_controllers(2)
    names = {p["metadata"]["name"] for p in pods}
    active = leader(ha_release, names)
    (standby,) = names - {active}
    before = cronjob_names(ha_release)
    # A node loss: the pod is gone at once (no SIGTERM, so no goodbye in the peering object), its process
    # killed; its entry stays until its lifetime runs out, and only then the standby may act.
    with ha_release.plane.client() as api:
        api.request(
            "DELETE",
            f"/api/v1/namespaces/{NAMESPACE}/pods/{active}",
            json={"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0},
        ).raise_for_status()
    ha_release.runner.kill(NAMESPACE, active, signal.SIGKILL)
    killed, killed_wall = time.monotonic(), dt.datetime.now(dt.UTC)
    ha_release.apply_driftcheck("after-loss", check_spec(write_datasets(ha_release.data_dir)))
    takeover = first_new_cronjob(ha_release, before, killed)
    resumed = resumed_at(log_records(ha_release.runner.logs(NAMESPACE, standby)))
    assert resumed is not None
    resume_s = (resumed - killed_wall).total_seconds()
    print(
        f"\nnode loss: standby resumed after {resume_s:.2f}s, first CronJob after {takeover:.2f}s "
        f"(lifetime {LIFETIME}s)"
    )
    # No lower bound: the dead entry expires a lifetime after its last keep-alive, which may have been
    # almost a lifetime before the kill, so the wait is anywhere between 0 and LIFETIME seconds.
    assert resume_s >= 0
    assert takeover < TAKEOVER_LIMIT
    # The ReplicaSet's replacement starts as a standby: two replicas again, the survivor leading.
    pods = ha_release.running_controllers(2)
    assert leader(ha_release, {p["metadata"]["name"] for p in pods}) == standby
    replacement = ({p["metadata"]["name"] for p in pods} - {standby}).pop()
    assert handled(log_records(ha_release.runner.logs(NAMESPACE, replacement))) == []
