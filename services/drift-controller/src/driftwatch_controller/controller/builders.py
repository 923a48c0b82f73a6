"""Pure builders: the owned CronJob of a DriftCheck, its run-now Job, the retrain Job.

Inputs are the typed spec (`api.spec.DriftCheckSpec`, defaults applied there, so an API server
that does not default fields changes nothing) and the metadata as read from the API; nothing here
talks to a cluster, so every rule is unit-tested as a function.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from driftwatch_controller.api import contracts
from driftwatch_controller.api.spec import DriftCheckSpec, SpecError, job_template_problems
from driftwatch_controller.controller.settings import ControllerSettings

# CronJob names are at most 52 characters: the controller appends 11 to name the Jobs it makes.
CRONJOB_NAME_MAX = 52
JOB_NAME_MAX = 63
LABEL_VALUE_MAX = 63

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
        # A label value is at most 63 characters, a DriftCheck name up to 253: fitted, as names are.
        contracts.DRIFTCHECK_LABEL: _fit(str(meta["name"]), LABEL_VALUE_MAX),
    }


def data_claim(setting: str, namespace: str) -> str:
    """The claim the check pods of a DriftCheck in `namespace` mount, or "" for none.

    `<namespace>/<claim>` names a claim of that namespace only: a pod elsewhere that referred to it
    would stay Pending forever (claims are namespaced). A bare name is mounted in every namespace.
    """
    claim_namespace, slash, claim = setting.rpartition("/")
    return claim if not slash or claim_namespace == namespace else ""


def build_cronjob(
    spec: DriftCheckSpec, meta: Mapping[str, Any], settings: ControllerSettings
) -> dict[str, Any]:
    """The CronJob `driftcheck-<name>` whose pods run `driftwatch check --driftcheck <ns>/<name>`."""
    name, namespace = str(meta["name"]), str(meta["namespace"])
    labels = labels_for(meta, "check")
    job = spec.job
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
    if settings.check_storage_options:
        env.append({"name": "DRIFTWATCH_STORAGE_OPTIONS", "value": settings.check_storage_options})
    # The capture store's credentials: a Secret of the DriftCheck's namespace only, as the claim.
    secret = data_claim(settings.check_env_secret, namespace)
    job_spec: dict[str, Any] = {
        "backoffLimit": job.backoff_limit,
        # Exit 2 means the spec or the data is unusable, and the Error verdict is written: a retry
        # would only write a second identical Error run. Retries stay for crashes and API outages.
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": "check",
                        "operator": "In",
                        "values": [contracts.EXIT_UNUSABLE],
                    },
                }
            ]
        },
        "activeDeadlineSeconds": job.active_deadline_seconds,
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
                        **({"envFrom": [{"secretRef": {"name": secret}}]} if secret else {}),
                        "resources": copy.deepcopy(settings.check_resources or DEFAULT_CHECK_RESOURCES),
                        "securityContext": copy.deepcopy(CONTAINER_SECURITY_CONTEXT),
                        "volumeMounts": mounts,
                    }
                ],
                "volumes": volumes,
            },
        },
    }
    if job.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = job.ttl_seconds_after_finished
    cron_spec: dict[str, Any] = {
        "schedule": spec.schedule,
        "suspend": spec.suspend,
        # Two checks of the same DriftCheck at once would race on its status.
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": job.starting_deadline_seconds,
        "successfulJobsHistoryLimit": job.successful_jobs_history_limit,
        "failedJobsHistoryLimit": job.failed_jobs_history_limit,
        # Explicit null: a merge patch then removes a time zone the spec no longer sets.
        "timeZone": spec.time_zone or None,
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


def build_retrain_job(spec: DriftCheckSpec, meta: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """A Job from `spec.retrain.jobTemplate`, named after the run; SpecError when there is none to use.

    A parsed spec in Manual or Automatic mode has a usable template; Off has none to build from.
    """
    template = spec.retrain.job_template
    problems = job_template_problems(template)
    if problems:
        raise SpecError(problems)
    assert template is not None
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


def spec_problems(spec: Any) -> list[str]:
    """What keeps a spec from running, each problem naming its field (none: an empty list).

    A thin adapter over `api.spec`: the controller, the check pod and the CLI share one set of
    rules, so a spec the controller calls Ready is one every run can parse.
    """
    try:
        DriftCheckSpec.parse(spec, cluster=True)
    except SpecError as exc:
        return exc.problems
    return []
