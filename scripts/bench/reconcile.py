"""Operator benchmark: reconcile latency (DriftCheck created -> its CronJob stored) and controller peak RSS.

    .venv/bin/python scripts/bench/reconcile.py [--api emulator|real] [--count 100] [--env NAME=VALUE ...]

Runs the KMock emulator and the real `driftwatch controller` as processes on 127.0.0.1 (as the
operator tests do), creates N DriftChecks over HTTP twice -- paced (one every 50 ms) and in a burst
(all at once) -- and reads both timestamps from the emulator's request log, so the latency is
measured on one clock: from the DriftCheck's create request to its CronJob's create request.
To tell the controller's share from the emulator's, each round also reports the CPU time both
processes spent (from /proc, until the controller is idle again), the API calls the controller
made per DriftCheck and the load average. Prints Markdown; copy it into docs/benchmarks.md with
the machine and the date.

`--api real` runs the same rounds against the real control plane of the cluster tests (etcd,
kube-apiserver, kube-controller-manager from `make cluster-tools`): the chart is installed with helm,
its controller pod runs through the test pod runner under the chart's ServiceAccount, and the
latency is measured on the benchmark's clock, from each create's response to the CronJob's ADDED
event on a watch. The real server keeps no request log: API calls per DriftCheck are not reported.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from reconcile_real import real_rounds  # noqa: E402 - beside this script
from support.controller import Cluster, running_controller  # noqa: E402 - tests/ joins sys.path above

DRIFTCHECKS = "apis/driftwatch.io/v1alpha1/namespaces/{ns}/driftchecks"


def driftcheck(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "driftwatch.io/v1alpha1",
        "kind": "DriftCheck",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "schedule": "*/15 * * * *",
            "reference": {"uri": "file:///data/reference/churn.parquet"},
            "current": {"uri": "file:///data/capture/churn", "window": "1h", "minRows": 200},
        },
    }


def create_paced(cluster: Cluster, namespace: str, count: int, pause: float) -> None:
    with httpx.Client(base_url=cluster.api_url, timeout=30) as client:
        for index in range(count):
            response = client.post(
                f"/{DRIFTCHECKS.format(ns=namespace)}", json=driftcheck(f"dc-{index}", namespace)
            )
            response.raise_for_status()
            time.sleep(pause)


def create_burst(cluster: Cluster, namespace: str, count: int) -> None:
    """All at once: every create in flight together, so the burst lasts only as long as the emulator
    takes to store them (one after the other, each waiting for the previous, it lasted 0.3-2 s)."""

    async def post_all() -> None:
        limits = httpx.Limits(max_connections=count)
        async with httpx.AsyncClient(base_url=cluster.api_url, timeout=30, limits=limits) as client:
            responses = await asyncio.gather(
                *(
                    client.post(f"/{DRIFTCHECKS.format(ns=namespace)}", json=driftcheck(f"dc-{i}", namespace))
                    for i in range(count)
                )
            )
        for response in responses:
            response.raise_for_status()

    asyncio.run(post_all())


def wait_for_cronjobs(cluster: Cluster, namespace: str, count: int, timeout: float = 120.0) -> None:
    """Until `count` CronJobs are stored (a cheap list: reading the whole log would load the emulator)."""
    deadline = time.monotonic() + timeout
    cronjobs = f"{cluster.api_url}/apis/batch/v1/namespaces/{namespace}/cronjobs"
    while len(httpx.get(cronjobs, timeout=30).json()["items"]) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} CronJobs in {namespace} after {timeout}s")
        time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, *, quiet: float = 0.5, timeout: float = 30.0) -> None:
    """Until the process used no CPU for `quiet` seconds: the status patches and Events are done."""
    deadline = time.monotonic() + timeout
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_seconds(pid)
        if now - before < 0.02:
            return
        before = now


@dataclass
class Round:
    """One round's latencies (s), creation spread (s), API calls per DriftCheck and CPU seconds."""

    latencies: list[float]
    spread: float
    calls: float
    controller_cpu: float
    emulator_cpu: float
    load: float


def run_round(cluster: Cluster, namespace: str, count: int, pause: float) -> Round:
    controller, emulator = cluster.processes["controller"].pid, cluster.processes["emulator"].pid
    cpu_before = cpu_seconds(controller), cpu_seconds(emulator)
    if pause:
        create_paced(cluster, namespace, count, pause)
    else:
        create_burst(cluster, namespace, count)
    wait_for_cronjobs(cluster, namespace, count)
    wait_idle(controller)
    cpu_after = cpu_seconds(controller), cpu_seconds(emulator)
    load = os.getloadavg()[0]
    created: dict[str, float] = {}
    stored: dict[str, float] = {}
    calls = 0
    for request in cluster.requests():
        if request["namespace"] != namespace:
            continue
        calls += request["user"] == "controller"
        if request["verb"] != "create":
            continue
        name = (request.get("body") or {}).get("metadata", {}).get("name", "")
        if request["resource"] == "driftchecks":
            created[name] = request["time"]
        elif request["resource"] == "cronjobs":
            stored[name.removeprefix("driftcheck-")] = request["time"]
    return Round(
        latencies=[stored[name] - created[name] for name in created],
        spread=max(created.values()) - min(created.values()),
        calls=calls / count,
        controller_cpu=cpu_after[0] - cpu_before[0],
        emulator_cpu=cpu_after[1] - cpu_before[1],
        load=load,
    )


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--api", choices=["emulator", "real"], default="emulator", help="which API server")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="extra controller environment"
    )
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    if args.api == "real":
        print(real_rounds(args.count, env, [("paced, 1 every 50 ms", 0.05), ("burst", 0.0)]))
        return
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="driftwatch-bench-") as tmp,
        running_controller(Path(tmp), env) as cluster,
    ):
        for mode, namespace, pause in (("paced, 1 every 50 ms", "paced", 0.05), ("burst", "burst", 0.0)):
            rows.append((mode, run_round(cluster, namespace, args.count, pause)))
        rss = peak_rss_mb(cluster.processes["controller"].pid)
    print(
        f"Operator: {args.count} DriftChecks against the KMock emulator, `driftwatch controller` as a process"
    )
    extra = f"; controller environment {env}" if env else ""
    print(f"({platform.machine()}, {platform.python_implementation()} {platform.python_version()}{extra})\n")
    print(
        "| creation | created over | reconcile p50 | p95 | max | controller CPU / DriftCheck "
        "| emulator CPU / DriftCheck | controller API calls / DriftCheck | load average |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for mode, r in rows:
        values = r.latencies
        print(
            f"| {mode} | {r.spread:.2f} s | {statistics.median(values) * 1000:.0f} ms "
            f"| {quantile(values, 0.95) * 1000:.0f} ms | {max(values) * 1000:.0f} ms "
            f"| {r.controller_cpu / args.count * 1000:.1f} ms | {r.emulator_cpu / args.count * 1000:.1f} ms "
            f"| {r.calls:.1f} | {r.load:.1f} |"
        )
    print(f"\nController peak RSS (VmHWM) after {2 * args.count} DriftChecks: {rss:.0f} MB")


if __name__ == "__main__":
    main()
