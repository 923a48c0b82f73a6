"""Settings of `driftwatch controller`, read from DRIFTWATCH_* environment variables (built by a factory)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ControllerSettings(BaseSettings):
    """What the controller needs to know about its cluster; the chart sets each as an env variable."""

    model_config = SettingsConfigDict(env_prefix="DRIFTWATCH_", extra="ignore")

    # A comma list rather than list[str]: pydantic-settings would expect JSON for a list.
    watch_namespaces: str = Field("", description="Comma list of watched namespaces; empty = all")
    check_image: str = "driftwatch/drift-controller:dev"
    check_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    check_service_account: str = "driftwatch-check"
    data_pvc: str = Field("", description="Claim mounted in the check pods; empty = none")
    data_mount_path: str = "/data"
    # The capture store's credentials and endpoint for check pods (the chart's capture.secret and
    # capture.storageOptions): a Secret of AWS_* variables, `<namespace>/<name>` like data_pvc, and
    # fsspec storage options as JSON, passed on as DRIFTWATCH_STORAGE_OPTIONS.
    check_env_secret: str = Field("", description="Secret given to the check pods as env; empty = none")
    check_storage_options: str = ""
    metrics_port: int = Field(8080, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"
    health_port: int = Field(8081, ge=0, le=65535)
    check_resources: dict[str, Any] | None = None
    log_format: Literal["json", "text"] = "json"
    # Out of a cluster only: an explicit kubeconfig file (else KUBECONFIG, else ~/.kube/config).
    kubeconfig: str = ""
    # Empty: kopf runs standalone (one replica). A name: the KopfPeering / ClusterKopfPeering object the
    # replicas share; one is active, the others pause (see docs/operator.md, "Several replicas").
    peering: str = ""
    # Seconds a replica's entry in the peering object stays valid without a keep-alive (kopf sends one
    # 5-10 s before it runs out): a standby takes over at most this long after the active one died.
    peering_lifetime: int = Field(20, ge=15, le=600)
    # How many handlers may call the API at once; kopf's default pool is sized for larger clusters.
    max_workers: int = Field(8, ge=1, le=64)

    @field_validator("watch_namespaces")
    @classmethod
    def _strip(cls, value: str) -> str:
        return ",".join(part.strip() for part in value.split(",") if part.strip())

    @field_validator("check_storage_options")
    @classmethod
    def _json_object(cls, value: str) -> str:
        if not value.strip():
            return ""
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc.msg} at character {exc.pos}") from exc
        if not isinstance(parsed, dict):
            raise ValueError("must be a JSON object of fsspec storage options")
        return value

    @field_validator("check_resources", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value in ("", "null") else value

    @property
    def namespaces(self) -> list[str]:
        return [part for part in self.watch_namespaces.split(",") if part]


def load_settings(**overrides: Any) -> ControllerSettings:
    """Build settings from the environment, with explicit overrides (tests, CLI flags)."""
    return ControllerSettings(**overrides)
