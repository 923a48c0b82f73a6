"""A test-side stand-in for the kubelet: runs the Pods the control plane creates as local processes.

There is no kubelet and no scheduler on the test machine. The runner takes the unscheduled Pods that
match its label selector, binds them to its Node, runs each container's command as a process of this
machine with the Pod's environment and a token of the Pod's ServiceAccount, and reports the Pod's
phase, container state and exit code through `pods/status`, so that the real Job and CronJob
controllers do the rest (completions, `backoffLimit`, `podFailurePolicy`, history limits), and the
garbage collector deletes what they own.

What a kubelet does that this runner does not (say so where a test depends on it):
- no images: an image is runnable only if `images` maps its repository to a local bin directory
  (the project's own images map to the test virtualenv); any other image stays Pending with
  ErrImageNeverPull;
- no isolation: no container runtime, cgroups, user or mount namespaces; securityContext, resources
  and probes are not enforced; the process runs as the test's user;
- volumes are not mounted: a volume's `mountPath` is used as a path of this machine as it is, so
  tests give the data claim a mountPath under their own work directory; emptyDir mounts are left to
  the paths they name (/tmp);
- the ServiceAccount token is not a projected file: the process gets KUBECONFIG pointing at a
  kubeconfig that holds a token requested for the Pod (TokenRequest bound to it);
- no cluster DNS, Services or `kubectl logs`: output goes to `<workdir>/pods/<ns>_<pod>.log`
  (`logs()`); only the first container runs, init containers and sidecars are not supported;
  a Python container resolves the Service names of `services` (`name:port` -> a local port) through
  a `sitecustomize` shim the runner puts on its PYTHONPATH, which stands in for DNS and kube-proxy;
- it acts with the admin's credentials, where a kubelet is limited by the Node authorizer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support.control_plane import ControlPlane, write_kubeconfig
from support.processes import die_with_parent

NODE = "driftwatch-pod-runner"
SMP = {"Content-Type": "application/strategic-merge-patch+json"}
SHIM_DIR = Path(__file__).with_name("pod_runner_dns")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Image:
    """How a container image runs here: the folder its commands come from, and its entrypoint."""

    bin_dir: Path
    entrypoint: list[str]
    cmd: list[str] = field(default_factory=list)
    env: Mapping[str, str] = field(default_factory=dict)  # the image's ENV


@dataclass
class PodRunner:
    plane: ControlPlane
    workdir: Path
    images: Mapping[str, Image]
    selector: str = "app.kubernetes.io/name=driftwatch"
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # "<service>.<namespace>:<port>" -> local port: what the Service would route to.
    services: dict[str, int] = field(default_factory=dict)
    poll: float = 0.25
    _threads: dict[str, threading.Thread] = field(default_factory=dict)
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _loop: threading.Thread | None = None
    started: list[str] = field(default_factory=list)

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> PodRunner:
        (self.workdir / "pods").mkdir(parents=True, exist_ok=True)
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE}},
        }
        with self.plane.client() as api:
            response = api.post("/api/v1/nodes", json=node)
            if response.status_code not in (201, 409):
                response.raise_for_status()
        self._loop = threading.Thread(target=self._run, name="pod-runner", daemon=True)
        self._loop.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._loop is not None:
            self._loop.join(10)
        for process in list(self._processes.values()):
            if process.poll() is None:
                process.kill()
        for thread in list(self._threads.values()):
            thread.join(10)

    def logs(self, namespace: str, pod: str) -> str:
        path = self.workdir / "pods" / f"{namespace}_{pod}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def all_logs(self) -> str:
        return "\n".join(
            f"--- pod {p.stem} ---\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted((self.workdir / "pods").glob("*.log"))
        )

    # ---- the loop: bind new Pods, finish deleted ones ----------------------------------------
    def _run(self) -> None:
        with self.plane.client() as api:
            while not self._stop.is_set():
                # The API server restarting or busy: the next tick lists again.
                with contextlib.suppress(httpx.HTTPError):
                    self._tick(api)
                self._stop.wait(self.poll)

    def _tick(self, api: httpx.Client) -> None:
        pending = api.get(
            "/api/v1/pods", params={"fieldSelector": "spec.nodeName=", "labelSelector": self.selector}
        )
        for pod in pending.json().get("items", []):
            if not pod["metadata"].get("deletionTimestamp"):
                self._admit(api, pod)
        mine = api.get("/api/v1/pods", params={"fieldSelector": f"spec.nodeName={NODE}"})
        for pod in mine.json().get("items", []):
            if pod["metadata"].get("deletionTimestamp"):
                self._terminate(api, pod)

    def _admit(self, api: httpx.Client, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": NODE},
        }
        response = api.post(
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", json=binding
        )
        if response.status_code != 201:
            return  # bound by an earlier tick, or deleted meanwhile
        key = f"{meta['namespace']}/{meta['name']}"
        self.started.append(key)
        thread = threading.Thread(target=self._execute, args=(pod,), name=f"pod {key}", daemon=True)
        self._threads[key] = thread
        thread.start()

    def _terminate(self, api: httpx.Client, pod: dict[str, Any]) -> None:
        """What a kubelet does on deletion: stop the containers, then remove the Pod for good."""
        meta = pod["metadata"]
        process = self._processes.get(f"{meta['namespace']}/{meta['name']}")
        if process is not None and process.poll() is None:
            process.terminate()
        api.request(
            "DELETE",
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
            json={
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": meta["uid"]},
            },
        )

    # ---- one Pod ----------------------------------------------------------------------------
    def _execute(self, pod: dict[str, Any]) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        namespace, name = meta["namespace"], meta["name"]
        container = spec["containers"][0]
        path = f"/api/v1/namespaces/{namespace}/pods/{name}/status"
        with self.plane.client() as api:
            image = self._image(container["image"])
            if image is None:
                self._waiting(
                    api, path, container, "ErrImageNeverPull", f"pod runner cannot run {container['image']}"
                )
                return
            command = list(container.get("command") or image.entrypoint) + list(
                container.get("args") or ([] if container.get("command") else image.cmd)
            )
            local = image.bin_dir / command[0]
            if local.exists():
                command[0] = str(local)
            try:
                env = self._environment(api, pod, container, image)
            except (KeyError, httpx.HTTPError) as exc:
                self._waiting(api, path, container, "CreateContainerConfigError", str(exc))
                return
            for mount in container.get("volumeMounts") or []:
                Path(mount["mountPath"]).mkdir(parents=True, exist_ok=True)
            restarts, policy = 0, spec.get("restartPolicy", "Always")
            while True:
                started = _now()
                api.patch(
                    path,
                    headers=SMP,
                    json={
                        "status": {
                            "phase": "Running",
                            "startTime": started,
                            "hostIP": "127.0.0.1",
                            "podIP": "127.0.0.1",
                            "podIPs": [{"ip": "127.0.0.1"}],
                            "conditions": [
                                self._condition("PodScheduled", "True"),
                                self._condition("Initialized", "True"),
                                self._condition("ContainersReady", "True"),
                                self._condition("Ready", "True"),
                            ],
                            "containerStatuses": [
                                self._container_status(
                                    container,
                                    {"running": {"startedAt": started}},
                                    ready=True,
                                    restarts=restarts,
                                )
                            ],
                        }
                    },
                )
                code = self._wait(namespace, name, command, env, spec.get("activeDeadlineSeconds"))
                terminated = {
                    "exitCode": code,
                    "reason": "Completed" if code == 0 else "Error",
                    "startedAt": started,
                    "finishedAt": _now(),
                }
                # A kubelet restarts the container in place under Always / OnFailure (CrashLoopBackOff aside).
                restart = policy == "Always" or (policy == "OnFailure" and code != 0)
                if restart and not self._stop.is_set() and self._alive(api, namespace, name):
                    restarts += 1
                    api.patch(
                        path,
                        headers=SMP,
                        json={
                            "status": {
                                "containerStatuses": [
                                    self._container_status(
                                        container,
                                        {"waiting": {"reason": "CrashLoopBackOff"}},
                                        restarts=restarts,
                                        last={"terminated": terminated},
                                    )
                                ]
                            }
                        },
                    )
                    self._stop.wait(1.0)
                    continue
                break
            api.patch(
                path,
                headers=SMP,
                json={
                    "status": {
                        "phase": "Succeeded" if code == 0 else "Failed",
                        "conditions": [
                            self._condition("Ready", "False", "PodCompleted"),
                            self._condition("ContainersReady", "False", "PodCompleted"),
                        ],
                        "containerStatuses": [
                            self._container_status(container, {"terminated": terminated}, restarts=restarts)
                        ],
                    }
                },
            )

    def _waiting(
        self, api: httpx.Client, path: str, container: Mapping[str, Any], reason: str, message: str
    ) -> None:
        """The Pod stays Pending with its container waiting, as a kubelet reports a pull or config error."""
        state = {"waiting": {"reason": reason, "message": message}}
        status = {"phase": "Pending", "containerStatuses": [self._container_status(container, state)]}
        api.patch(path, headers=SMP, json={"status": status})

    @staticmethod
    def _alive(api: httpx.Client, namespace: str, name: str) -> bool:
        response = api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
        return response.status_code == 200 and not response.json()["metadata"].get("deletionTimestamp")

    def kill(self, namespace: str, pod: str, sig: int) -> None:
        """Send a signal to a Pod's process (SIGKILL is what an OOM kill or a node loss looks like)."""
        self._processes[f"{namespace}/{pod}"].send_signal(sig)

    def _wait(self, namespace: str, name: str, command: list[str], env: dict[str, str], deadline: Any) -> int:
        log = (self.workdir / "pods" / f"{namespace}_{name}.log").open("wb")
        try:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        except OSError as exc:
            log.write(f"pod runner: cannot start {command[0]}: {exc}\n".encode())
            log.close()
            return 128
        self._processes[f"{namespace}/{name}"] = process
        try:
            return process.wait(timeout=float(deadline) if deadline else None)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return 137
        finally:
            log.close()

    def _image(self, reference: str) -> Image | None:
        repository = (
            reference.split("@", 1)[0].rsplit(":", 1)[0]
            if "/" in reference or ":" in reference
            else reference
        )
        return self.images.get(repository)

    def _environment(
        self, api: httpx.Client, pod: dict[str, Any], container: Mapping[str, Any], image: Image
    ) -> dict[str, str]:
        meta, spec = pod["metadata"], pod["spec"]
        env = {
            "PATH": f"{image.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOSTNAME": meta["name"],
            **image.env,
        }
        fields = {
            "metadata.name": meta["name"],
            "metadata.namespace": meta["namespace"],
            "metadata.uid": meta["uid"],
            "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
            "spec.nodeName": NODE,
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
        }
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = str(item["value"])
            elif "fieldRef" in (item.get("valueFrom") or {}):
                env[item["name"]] = fields[item["valueFrom"]["fieldRef"]["fieldPath"]]
            else:
                raise KeyError(f"pod runner: env {item['name']}: only value and fieldRef are supported")
        if spec.get("automountServiceAccountToken", True):
            env["KUBECONFIG"] = str(self._token_kubeconfig(api, pod))
        namespace = meta["namespace"]
        routes = {}
        for key, port in self.services.items():
            host, _, service_port = key.rpartition(":")
            name, _, service_namespace = host.partition(".")
            if service_namespace == namespace:  # the short name resolves in the pod's own namespace
                routes[f"{name}:{service_port}"] = port
            for suffix in ("", ".svc", ".svc.cluster.local"):
                routes[f"{host}{suffix}:{service_port}"] = port
        if routes:
            env["PYTHONPATH"] = str(SHIM_DIR)
            env["DRIFTWATCH_POD_RUNNER_SERVICES"] = json.dumps(routes)
        env.update(self.extra_env)
        return env

    def _token_kubeconfig(self, api: httpx.Client, pod: dict[str, Any]) -> Path:
        meta = pod["metadata"]
        account = pod["spec"].get("serviceAccountName") or "default"
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": 3600,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            },
        }
        response = api.post(
            f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token", json=request
        )
        response.raise_for_status()
        token = response.json()["status"]["token"]
        folder = self.workdir / "tokens"
        folder.mkdir(exist_ok=True)
        return write_kubeconfig(
            folder / f"{meta['namespace']}_{meta['name']}.kubeconfig",
            self.plane.api_url,
            self.plane.ca_file,
            token,
            meta["namespace"],
        )

    @staticmethod
    def _condition(kind: str, status: str, reason: str | None = None) -> dict[str, Any]:
        condition = {"type": kind, "status": status, "lastTransitionTime": _now()}
        return {**condition, "reason": reason} if reason else condition

    @staticmethod
    def _container_status(
        container: Mapping[str, Any],
        state: dict[str, Any],
        ready: bool = False,
        restarts: int = 0,
        last: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        status = {
            "name": container["name"],
            "image": container["image"],
            "imageID": "",
            "ready": ready,
            "restartCount": restarts,
            "started": "running" in state,
            "state": state,
        }
        return {**status, "lastState": last} if last else status


def wait_for_pods_gone(plane: ControlPlane, namespace: str, selector: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while plane.items(f"/api/v1/namespaces/{namespace}/pods", labelSelector=selector):
        if time.monotonic() > deadline:
            raise TimeoutError(f"pods {selector} in {namespace} still there after {timeout:.0f}s")
        time.sleep(0.3)
