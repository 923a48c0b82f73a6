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
  tests give the data claim (and the chart's model volume) a mountPath under their own work directory;
  emptyDir mounts are left to the paths they name (/tmp); a `subPath` is ignored;
- the ServiceAccount token is not a projected file: the process gets KUBECONFIG pointing at a
  kubeconfig that holds a token requested for the Pod (TokenRequest bound to it);
- no cluster DNS, Services or `kubectl logs`: output goes to `<workdir>/pods/<ns>_<pod>.log`
  (`logs()`; an init container's to `<ns>_<pod>_<container>.log`); init containers run one after the
  other before the first container, which is the only one that runs (no sidecars);
- no network namespaces: every pod is 127.0.0.1. With `remap_ports`, each pod's container ports get
  free local ports instead (an argument or an env value equal to the port number is replaced, and
  0.0.0.0 by 127.0.0.1), which `local_port()` tells; without it, two pods listening on one port
  collide. A Pod annotated `driftwatch.io/pod-runner-remap-ports: "true"` gets its own ports from any
  runner (two replicas of one Deployment, e.g. the controller's, listen on the same ports otherwise);
- a container restarted in place keeps its previous output in `<ns>_<pod>.previous.log`
  (`previous_logs()`, as `kubectl logs --previous`); the runner restarts it after 1 s, without back-off;
- env `valueFrom` takes `fieldRef`, `secretKeyRef` and `configMapKeyRef`, `envFrom` Secrets and
  ConfigMaps, read from the API server as a kubelet would;
  a Python container resolves the Service names of `services` (`name:port` -> a local port) through
  a `sitecustomize` shim the runner puts on its PYTHONPATH, which stands in for DNS and kube-proxy;
- it acts with the admin's credentials, where a kubelet is limited by the Node authorizer.
"""

from __future__ import annotations

import base64
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
from support.processes import die_with_parent, free_port

NODE = "driftwatch-pod-runner"
SMP = {"Content-Type": "application/strategic-merge-patch+json"}
SHIM_DIR = Path(__file__).with_name("pod_runner_dns")
REMAP_ANNOTATION = "driftwatch.io/pod-runner-remap-ports"


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
    remap_ports: bool = False
    # "<namespace>/<pod>" -> {containerPort: local port}, when `remap_ports`.
    ports: dict[str, dict[int, int]] = field(default_factory=dict)
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

    def logs(self, namespace: str, pod: str, container: str | None = None) -> str:
        """The output of the Pod's first container, or of the init container named `container`."""
        path = (
            self.workdir
            / "pods"
            / (f"{namespace}_{pod}_{container}.log" if container else f"{namespace}_{pod}.log")
        )
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def previous_logs(self, namespace: str, pod: str) -> str:
        """The output of the Pod's first container before its last restart in place ("" when none)."""
        path = self.workdir / "pods" / f"{namespace}_{pod}.previous.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def local_port(self, namespace: str, pod: str, container_port: int) -> int:
        """Where a Pod's container port listens on this machine (itself unless `remap_ports`)."""
        return self.ports.get(f"{namespace}/{pod}", {}).get(container_port, container_port)

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
    def _prepare(
        self, api: httpx.Client, pod: dict[str, Any], container: Mapping[str, Any], path: str, init: bool
    ) -> tuple[list[str], dict[str, str]] | None:
        """The command and environment of a container, or None once its Pod is reported waiting."""
        image = self._image(container["image"])
        if image is None:
            message = f"pod runner cannot run {container['image']}"
            self._waiting(api, path, container, "ErrImageNeverPull", message, init=init)
            return None
        command = list(container.get("command") or image.entrypoint) + list(
            container.get("args") or ([] if container.get("command") else image.cmd)
        )
        local = image.bin_dir / command[0]
        if local.exists():
            command[0] = str(local)
        ports = self.ports.get(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}", {})
        command = [str(ports.get(int(arg), arg)) if arg.isdigit() else arg for arg in command]
        if self.remap_ports:  # "every interface of the pod" is its IP, 127.0.0.1, here
            command = ["127.0.0.1" if arg == "0.0.0.0" else arg for arg in command]
        try:
            env = self._environment(api, pod, container, image)
        except (KeyError, httpx.HTTPError) as exc:
            self._waiting(api, path, container, "CreateContainerConfigError", str(exc), init=init)
            return None
        for mount in container.get("volumeMounts") or []:
            Path(mount["mountPath"]).mkdir(parents=True, exist_ok=True)
        return command, env

    def _run_init_containers(self, api: httpx.Client, pod: dict[str, Any], path: str) -> bool:
        """Each init container to completion, in order, as a kubelet does; False when the Pod cannot go on."""
        meta, spec = pod["metadata"], pod["spec"]
        namespace, name = meta["namespace"], meta["name"]
        inits = spec.get("initContainers") or []
        done: list[dict[str, Any]] = []
        for index, container in enumerate(inits):
            prepared = self._prepare(api, pod, container, path, init=True)
            if prepared is None:
                return False
            command, env = prepared
            restarts = 0
            while True:
                started = _now()
                running = self._container_status(
                    container, {"running": {"startedAt": started}}, restarts=restarts
                )
                waiting = [
                    self._container_status(c, {"waiting": {"reason": "PodInitializing"}})
                    for c in inits[index + 1 :]
                ]
                status = {"phase": "Pending", "initContainerStatuses": [*done, running, *waiting]}
                api.patch(path, headers=SMP, json={"status": status})
                code = self._wait(namespace, name, command, env, None, container=container["name"])
                terminated = {
                    "exitCode": code,
                    "reason": "Completed" if code == 0 else "Error",
                    "startedAt": started,
                    "finishedAt": _now(),
                }
                if code == 0:
                    done.append(
                        self._container_status(container, {"terminated": terminated}, restarts=restarts)
                    )
                    break
                if spec.get("restartPolicy", "Always") == "Never" or self._stop.is_set():
                    failed = self._container_status(container, {"terminated": terminated}, restarts=restarts)
                    status = {"phase": "Failed", "initContainerStatuses": [*done, failed, *waiting]}
                    api.patch(path, headers=SMP, json={"status": status})
                    return False
                if not self._alive(api, namespace, name):
                    return False
                restarts += 1  # a kubelet restarts a failed init container (with a back-off)
                self._stop.wait(1.0)
        if done:
            api.patch(path, headers=SMP, json={"status": {"initContainerStatuses": done}})
        return True

    def _execute(self, pod: dict[str, Any]) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        namespace, name = meta["namespace"], meta["name"]
        container = spec["containers"][0]
        path = f"/api/v1/namespaces/{namespace}/pods/{name}/status"
        if self.remap_ports or (meta.get("annotations") or {}).get(REMAP_ANNOTATION) == "true":
            self.ports[f"{namespace}/{name}"] = {
                int(p["containerPort"]): free_port() for c in spec["containers"] for p in c.get("ports") or []
            }
        with self.plane.client() as api:
            if not self._run_init_containers(api, pod, path):
                return
            prepared = self._prepare(api, pod, container, path, init=False)
            if prepared is None:
                return
            command, env = prepared
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
        self,
        api: httpx.Client,
        path: str,
        container: Mapping[str, Any],
        reason: str,
        message: str,
        *,
        init: bool = False,
    ) -> None:
        """The Pod stays Pending with its container waiting, as a kubelet reports a pull or config error."""
        state = {"waiting": {"reason": reason, "message": message}}
        key = "initContainerStatuses" if init else "containerStatuses"
        status = {"phase": "Pending", key: [self._container_status(container, state)]}
        api.patch(path, headers=SMP, json={"status": status})

    @staticmethod
    def _alive(api: httpx.Client, namespace: str, name: str) -> bool:
        response = api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
        return response.status_code == 200 and not response.json()["metadata"].get("deletionTimestamp")

    def kill(self, namespace: str, pod: str, sig: int) -> None:
        """Send a signal to a Pod's process (SIGKILL is what an OOM kill or a node loss looks like)."""
        self._processes[f"{namespace}/{pod}"].send_signal(sig)

    def _wait(
        self,
        namespace: str,
        name: str,
        command: list[str],
        env: dict[str, str],
        deadline: Any,
        container: str | None = None,
    ) -> int:
        suffix = f"_{container}" if container else ""
        path = self.workdir / "pods" / f"{namespace}_{name}{suffix}.log"
        if path.exists():  # a restart in place: keep what the last run wrote, as a kubelet does
            path.replace(path.with_name(f"{namespace}_{name}{suffix}.previous.log"))
        log = path.open("wb")
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
        namespace = meta["namespace"]
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                env.update(self._data(api, namespace, "secrets", source["secretRef"]["name"]))
            elif "configMapRef" in source:
                env.update(self._data(api, namespace, "configmaps", source["configMapRef"]["name"]))
        for item in container.get("env") or []:
            reference = item.get("valueFrom") or {}
            if "value" in item:
                env[item["name"]] = str(item["value"])
            elif "fieldRef" in reference:
                env[item["name"]] = fields[reference["fieldRef"]["fieldPath"]]
            elif "secretKeyRef" in reference or "configMapKeyRef" in reference:
                kind = "secrets" if "secretKeyRef" in reference else "configmaps"
                ref = reference.get("secretKeyRef") or reference["configMapKeyRef"]
                data = self._data(api, namespace, kind, ref["name"])
                if ref["key"] in data:
                    env[item["name"]] = data[ref["key"]]
                elif not ref.get("optional"):
                    raise KeyError(
                        f"pod runner: env {item['name']}: no key {ref['key']} in {kind}/{ref['name']}"
                    )
            else:
                raise KeyError(f"pod runner: env {item['name']}: unsupported valueFrom {sorted(reference)}")
        own_ports = self.ports.get(f"{namespace}/{meta['name']}", {})
        env = {k: str(own_ports.get(int(v), v)) if v.isdigit() else v for k, v in env.items()}
        if spec.get("automountServiceAccountToken", True):
            env["KUBECONFIG"] = str(self._token_kubeconfig(api, pod))
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

    @staticmethod
    def _data(api: httpx.Client, namespace: str, kind: str, name: str) -> dict[str, str]:
        """A Secret's (decoded) or a ConfigMap's data, as a kubelet reads it for a container's env."""
        response = api.get(f"/api/v1/namespaces/{namespace}/{kind}/{name}")
        if response.status_code == 404:
            raise KeyError(f"pod runner: {kind}/{name} not found")
        response.raise_for_status()
        data: dict[str, str] = response.json().get("data") or {}
        if kind == "secrets":
            return {k: base64.b64decode(v).decode() for k, v in data.items()}
        return dict(data)

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
