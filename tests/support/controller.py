"""Start the Kubernetes emulator and the real `driftwatch controller` as processes on 127.0.0.1.

    from support.controller import running_controller

    with running_controller(tmp_path) as cluster:
        cluster.apply(manifest)                                   # real `kubectl apply --validate=false`
        cronjob = cluster.wait_for(lambda: cluster.get("cronjobs", "default", "driftcheck-churn"))
        result = cluster.run_cronjob("default", "driftcheck-churn")   # the container command, as a process
        cluster.metrics()                                         # text of the controller's /metrics

Three kubeconfigs point at the emulator with different bearer tokens, so the request log
(`cluster.requests()`) tells who called: `controller`, `check` (the CronJob's pods) or the test
itself (kubectl sends no token over plain HTTP: user None).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from support.processes import free_port, kubectl_path, run_tool, stop_gracefully

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "charts" / "driftwatch" / "crds" / "driftcheck.yaml"
EMULATOR = Path(__file__).with_name("kmock_cluster.py")
BIN = Path(sys.executable).parent
T = TypeVar("T")
API_PREFIXES = {
    "driftchecks": "apis/driftwatch.io/v1alpha1",
    "cronjobs": "apis/batch/v1",
    "jobs": "apis/batch/v1",
}


def write_kubeconfig(path: Path, server: str, token: str | None, namespace: str = "default") -> Path:
    user: dict[str, Any] = {"token": token} if token else {}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": token or "tester", "user": user}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": token or "tester",
                                                        "namespace": namespace}}],
        "current-context": "emulator",
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


# Reads of one object that get neither the object nor a 404 (an emulator busy on a loaded machine).
GET_ATTEMPTS = 5


@dataclass
class Cluster:
    """The emulator (and the controller, when started): URLs, kubeconfigs and helpers for tests."""

    api_url: str
    workdir: Path
    kubeconfig: Path
    controller_kubeconfig: Path
    check_kubeconfig: Path
    metrics_url: str = ""
    health_url: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # ---- kubectl and the API ------------------------------------------------------------
    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {"KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.workdir / "kube-cache")}
        return run_tool([kubectl_path(), *args], env=env, stdin=stdin, check=check)

    def apply(self, manifest: Mapping[str, Any] | str | Path) -> str:
        """`kubectl apply --validate=false` of a dict, a YAML text or a file."""
        if isinstance(manifest, Path):
            return self.kubectl("apply", "--validate=false", "-f", str(manifest)).stdout
        # JSON for dicts: kubectl reads YAML 1.1, where a bare `y` or `no` would turn into a boolean.
        text = manifest if isinstance(manifest, str) else json.dumps(dict(manifest))
        return self.kubectl("apply", "--validate=false", "-f", "-", stdin=text).stdout

    def _collection(self, resource: str, namespace: str) -> str:
        """The URL of a namespaced collection (core resources unless the group is listed)."""
        prefix = API_PREFIXES.get(resource, "api/v1")
        return f"{self.api_url}/{prefix}/namespaces/{namespace}/{resource}"

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object as stored, or None when absent (read over HTTP: no kubectl start-up per poll).

        Only a 404 is "absent": any other answer is retried a few times, then fails the test with what
        the emulator said, instead of passing for a missing object.
        """
        for _ in range(GET_ATTEMPTS):
            response = httpx.get(f"{self._collection(resource, namespace)}/{name}", timeout=10)
            if response.status_code in (200, 404):
                return dict(response.json()) if response.status_code == 200 else None
            time.sleep(0.5)
        raise AssertionError(f"GET {resource}/{name}: HTTP {response.status_code} {response.text[:500]}")

    def requests(self) -> list[dict[str, Any]]:
        """The emulator's request log: user, agent, verb, group, resource, subresource, body of writes."""
        return list(httpx.get(f"{self.api_url}/_emulator/requests", timeout=10).json())

    # Last of the methods whose annotations say `list`: inside the class body, this name shadows it.
    def list(self, resource: str, namespace: str) -> list[dict[str, Any]]:
        response = httpx.get(self._collection(resource, namespace), timeout=10)
        return list(response.json().get("items", [])) if response.status_code == 200 else []

    def wait_for(self, probe: Callable[[], T | None], *, timeout: float = 30.0, what: str = "condition") -> T:
        """Poll `probe` until it returns something truthy; fail with the controller log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.logs(name)}")
            time.sleep(0.2)
        raise TimeoutError(
            f"timed out after {timeout}s waiting for {what}\n--- controller log ---\n{self.logs()}"
        )

    # ---- the CronJob's command ----------------------------------------------------------
    def cronjob_container(self, namespace: str, name: str) -> dict[str, Any]:
        cronjob = self.get("cronjobs", namespace, name)
        if cronjob is None:
            raise LookupError(f"no CronJob {namespace}/{name}")
        return dict(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0])

    def run_cronjob(
        self, namespace: str, name: str, *, env: Mapping[str, str] | None = None, timeout: float = 180.0
    ) -> subprocess.CompletedProcess[str]:
        """Run the CronJob container's own command as a process, as its pod would, with the check's token."""
        container = self.cronjob_container(namespace, name)
        command = list(container.get("command") or []) + list(container.get("args") or [])
        executable = BIN / command[0]
        if executable.exists():
            command[0] = str(executable)
        process_env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTWATCH_")}
        process_env.update({item["name"]: str(item.get("value", "")) for item in container.get("env") or []})
        process_env.update(HOME=str(self.workdir), KUBECONFIG=str(self.check_kubeconfig))
        process_env.update(env or {})
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=process_env,
            timeout=timeout,
            check=False,
            cwd=self.workdir,
        )

    # ---- the controller -----------------------------------------------------------------
    def metrics(self) -> str:
        return httpx.get(self.metrics_url, timeout=10).text

    def logs(self, name: str = "controller") -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _start(name: str, command: list[str], workdir: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    log = (workdir / f"{name}.log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(env), cwd=workdir)


def _wait_emulator(workdir: Path, process: subprocess.Popen[bytes], timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = (workdir / "emulator.log").read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            if line.startswith("READY "):
                return line.split(" ", 1)[1].strip()
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited with {process.returncode}:\n{text}")
        time.sleep(0.1)
    raise TimeoutError("the emulator did not start")


@contextmanager
def running_emulator(workdir: Path) -> Iterator[Cluster]:
    """Only the emulator (for tests that start the controller themselves, or none)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(EMULATOR), "--crd", str(CRD_PATH), "--port", "0"]
    process = _start("emulator", command, workdir, env)
    try:
        url = _wait_emulator(workdir, process)
        cluster = Cluster(
            api_url=url,
            workdir=workdir,
            kubeconfig=write_kubeconfig(workdir / "kubeconfig", url, None),
            controller_kubeconfig=write_kubeconfig(workdir / "controller.kubeconfig", url, "controller"),
            check_kubeconfig=write_kubeconfig(workdir / "check.kubeconfig", url, "check"),
            processes={"emulator": process},
        )
        yield cluster
    finally:
        stop_gracefully(process, timeout=10)


def start_controller(
    cluster: Cluster, env: Mapping[str, str] | None = None, *, timeout: float = 60.0
) -> None:
    """Start `driftwatch controller` against the emulator and wait for its /healthz and /metrics."""
    metrics_port, health_port = free_port(), free_port()
    process_env = {
        k: v for k, v in os.environ.items() if not k.startswith("DRIFTWATCH_") and k != "KUBECONFIG"
    }
    process_env.update(
        PYTHONUNBUFFERED="1",
        DRIFTWATCH_KUBECONFIG=str(cluster.controller_kubeconfig),
        DRIFTWATCH_METRICS_HOST="127.0.0.1",
        DRIFTWATCH_METRICS_PORT=str(metrics_port),
        DRIFTWATCH_HEALTH_PORT=str(health_port),
        DRIFTWATCH_CHECK_IMAGE="driftwatch/drift-controller:test",
        DRIFTWATCH_CHECK_SERVICE_ACCOUNT="driftwatch-check",
        DRIFTWATCH_LOG_FORMAT="text",
    )
    process_env.update(env or {})
    command = [sys.executable, "-m", "driftwatch_controller.cli", "controller"]
    cluster.processes["controller"] = _start("controller", command, cluster.workdir, process_env)
    cluster.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    cluster.health_url = f"http://127.0.0.1:{health_port}/healthz"

    def healthy() -> bool:
        try:
            return all(
                httpx.get(url, timeout=1).status_code == 200
                for url in (cluster.health_url, cluster.metrics_url)
            )
        except httpx.HTTPError:
            return False

    cluster.wait_for(healthy, timeout=timeout, what="the controller's /healthz and /metrics")


@contextmanager
def running_controller(workdir: Path, env: Mapping[str, str] | None = None) -> Iterator[Cluster]:
    """The emulator plus a running controller; both stop (SIGTERM) on exit."""
    with ExitStack() as stack:
        cluster = stack.enter_context(running_emulator(workdir))
        try:
            start_controller(cluster, env)
            yield cluster
        finally:
            controller = cluster.processes.get("controller")
            if controller is not None:
                stop_gracefully(controller, timeout=10)


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, matched on name and the given labels."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
