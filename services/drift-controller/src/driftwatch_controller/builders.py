"""Pure builders: the owned CronJob of a DriftCheck, its run-now Job, the retrain Job, spec checks.

Inputs are plain dicts as read from the API (camelCase); nothing here talks to a cluster, so every
rule is unit-tested as a function. The API server does not default fields for the emulator used in
tests, so the defaults the CRD declares are applied here too.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from driftwatch_controller import contracts
from driftwatch_controller.durations import cached_schedule_interval_seconds, parse_duration
from driftwatch_controller.settings import ControllerSettings

# `driftwatch check` exits with it when the spec or data is unusable (checkpod.EXIT_UNUSABLE).
EXIT_UNUSABLE = 2
# CronJob names are at most 52 characters: the controller appends 11 to name the Jobs it makes.
CRONJOB_NAME_MAX = 52
JOB_NAME_MAX = 63

JOB_DEFAULTS: dict[str, int] = {
    "startingDeadlineSeconds": 300,
    "activeDeadlineSeconds": 1800,
    "backoffLimit": 1,
    "successfulJobsHistoryLimit": 3,
    "failedJobsHistoryLimit": 3,
}
DEFAULT_CHECK_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "100m", "memory": "512Mi"},
    "limits": {"memory": "2Gi"},
}
POD_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


class InvalidSpecError(ValueError):
    """A spec the CRD schema accepts but the controller cannot act on; the message names the field."""


def _short_hash(text: str, size: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def _fit(name: str, limit: int) -> str:
    """Truncate a DNS name to `limit`, keeping it unique with a hash of the full name."""
    if len(name) <= limit:
        return name
    return f"{name[: limit - 7].rstrip('-')}-{_short_hash(name)}"


def cronjob_name(driftcheck: str) -> str:
    return _fit(f"driftcheck-{driftcheck}", CRONJOB_NAME_MAX)


def retrain_job_name(driftcheck: str, run_id: str) -> str:
    """One name per run: creating it twice fails with 409, so a run never retrains twice."""
    run = re.sub(r"[^a-z0-9-]", "", run_id.lower())[:20] or _short_hash(run_id)
    return _fit(f"{driftcheck}-retrain-{run}", JOB_NAME_MAX)


def labels_for(meta: Mapping[str, Any], component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "driftwatch",
        contracts.COMPONENT_LABEL: component,
        contracts.MANAGED_BY_LABEL: contracts.MANAGER,
        contracts.DRIFTCHECK_LABEL: str(meta["name"]),
    }


def job_settings(spec: Mapping[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = dict(JOB_DEFAULTS)
    settings.update({k: v for k, v in (spec.get("job") or {}).items() if v is not None})
    return settings


def data_claim(setting: str, namespace: str) -> str:
    """The claim the check pods of a DriftCheck in `namespace` mount, or "" for none.

    `<namespace>/<claim>` names a claim of that namespace only: a pod elsewhere that referred to it
    would stay Pending forever (claims are namespaced). A bare name is mounted in every namespace.
    """
    claim_namespace, slash, claim = setting.rpartition("/")
    return claim if not slash or claim_namespace == namespace else ""


def build_cronjob(
    spec: Mapping[str, Any], meta: Mapping[str, Any], settings: ControllerSettings
) -> dict[str, Any]:
    """The CronJob `driftcheck-<name>` whose pods run `driftwatch check --driftcheck <ns>/<name>`."""
    name, namespace = str(meta["name"]), str(meta["namespace"])
    labels = labels_for(meta, "check")
    job = job_settings(spec)
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    if claim := data_claim(settings.data_pvc, namespace):
        mounts.append({"name": "data", "mountPath": settings.data_mount_path})
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": claim}})
        reports = f"{settings.data_mount_path.rstrip('/')}/reports/{namespace}/{name}"
        env.append({"name": "DRIFTWATCH_REPORT_DIR", "value": reports})
    job_spec: dict[str, Any] = {
        "backoffLimit": job["backoffLimit"],
        # Exit 2 means the spec or the data is unusable, and the Error verdict is written: a retry
        # would only write a second identical Error run. Retries stay for crashes and API outages.
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {"containerName": "check", "operator": "In", "values": [EXIT_UNUSABLE]},
                }
            ]
        },
        "activeDeadlineSeconds": job["activeDeadlineSeconds"],
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "serviceAccountName": settings.check_service_account,
                "restartPolicy": "Never",
                "securityContext": copy.deepcopy(POD_SECURITY_CONTEXT),
                "containers": [
                    {
                        "name": "check",
                        "image": settings.check_image,
                        "imagePullPolicy": settings.check_image_pull_policy,
                        "command": ["driftwatch", "check", "--driftcheck", f"{namespace}/{name}"],
                        "env": env,
                        "resources": copy.deepcopy(settings.check_resources or DEFAULT_CHECK_RESOURCES),
                        "securityContext": copy.deepcopy(CONTAINER_SECURITY_CONTEXT),
                        "volumeMounts": mounts,
                    }
                ],
                "volumes": volumes,
            },
        },
    }
    if job.get("ttlSecondsAfterFinished") is not None:
        job_spec["ttlSecondsAfterFinished"] = job["ttlSecondsAfterFinished"]
    cron_spec: dict[str, Any] = {
        "schedule": spec["schedule"],
        "suspend": bool(spec.get("suspend", False)),
        # Two checks of the same DriftCheck at once would race on its status.
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": job["startingDeadlineSeconds"],
        "successfulJobsHistoryLimit": job["successfulJobsHistoryLimit"],
        "failedJobsHistoryLimit": job["failedJobsHistoryLimit"],
        # Explicit null: a merge patch then removes a time zone the spec no longer sets.
        "timeZone": spec.get("timeZone") or None,
        "jobTemplate": {"metadata": {"labels": dict(labels)}, "spec": job_spec},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": cronjob_name(name), "namespace": namespace, "labels": labels},
        "spec": cron_spec,
    }


def cronjob_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch that makes `current` hold what `desired` says, or None when it already does.

    Only the fields the builder owns are compared; lists (containers, volumes) are replaced whole,
    which is what a JSON merge patch does with them.
    """
    want_labels = desired["metadata"].get("labels", {})
    have_labels = (current.get("metadata") or {}).get("labels") or {}
    labels_ok = all(have_labels.get(k) == v for k, v in want_labels.items())
    want_owners = desired["metadata"].get("ownerReferences") or []
    have_uids = {ref.get("uid") for ref in (current.get("metadata") or {}).get("ownerReferences") or []}
    owners_ok = all(ref.get("uid") in have_uids for ref in want_owners)
    spec_ok = _contains((current.get("spec") or {}), desired["spec"])
    if labels_ok and owners_ok and spec_ok:
        return None
    metadata: dict[str, Any] = {"labels": dict(want_labels)}
    if not owners_ok:
        metadata["ownerReferences"] = copy.deepcopy(want_owners)
    return {"metadata": metadata, "spec": copy.deepcopy(desired["spec"])}


def _contains(have: Any, want: Any) -> bool:
    if isinstance(want, Mapping):
        if not isinstance(have, Mapping):
            return False
        return all(
            (have.get(k) is None) if v is None else (k in have and _contains(have[k], v))
            for k, v in want.items()
        )
    if isinstance(want, list):
        return isinstance(have, list) and len(have) == len(want) and all(map(_contains, have, want))
    return bool(have == want)


def build_job_from_cronjob(cronjob: Mapping[str, Any], *, now: dt.datetime) -> dict[str, Any]:
    """What `kubectl create job --from=cronjob/<name>` makes, owned by the CronJob."""
    meta = cronjob["metadata"]
    template = cronjob["spec"]["jobTemplate"]
    name = _fit(f"{meta['name']}-now-{now.astimezone(dt.UTC).strftime('%y%m%d%H%M%S')}", JOB_NAME_MAX)
    owner = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace"),
            "labels": dict((template.get("metadata") or {}).get("labels") or {}),
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [owner],
        },
        "spec": copy.deepcopy(template["spec"]),
    }


def build_retrain_job(spec: Mapping[str, Any], meta: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """A Job from `spec.retrain.jobTemplate`, named after the run; raise InvalidSpecError if unusable."""
    template = (spec.get("retrain") or {}).get("jobTemplate")
    _check_job_template(template)
    assert isinstance(template, Mapping)
    tmeta = template.get("metadata") or {}
    job_spec = copy.deepcopy(dict(template["spec"]))
    job_spec["template"].setdefault("spec", {}).setdefault("restartPolicy", "Never")
    labels = {**dict(tmeta.get("labels") or {}), **labels_for(meta, "retrain")}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": retrain_job_name(str(meta["name"]), run_id),
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": {**dict(tmeta.get("annotations") or {}), contracts.RUN_ID_ANNOTATION: run_id},
        },
        "spec": job_spec,
    }


def _check_job_template(template: Any) -> None:
    where = "spec.retrain.jobTemplate"
    if not isinstance(template, Mapping) or not template:
        raise InvalidSpecError(f"{where} is required when spec.retrain.mode is Manual or Automatic")
    job_spec = template.get("spec")
    if not isinstance(job_spec, Mapping):
        raise InvalidSpecError(f"{where}.spec must be a Job spec (an object)")
    pod = (
        (job_spec.get("template") or {}).get("spec")
        if isinstance(job_spec.get("template"), Mapping)
        else None
    )
    if not isinstance(pod, Mapping):
        raise InvalidSpecError(f"{where}.spec.template.spec must be a pod spec (an object)")
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers:
        raise InvalidSpecError(f"{where}.spec.template.spec.containers must list at least one container")
    for index, container in enumerate(containers):
        if not isinstance(container, Mapping) or not container.get("name") or not container.get("image"):
            raise InvalidSpecError(
                f"{where}.spec.template.spec.containers[{index}] needs a name and an image"
            )
    policy = pod.get("restartPolicy")
    if policy not in (None, "Never", "OnFailure"):
        raise InvalidSpecError(
            f"{where}.spec.template.spec.restartPolicy must be Never or OnFailure, not {policy!r}"
        )


def spec_problems(spec: Mapping[str, Any]) -> list[str]:
    """What the schema cannot catch (or what an API server without the schema let through)."""
    problems: list[str] = []
    for path in ("schedule", "reference.uri", "current.uri"):
        node: Any = spec
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if not node:
            problems.append(f"spec.{path} is required")
    if spec.get("schedule"):
        try:
            cached_schedule_interval_seconds(str(spec["schedule"]))  # not recomputed per reconcile
        except ValueError as exc:
            problems.append(f"spec.schedule: {exc}")
    if spec.get("timeZone"):
        try:
            zoneinfo.ZoneInfo(str(spec["timeZone"]))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.append(f"spec.timeZone: unknown time zone {spec['timeZone']!r}")
    for path, value in (
        ("current.window", (spec.get("current") or {}).get("window")),
        ("policy.cooldown", (spec.get("policy") or {}).get("cooldown")),
    ):
        if value is not None:
            try:
                if parse_duration(str(value)).total_seconds() <= 0:
                    problems.append(f"spec.{path} must be longer than 0s")
            except ValueError as exc:
                problems.append(f"spec.{path}: {exc}")
    policy = spec.get("policy") or {}
    investigate, retrain = policy.get("investigateShare", 0.2), policy.get("retrainShare", 0.5)
    if isinstance(investigate, int | float) and isinstance(retrain, int | float) and retrain < investigate:
        problems.append(f"spec.policy.retrainShare ({retrain}) is below investigateShare ({investigate})")
    columns = spec.get("columns") or {}
    numerical, categorical = set(columns.get("numerical") or []), set(columns.get("categorical") or [])
    if numerical & categorical:
        problems.append(f"spec.columns: {sorted(numerical & categorical)} are both numerical and categorical")
    listed = numerical | categorical | {columns.get("prediction"), columns.get("target")}
    per_column = (spec.get("drift") or {}).get("perColumn") or {}
    unknown = sorted(set(per_column) - listed) if (numerical or categorical) else []
    if unknown:
        problems.append(f"spec.drift.perColumn names columns that are not monitored: {unknown}")
    mode = (spec.get("retrain") or {}).get("mode", "Off")
    if mode in ("Manual", "Automatic"):
        try:
            _check_job_template((spec.get("retrain") or {}).get("jobTemplate"))
        except InvalidSpecError as exc:
            problems.append(str(exc))
    return problems
