"""Operator benchmark: reconcile latency (DriftCheck created -> its CronJob stored) and controller peak RSS.

    .venv/bin/python scripts/bench/reconcile.py [--count 100]

Runs the KMock emulator and the real `driftwatch controller` as processes on 127.0.0.1 (as the
operator tests do), creates N DriftChecks over HTTP twice -- paced (one every 50 ms) and in a burst
(all at once) -- and reads both timestamps from the emulator's request log, so the latency is
measured on one clock: from the DriftCheck's create request to its CronJob's create request.
Prints a Markdown table; copy it into docs/benchmarks.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

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


def create_all(cluster: Cluster, namespace: str, count: int, pause: float) -> None:
    with httpx.Client(base_url=cluster.api_url, timeout=30) as client:
        for index in range(count):
            response = client.post(
                f"/{DRIFTCHECKS.format(ns=namespace)}", json=driftcheck(f"dc-{index}", namespace)
            )
            response.raise_for_status()
            if pause:
                time.sleep(pause)


def latencies(cluster: Cluster, namespace: str, count: int, timeout: float = 120.0) -> list[float]:
    """Seconds from each DriftCheck's create to its CronJob's create, from the emulator's log."""
    deadline = time.monotonic() + timeout
    cronjobs = f"{cluster.api_url}/apis/batch/v1/namespaces/{namespace}/cronjobs"
    # Count the CronJobs cheaply first: reading the whole log while measuring would load the emulator.
    while time.monotonic() < deadline and len(httpx.get(cronjobs, timeout=30).json()["items"]) < count:
        time.sleep(0.5)
    while time.monotonic() < deadline:
        created: dict[str, float] = {}
        stored: dict[str, float] = {}
        for request in cluster.requests():
            if request["verb"] != "create" or request["namespace"] != namespace:
                continue
            name = (request.get("body") or {}).get("metadata", {}).get("name", "")
            if request["resource"] == "driftchecks":
                created[name] = request["time"]
            elif request["resource"] == "cronjobs":
                stored[name.removeprefix("driftcheck-")] = request["time"]
        if len(stored) >= count:
            return [stored[name] - created[name] for name in created]
        time.sleep(0.5)
    raise TimeoutError(f"only {len(stored)} of {count} CronJobs after {timeout}s")


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
    args = parser.parse_args()
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="driftwatch-bench-") as tmp,
        running_controller(Path(tmp)) as cluster,
    ):
        for mode, namespace, pause in (("paced, 1 every 50 ms", "paced", 0.05), ("burst", "burst", 0.0)):
            create_all(cluster, namespace, args.count, pause)
            values = latencies(cluster, namespace, args.count)
            rows.append((mode, statistics.median(values), quantile(values, 0.95), max(values)))
        rss = peak_rss_mb(cluster.processes["controller"].pid)
    print(
        f"Operator: {args.count} DriftChecks against the KMock emulator, `driftwatch controller` as a process"
    )
    print(f"({platform.machine()}, {platform.python_implementation()} {platform.python_version()})\n")
    print("| creation | reconcile p50 | p95 | max |")
    print("| --- | --- | --- | --- |")
    for mode, p50, p95, worst in rows:
        print(f"| {mode} | {p50 * 1000:.0f} ms | {p95 * 1000:.0f} ms | {worst * 1000:.0f} ms |")
    print(f"\nController peak RSS (VmHWM) after {2 * args.count} DriftChecks: {rss:.0f} MB")


if __name__ == "__main__":
    main()
