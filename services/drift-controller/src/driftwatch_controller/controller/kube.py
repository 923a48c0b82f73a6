"""Thin Kubernetes client layer over the official client: explicit config, plain dicts in and out.

The client is configured from an explicit kubeconfig path (or the in-cluster service account),
never from whatever the process environment held at import time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from driftwatch_controller.api import contracts

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MERGE_PATCH = "application/merge-patch+json"

__all__ = [
    "ApiException",
    "Kube",
    "KubeconfigError",
    "connection_from_kubeconfig",
    "new_api_client",
    "rejection_message",
]

# The API server refused the object itself (a field its schema or admission rejects): sending the
# same object again cannot succeed, so these are reported, never retried.
REJECTED_STATUSES = (400, 422)
FORBIDDEN_STATUS = 403


class KubeconfigError(RuntimeError):
    """No usable cluster configuration: neither in a pod nor a readable kubeconfig."""


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT_DIR / "token").exists()


def kubeconfig_path(explicit: str = "") -> str:
    path = (
        explicit or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube/config")
    )
    if not Path(path).is_file():
        raise KubeconfigError(f"no kubeconfig at {path!r} and not running in a pod")
    return path


def new_api_client(kubeconfig: str = "") -> k8s.ApiClient:
    """In a pod: the service account; elsewhere: the kubeconfig given, else KUBECONFIG, else ~/.kube."""
    if not kubeconfig and in_cluster():
        configuration = k8s.Configuration()
        k8s_config.load_incluster_config(client_configuration=configuration)
        return k8s.ApiClient(configuration)
    return k8s_config.new_client_from_config(config_file=kubeconfig_path(kubeconfig))


def connection_from_kubeconfig(path: str) -> dict[str, Any]:
    """Server, credentials and TLS settings of the current context, as kopf.ConnectionInfo fields."""
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}

    def pick(kind: str, name: str) -> dict[str, Any]:
        for item in document.get(f"{kind}s") or []:
            if item.get("name") == name:
                return dict(item.get(kind) or {})
        raise KubeconfigError(f"{path}: no {kind} named {name!r}")

    context = pick("context", str(document.get("current-context") or ""))
    cluster = pick("cluster", str(context.get("cluster") or ""))
    user = pick("user", str(context.get("user") or "")) if context.get("user") else {}
    info: dict[str, Any] = {
        "server": cluster["server"],
        "insecure": bool(cluster.get("insecure-skip-tls-verify", False)),
        "ca_path": cluster.get("certificate-authority"),
        "ca_data": cluster.get("certificate-authority-data"),
        "default_namespace": context.get("namespace"),
    }
    if user.get("token"):
        info.update(scheme="Bearer", token=user["token"])
    if user.get("client-certificate") or user.get("client-certificate-data"):
        info.update(
            certificate_path=user.get("client-certificate"),
            certificate_data=user.get("client-certificate-data"),
            private_key_path=user.get("client-key"),
            private_key_data=user.get("client-key-data"),
        )
    return info


def rejection_message(exc: ApiException) -> str | None:
    """The API server's own words when it refused an object as invalid (400/422), else None.

    Its Status body says which field is at fault (`CronJob.batch "x" is invalid: spec.schedule: ...`);
    without a parsable body the HTTP reason stands in.
    """
    return _status_message(exc) if exc.status in REJECTED_STATUSES else None


def forbidden_message(exc: ApiException) -> str | None:
    """The API server's own words when RBAC refused the call (403), else None.

    It names the verb, the resource and the service account (`cronjobs.batch is forbidden: User
    "system:serviceaccount:..." cannot create resource "cronjobs" ...`): what an operator has to grant.
    """
    return _status_message(exc) if exc.status == FORBIDDEN_STATUS else None


def _status_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or b"{}")
    except (TypeError, ValueError):
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return " ".join(str(message or exc.reason or f"HTTP {exc.status}").split())


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


class Kube:
    """The few calls driftwatch makes; each returns the object as a plain dict."""

    def __init__(self, api_client: k8s.ApiClient, *, user_agent: str = "driftwatch") -> None:
        api_client.user_agent = user_agent  # who called, in API server audit logs
        self.api_client = api_client
        self.batch = k8s.BatchV1Api(api_client)
        self.custom = k8s.CustomObjectsApi(api_client)

    @staticmethod
    def _json(response: Any) -> dict[str, Any]:
        return dict(json.loads(response.data or b"{}"))

    def get_driftcheck(self, namespace: str, name: str) -> dict[str, Any]:
        return self._json(
            self.custom.get_namespaced_custom_object(
                contracts.GROUP, contracts.VERSION, namespace, contracts.PLURAL, name, _preload_content=False
            )
        )

    def patch_driftcheck_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
        return self._json(
            self.custom.patch_namespaced_custom_object_status(
                contracts.GROUP, contracts.VERSION, namespace, contracts.PLURAL, name,
                {"status": dict(status)}, _content_type=MERGE_PATCH, _preload_content=False,
            )
        )  # fmt: skip

    def get_cronjob(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._json(self.batch.read_namespaced_cron_job(name, namespace, _preload_content=False))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create_cronjob(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create the CronJob; None when one of that name exists already (409)."""
        namespace = str(body["metadata"]["namespace"])
        try:
            created = self.batch.create_namespaced_cron_job(
                namespace, _drop_nulls(body), _preload_content=False
            )
        except ApiException as exc:
            if exc.status == 409:
                return None
            raise
        return self._json(created)

    def patch_cronjob(self, namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        return self._json(
            self.batch.patch_namespaced_cron_job(
                name, namespace, dict(patch), _content_type=MERGE_PATCH, _preload_content=False
            )
        )

    def create_job(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create a Job; (the Job, False) when one of that name exists already (409)."""
        namespace, name = str(body["metadata"]["namespace"]), str(body["metadata"]["name"])
        try:
            created = self.batch.create_namespaced_job(namespace, _drop_nulls(body), _preload_content=False)
            return self._json(created), True
        except ApiException as exc:
            if exc.status != 409:
                raise
        # Already there: made by an earlier attempt for the same run (the name is per run).
        return {"metadata": {"name": name, "namespace": namespace}}, False
