"""The whole product on a real kind cluster with kube-prometheus-stack (`make kind-up images kind-load e2e`).

Opt-in (marker e2e; not run by `make test`). Each run installs its own release in its own namespace
and removes both at the end. Needs: kind cluster from kind/cluster.yaml, kube-prometheus-stack from
kind/kube-prometheus-stack-values.yaml in namespace `monitoring`, images driftwatch/*:dev loaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MONITORING_NS = os.environ.get("MONITORING_NS", "monitoring")
GRAFANA_AUTH = ("admin", os.environ.get("GRAFANA_PASSWORD", "driftwatch"))
T = TypeVar("T")


def tool(name: str) -> str:
    found = shutil.which(name) or str(ROOT / ".tools" / "v35" / name)
    if not Path(found).exists():
        pytest.skip(f"{name} not found (make tools)")
    return found


def run(*args: str, stdin: str | None = None, timeout: float = 600) -> str:
    result = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def kubectl(*args: str, stdin: str | None = None) -> str:
    return run(tool("kubectl"), *args, stdin=stdin)


def wait_for(probe: Callable[[], T | None], *, timeout: float, what: str, every: float = 3.0) -> T:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except (AssertionError, httpx.HTTPError, KeyError, ValueError) as exc:
            last_error = exc
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


@contextmanager
def port_forward(namespace: str, target: str, port: int) -> Iterator[str]:
    """`kubectl port-forward` to a free local port; yields the base URL."""
    process = subprocess.Popen(
        [
            tool("kubectl"),
            "port-forward",
            "--namespace",
            namespace,
            target,
            f":{port}",
            "--address",
            "127.0.0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
            if match:
                yield f"http://127.0.0.1:{match.group(1)}"
                return
            if process.poll() is not None:
                break
        raise RuntimeError(f"port-forward to {namespace}/{target} did not start")
    finally:
        process.terminate()
        process.wait(10)


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str

    @property
    def inference(self) -> str:
        return (
            f"{self.name}-driftwatch-inference" if "driftwatch" not in self.name else f"{self.name}-inference"
        )

    @property
    def controller(self) -> str:
        return (
            f"{self.name}-driftwatch-controller"
            if "driftwatch" not in self.name
            else f"{self.name}-controller"
        )


@pytest.fixture(scope="module")
def release() -> Iterator[Release]:
    suffix = uuid.uuid4().hex[:6]
    rel = Release(name=f"e2e-{suffix}", namespace=f"driftwatch-e2e-{suffix}")
    helm = tool("helm")
    try:
        run(
            helm, "upgrade", "--install", rel.name, str(ROOT / "charts" / "driftwatch"),
            "--namespace", rel.namespace, "--create-namespace",
            "--values", str(ROOT / "kind" / "driftwatch-values.yaml"),
            # The NodePort belongs to `make deploy`'s release; this one stays inside the cluster.
            "--set", "inference.service.type=ClusterIP", "--set", "inference.service.nodePort=null",
            "--wait", "--timeout", "5m",
        )  # fmt: skip
        yield rel
    finally:
        subprocess.run(
            [helm, "uninstall", rel.name, "--namespace", rel.namespace, "--wait"], check=False, timeout=300
        )
        subprocess.run(
            [tool("kubectl"), "delete", "namespace", rel.namespace, "--wait=false", "--ignore-not-found"],
            check=False,
            timeout=120,
        )


def test_helm_test_checks_readyz_and_metrics(release: Release) -> None:
    output = run(
        tool("helm"), "test", release.name, "--namespace", release.namespace, "--logs", "--timeout", "3m"
    )
    assert re.search(r"Phase:\s+Succeeded", output), output


def send_traffic(url: str, rows: int = 400) -> None:
    from driftwatch_demo import synthetic

    records = synthetic.records(synthetic.generate(rows, seed=11))
    with httpx.Client(base_url=url, timeout=30) as client:
        for start in range(0, rows, 100):
            response = client.post("/v1/predict", json={"instances": records[start : start + 100]})
            assert response.status_code == 200, response.text


def driftcheck(release: Release) -> dict[str, Any]:
    manifest = yaml.safe_load((ROOT / "manifests" / "driftchecks" / "churn-hourly.yaml").read_text())
    manifest["metadata"]["namespace"] = release.namespace
    return dict(manifest)


def test_a_driftcheck_gets_a_verdict_shown_by_kubectl(release: Release) -> None:
    with port_forward(release.namespace, f"svc/{release.inference}-churn", 8000) as url:
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        send_traffic(url)
    check = driftcheck(release)
    name = check["metadata"]["name"]
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(check))
    wait_for(
        lambda: kubectl("get", "cronjob", "-n", release.namespace, f"driftcheck-{name}", "-o", "name"),
        timeout=60,
        what="the owned CronJob",
    )
    # Wait past the capture flush interval, then run the check now.
    time.sleep(10)
    run_now = f"driftwatch.io/run-now={int(time.time())}"
    kubectl("annotate", "-n", release.namespace, "driftcheck", name, run_now, "--overwrite")

    def verdict() -> str | None:
        status = json.loads(kubectl("get", "driftcheck", "-n", release.namespace, name, "-o", "json")).get(
            "status", {}
        )
        return status.get("verdict")

    assert wait_for(verdict, timeout=300, what="a verdict") in {"NoDrift", "Drift", "InsufficientData"}
    table = kubectl("get", "driftchecks", "-n", release.namespace)
    header = table.splitlines()[0].split()
    assert header[:5] == ["NAME", "VERDICT", "DRIFT", "RECOMMENDATION", "ROWS"]
    assert "LAST" in header
    assert header[-1] == "AGE"
    assert name in table


def prometheus_query(url: str, expr: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=30).json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_prometheus_scrapes_both_services_and_loads_the_rules(release: Release) -> None:
    with port_forward(MONITORING_NS, "svc/kube-prometheus-stack-prometheus", 9090) as url:
        expr = f'up{{namespace="{release.namespace}", job=~"{release.inference}|{release.controller}"}} == 1'
        found = wait_for(
            lambda: len(prometheus_query(url, expr)) >= 2 or None, timeout=180, what="both targets up"
        )
        assert found is True
        groups = httpx.get(f"{url}/api/v1/rules", timeout=30).json()["data"]["groups"]
        names = {rule["name"] for group in groups for rule in group["rules"]}
        assert {"InferenceDown", "DriftDetected", "DriftCheckStale"} <= names


def test_grafana_has_the_three_dashboards(release: Release) -> None:
    with port_forward(MONITORING_NS, "svc/kube-prometheus-stack-grafana", 80) as url:

        def titles() -> set[str] | None:
            found = httpx.get(
                f"{url}/api/search", params={"tag": "driftwatch"}, auth=GRAFANA_AUTH, timeout=30
            )
            names = {item["title"] for item in found.json()}
            return names if len(names) >= 3 else None

        assert wait_for(titles, timeout=180, what="the dashboards in Grafana") >= {
            "driftwatch / Overview",
            "driftwatch / Inference",
            "driftwatch / Drift",
        }
