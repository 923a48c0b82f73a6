"""`reconcile.py --api real`: the same rounds against the real control plane of the cluster tests.

The chart is installed with helm 4 (kind values, namespace-scoped), its controller pod runs through
the test pod runner; latency is measured on this process's clock, from each DriftCheck create's
response to its CronJob's ADDED event on a watch, so both ends are seen the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from support.cluster_release import Release, new_release
from support.control_plane import ControlPlane, running_control_plane
from support.pod_runner import Image, PodRunner

BIN = Path(sys.executable).parent
CONTROLLER_IMAGE = Image(BIN, ["driftwatch"], ["controller"], {"HOME": "/tmp", "PYTHONUNBUFFERED": "1"})


def _driftcheck(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "driftwatch.io/v1alpha1",
        "kind": "DriftCheck",
        "metadata": {"name": name},
        "spec": {
            "schedule": "*/15 * * * *",
            "reference": {"uri": "file:///data/reference/churn.parquet"},
            "current": {"uri": "file:///data/capture/churn", "window": "1h", "minRows": 200},
        },
    }


class CronJobWatch:
    """Arrival time (monotonic) of each CronJob's ADDED event in one namespace."""

    def __init__(self, plane: ControlPlane, namespace: str) -> None:
        self.plane, self.namespace, self.seen = plane, namespace, {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server stops at the end of the benchmark
            self._watch()

    def _watch(self) -> None:
        path = f"/apis/batch/v1/namespaces/{self.namespace}/cronjobs"
        with self.plane.client() as api:
            version = api.get(path).json()["metadata"]["resourceVersion"]
            params = {"watch": "1", "resourceVersion": version, "timeoutSeconds": "600"}
            with api.stream("GET", path, params=params, timeout=None) as response:
                for line in response.iter_lines():
                    event = json.loads(line)
                    if event["type"] == "ADDED":
                        name = event["object"]["metadata"]["name"].removeprefix("driftcheck-")
                        self.seen.setdefault(name, time.monotonic())

    def wait(self, names: list[str], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while any(n not in self.seen for n in names):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{sum(n not in self.seen for n in names)} CronJobs missing after {timeout}s"
                )
            time.sleep(0.05)


def _create(plane: ControlPlane, namespace: str, names: list[str], pause: float) -> dict[str, float]:
    """POST every DriftCheck (paced, or all in flight at once); when each create was answered."""
    path = f"/apis/driftwatch.io/v1alpha1/namespaces/{namespace}/driftchecks"
    done: dict[str, float] = {}
    if pause:
        with plane.client() as api:
            for name in names:
                api.post(path, json=_driftcheck(name)).raise_for_status()
                done[name] = time.monotonic()
                time.sleep(pause)
        return done

    async def post(client: httpx.AsyncClient, name: str) -> None:
        (await client.post(path, json=_driftcheck(name))).raise_for_status()
        done[name] = time.monotonic()

    async def post_all() -> None:
        async with httpx.AsyncClient(
            base_url=plane.api_url,
            headers={"Authorization": f"Bearer {plane.admin_token}"},
            verify=ssl.create_default_context(cafile=str(plane.ca_file)),
            limits=httpx.Limits(max_connections=len(names)),
            timeout=60,
        ) as client:
            await asyncio.gather(*(post(client, n) for n in names))

    asyncio.run(post_all())
    return done


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _idle(pids: list[int], quiet: float = 0.5, timeout: float = 60) -> None:
    deadline, before = time.monotonic() + timeout, sum(map(_cpu, pids))
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = sum(map(_cpu, pids))
        if now - before < 0.02 * len(pids):
            return
        before = now


def _controller_pid(release: Release) -> int:
    pod = release.wait_controller()
    return release.runner._processes[f"{release.namespace}/{pod['metadata']['name']}"].pid


def real_rounds(count: int, env: Mapping[str, str], rounds: list[tuple[str, float]]) -> str:
    lines = []
    with tempfile.TemporaryDirectory(prefix="driftwatch-bench-real-") as tmp:
        work = Path(tmp)
        with running_control_plane(work / "control-plane") as plane:
            runner = PodRunner(
                plane,
                work / "runner",
                {"driftwatch/drift-controller": CONTROLLER_IMAGE},
                selector="app.kubernetes.io/component=controller",
            ).start()
            try:
                release = new_release(
                    plane,
                    runner,
                    work / "release",
                    "bench",
                    monitoring_crds=False,
                    controller={"extraEnv": [{"name": k, "value": v} for k, v in env.items()]},
                )
                release.install("--timeout", "2m")
                controller = _controller_pid(release)
                apiserver = plane.processes["kube-apiserver"].pid
                for mode, pause in rounds:
                    names = [f"{'p' if pause else 'b'}-{i}" for i in range(count)]
                    watch = CronJobWatch(plane, release.namespace)
                    time.sleep(0.5)  # the watch is open
                    cpu = _cpu(controller), _cpu(apiserver)
                    created = _create(plane, release.namespace, names, pause)
                    watch.wait(names)
                    _idle([controller])
                    used = _cpu(controller) - cpu[0], _cpu(apiserver) - cpu[1]
                    latencies = [watch.seen[n] - created[n] for n in names]
                    spread = max(created.values()) - min(created.values())
                    q95 = statistics.quantiles(latencies, n=100, method="inclusive")[94]
                    lines.append(
                        f"| {mode} | {spread:.2f} s | {statistics.median(latencies) * 1000:.0f} ms "
                        f"| {q95 * 1000:.0f} ms | {max(latencies) * 1000:.0f} ms "
                        f"| {used[0] / count * 1000:.1f} ms | {used[1] / count * 1000:.1f} ms "
                        f"| {os.getloadavg()[0]:.1f} |"
                    )
            finally:
                runner.stop()
    head = [
        f"Operator: {count} DriftChecks against the real kube-apiserver (`make cluster-tools`), "
        "the chart's controller pod run by the test pod runner",
        f"({platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
        f"{'; controller environment ' + str(dict(env)) if env else ''})\n",
        "| creation | created over | reconcile p50 | p95 | max | controller CPU / DriftCheck "
        "| kube-apiserver CPU / DriftCheck | load average |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    return "\n".join(head + lines)
