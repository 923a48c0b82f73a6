"""The controller SIGKILLed in the middle of a burst of DriftChecks: nothing lost, nothing duplicated."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from support.cluster_release import Release, check_spec, write_datasets
from support.control_plane import wait_until

pytestmark = pytest.mark.cluster

BURST = 50


# The chart installed in this namespace for the module (the `release` fixture of conftest.py).
NAMESPACE = "dw-burst"


def _create_paced(release: Release, items: list[dict[str, object]], pause: float) -> None:
    with release.plane.client() as api:
        for item in items:
            api.post(
                f"/apis/driftwatch.io/v1alpha1/namespaces/{release.namespace}/driftchecks", json=item
            ).raise_for_status()
            time.sleep(pause)


def test_sigkill_during_a_burst_of_50_loses_and_duplicates_nothing(release: Release) -> None:
    uris = write_datasets(release.data_dir)
    items = [
        {
            "apiVersion": "driftwatch.io/v1alpha1",
            "kind": "DriftCheck",
            "metadata": {"name": f"burst-{i:02d}"},
            "spec": check_spec(uris),
        }
        for i in range(BURST)
    ]
    pod = release.wait_controller()
    cronjobs = f"/apis/batch/v1/namespaces/{release.namespace}/cronjobs"
    # Created over about 2.5 s from another thread, so the kill lands while DriftChecks still arrive.
    creator = threading.Thread(target=_create_paced, args=(release, items, 0.05))
    creator.start()
    wait_until(
        lambda: len(release.plane.items(cronjobs)) >= 5, timeout=60, what="the first CronJobs", interval=0.05
    )
    release.runner.kill(release.namespace, pod["metadata"]["name"], signal.SIGKILL)
    done_before = len(release.plane.items(cronjobs))
    creator.join(60)
    assert done_before < BURST, "the burst finished before the kill: nothing was interrupted"
    time.sleep(1)
    release.wait_controller()

    def all_ready() -> bool:
        checks = release.plane.items(
            f"/apis/driftwatch.io/v1alpha1/namespaces/{release.namespace}/driftchecks"
        )
        ready = [
            c
            for c in checks
            if any(
                k.get("type") == "Ready" and k.get("status") == "True"
                for k in (c.get("status") or {}).get("conditions") or []
            )
        ]
        return len(ready) == BURST

    wait_until(all_ready, timeout=240, what=f"all {BURST} DriftChecks Ready", interval=1)
    cronjobs = release.plane.items(f"/apis/batch/v1/namespaces/{release.namespace}/cronjobs")
    owners = sorted(c["metadata"]["labels"]["driftwatch.io/driftcheck"] for c in cronjobs)
    assert owners == [f"burst-{i:02d}" for i in range(BURST)]  # exactly one CronJob each
    for cronjob in cronjobs:
        refs = cronjob["metadata"]["ownerReferences"]
        assert len(refs) == 1
        assert refs[0]["name"] == cronjob["metadata"]["labels"]["driftwatch.io/driftcheck"]
    restarts = [
        s.get("restartCount", 0) for p in release.controller_pods() for s in p["status"]["containerStatuses"]
    ]
    assert restarts == [1]
