"""The chart installed for real on the test control plane, its controller pod run by the pod runner.

with installed_release(plane, runner, tmp_path, "dw-loop", monitoring_crds=True) as release:
    release.install(command="upgrade", values={...})   # helm 3 or 4 against the real API server
    release.wait_controller()                          # the chart's controller pod, healthy
    release.apply_driftcheck(name, check_spec(uris))   # kubectl apply, as a user would
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from support.chart_render import CHART, SCHEMAS, helm
from support.control_plane import ControlPlane, wait_until
from support.pod_runner import PodRunner
from support.processes import free_port, run_tool

ROOT = Path(__file__).resolve().parents[2]
KIND_VALUES = ROOT / "kind" / "driftwatch-values.yaml"
GROUP_PATH = "/apis/driftwatch.io/v1alpha1"
TAG = "test"


def install_monitoring_crds(plane: ControlPlane) -> bool:
    """Apply the vendored prometheus-operator CRDs (ServiceMonitor, PrometheusRule); False when absent."""
    files = sorted(SCHEMAS.glob("*.yaml")) if SCHEMAS.is_dir() else []
    for path in files:
        plane.kubectl("apply", "--server-side", "-f", str(path))
    for path in files:
        name = yaml.safe_load(path.read_text(encoding="utf-8"))["metadata"]["name"]
        plane.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
    return bool(files)


@dataclass
class Release:
    plane: ControlPlane
    runner: PodRunner
    namespace: str
    name: str
    workdir: Path
    flavour: str = "v35"
    metrics_port: int = 0
    health_port: int = 0
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def controller_name(self) -> str:
        return (
            f"{self.name}-controller" if self.name == "driftwatch" else f"{self.name}-driftwatch-controller"
        )

    # ---- helm --------------------------------------------------------------------------------
    def helm(
        self, *args: str, check: bool = True, flavour: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        home = self.workdir / "helm"
        env = {
            "KUBECONFIG": str(self.plane.kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }
        return run_tool([helm(flavour or self.flavour), *args], env=env, check=check, timeout=300)

    def values_file(self, extra: Mapping[str, Any] | None = None) -> Path:
        """Overrides of kind/driftwatch-values.yaml for this machine: local ports, data path, test images."""
        values: dict[str, Any] = {
            "controller": {
                "metricsPort": self.metrics_port,
                "healthPort": self.health_port,
                "image": {"tag": TAG},
            },
            "inference": {"image": {"tag": TAG}},
            "data": {"mountPath": str(self.data_dir)},
        }
        _merge(values, self.values)
        _merge(values, dict(extra or {}))
        path = self.workdir / "values.yaml"
        path.write_text(yaml.safe_dump(values), encoding="utf-8")
        return path

    def install(
        self,
        *extra_args: str,
        command: str = "install",
        values: Mapping[str, Any] | None = None,
        flavour: str | None = None,
    ) -> str:
        return self.helm(
            command,
            self.name,
            str(CHART),
            "--namespace",
            self.namespace,
            "--values",
            str(KIND_VALUES),
            "--values",
            str(self.values_file(values)),
            *extra_args,
            flavour=flavour,
        ).stdout

    # ---- the controller pod -------------------------------------------------------------------
    def controller_pods(self) -> list[dict[str, Any]]:
        return self.plane.items(
            f"/api/v1/namespaces/{self.namespace}/pods",
            labelSelector=f"app.kubernetes.io/instance={self.name},app.kubernetes.io/component=controller",
        )

    def wait_controller(self, timeout: float = 90) -> dict[str, Any]:
        """The controller pod Running and its /healthz answering (the runner does not probe)."""

        def healthy() -> dict[str, Any] | None:
            running = [
                p
                for p in self.controller_pods()
                if (p.get("status") or {}).get("phase") == "Running"
                and not p["metadata"].get("deletionTimestamp")
            ]
            if len(running) != 1:
                return None
            try:
                ok = httpx.get(f"http://127.0.0.1:{self.health_port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                ok = False
            return running[0] if ok else None

        try:
            return dict(wait_until(healthy, timeout=timeout, what=f"the controller pod of {self.name}"))
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.runner.all_logs()}") from None

    def running_controllers(self, count: int, timeout: float = 90) -> list[dict[str, Any]]:
        """`count` controller pods Running, each answering /healthz on its own local port (pods annotated
        for the runner's port remapping, as two replicas of one Deployment need), oldest first."""

        def healthy() -> list[dict[str, Any]] | None:
            running = [
                p
                for p in self.controller_pods()
                if (p.get("status") or {}).get("phase") == "Running"
                and not p["metadata"].get("deletionTimestamp")
            ]
            if len(running) != count:
                return None
            for pod in running:
                port = self.runner.local_port(self.namespace, pod["metadata"]["name"], self.health_port)
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code != 200:
                        return None
                except httpx.HTTPError:
                    return None
            return sorted(running, key=lambda p: str(p["status"].get("startTime")))

        try:
            pods: list[dict[str, Any]] = wait_until(healthy, timeout=timeout, what=f"{count} controller pods")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.runner.all_logs()}") from None
        return pods

    def pod_url(self, pod: str, port: int) -> str:
        """Where a controller pod's `port` (metrics_port, health_port) answers on this machine."""
        return f"http://127.0.0.1:{self.runner.local_port(self.namespace, pod, port)}"

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).text

    # ---- DriftChecks ---------------------------------------------------------------------------
    def driftcheck(self, name: str) -> dict[str, Any] | None:
        return self.plane.get(f"{GROUP_PATH}/namespaces/{self.namespace}/driftchecks/{name}")

    def apply_driftcheck(self, name: str, spec: Mapping[str, Any], **metadata: Any) -> None:
        manifest = {
            "apiVersion": "driftwatch.io/v1alpha1",
            "kind": "DriftCheck",
            "metadata": {"name": name, **metadata},
            "spec": dict(spec),
        }
        self.plane.apply(manifest, namespace=self.namespace)

    def annotate(self, name: str, key: str, value: str) -> None:
        """`kubectl annotate driftcheck NAME KEY=VALUE --overwrite`, as a user would."""
        self.plane.kubectl(
            "annotate", "driftcheck", name, "--namespace", self.namespace, f"{key}={value}", "--overwrite"
        )

    def condition(self, name: str, kind: str = "Ready") -> dict[str, Any] | None:
        obj = self.driftcheck(name) or {}
        return next(
            (c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None
        )

    def wait_status(
        self, name: str, predicate: Any, *, timeout: float = 120, what: str = ""
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            obj = self.driftcheck(name)
            return obj if obj is not None and predicate(obj.get("status") or {}) else None

        try:
            return dict(wait_until(probe, timeout=timeout, what=what or f"the status of {name}"))
        except TimeoutError as exc:
            status = json.dumps((self.driftcheck(name) or {}).get("status"), indent=1)[:3000]
            raise TimeoutError(f"{exc}\nstatus: {status}\n{self.runner.all_logs()[-6000:]}") from None

    def jobs(self, selector: str = "") -> list[dict[str, Any]]:
        params = {"labelSelector": selector} if selector else {}
        return self.plane.items(f"/apis/batch/v1/namespaces/{self.namespace}/jobs", **params)

    def cronjob(self, driftcheck: str) -> dict[str, Any] | None:
        return self.plane.get(f"/apis/batch/v1/namespaces/{self.namespace}/cronjobs/driftcheck-{driftcheck}")


def service_url(plane: ControlPlane, runner: PodRunner, namespace: str, service: str) -> str:
    """A URL that reaches the Service's pods as kube-proxy would: its selector and targetPort, read from the
    API server, resolved to a Running pod of that selector and the local port the runner gave it."""
    obj = plane.get(f"/api/v1/namespaces/{namespace}/services/{service}")
    assert obj is not None, f"no Service {namespace}/{service}"
    selector = ",".join(f"{k}={v}" for k, v in obj["spec"]["selector"].items())
    target = obj["spec"]["ports"][0]["targetPort"]

    def backend() -> str | None:
        for pod in plane.items(f"/api/v1/namespaces/{namespace}/pods", labelSelector=selector):
            if (pod.get("status") or {}).get("phase") != "Running" or pod["metadata"].get(
                "deletionTimestamp"
            ):
                continue
            ports = [p for c in pod["spec"]["containers"] for p in c.get("ports") or []]
            port = next(
                (p["containerPort"] for p in ports if target in (p.get("name"), p["containerPort"])), None
            )
            if port is not None:
                return f"http://127.0.0.1:{runner.local_port(namespace, pod['metadata']['name'], port)}"
        return None

    url: str = wait_until(backend, timeout=120, what=f"a running pod behind Service {service}")
    return url


def write_datasets(data_dir: Path, *, rows: int = 600, shift: float = 0.0, seed: int = 7) -> dict[str, str]:
    """A small reference and a current window (with `shift` added to two of three numeric columns)."""
    import numpy as np

    def table(n: int, delta: float, salt: int) -> pa.Table:
        local = np.random.default_rng(seed + salt)
        return pa.table(
            {
                "tenure": local.normal(30 + delta * 10, 8, n).round().astype("int64"),
                "charges": local.normal(60 + delta * 20, 15, n),
                "calls": local.normal(3, 1, n),
                "plan": local.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]),
                "prediction": local.integers(0, 2, n),
                "probability": local.uniform(0, 1, n),
            }
        )

    (data_dir / "reference").mkdir(parents=True, exist_ok=True)
    (data_dir / "current").mkdir(parents=True, exist_ok=True)
    reference, current = data_dir / "reference" / "ref.parquet", data_dir / "current" / "window.parquet"
    pq.write_table(table(rows * 2, 0.0, 1), reference)
    pq.write_table(table(rows, shift, 2), current)
    return {"reference": f"file://{reference}", "current": f"file://{current}"}


def check_spec(uris: Mapping[str, str], **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schedule": "0 0 1 1 *",
        "reference": {"uri": uris["reference"]},
        "current": {"uri": uris["current"], "minRows": 100},
        "columns": {
            "numerical": ["tenure", "charges", "calls"],
            "categorical": ["plan"],
            "prediction": "probability",
        },
    }
    _merge(spec, overrides)
    return spec


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def new_release(
    plane: ControlPlane,
    runner: PodRunner,
    workdir: Path,
    namespace: str,
    name: str = "driftwatch",
    flavour: str = "v35",
    monitoring_crds: bool = True,
    **values: Any,
) -> Release:
    """A namespace enforcing Pod Security "restricted" and a Release object (not installed yet)."""
    if not monitoring_crds:  # no prometheus-operator CRDs on this control plane
        off = {"serviceMonitor": {"enabled": False}, "prometheusRule": {"enabled": False}}
        _merge(values, {"monitoring": off})
    plane.create_namespace(namespace)
    plane.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    workdir.mkdir(parents=True, exist_ok=True)
    return Release(
        plane,
        runner,
        namespace,
        name,
        workdir,
        flavour,
        metrics_port=free_port(),
        health_port=free_port(),
        values=dict(values),
    )


@contextmanager
def installed_release(
    plane: ControlPlane, runner: PodRunner, workdir: Path, namespace: str, *, monitoring_crds: bool
) -> Iterator[Release]:
    """The chart installed in `namespace` as `make deploy` configures it, its controller healthy;
    uninstalled on exit."""
    release = new_release(plane, runner, workdir, namespace, monitoring_crds=monitoring_crds)
    release.install("--timeout", "2m")
    release.wait_controller()
    try:
        yield release
    finally:
        release.helm("uninstall", release.name, "--namespace", release.namespace, check=False)
