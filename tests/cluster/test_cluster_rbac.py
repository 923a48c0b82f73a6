"""The chart's RBAC as the real authorizer enforces it: each rule is needed, nothing more is granted."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from support.cluster_release import Release, check_spec
from support.control_plane import wait_until

pytestmark = pytest.mark.cluster


# The chart installed in this namespace for the module (the `release` fixture of conftest.py).
NAMESPACE = "dw-rbac"


def _role(release: Release, name: str) -> dict[str, Any]:
    role = release.plane.get(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{release.namespace}/roles/{name}"
    )
    assert role is not None, f"no Role {name}"
    return role


def _without(role: dict[str, Any], resource: str, verb: str) -> dict[str, Any]:
    changed = copy.deepcopy(role)
    for rule in changed["rules"]:
        if resource in rule["resources"] and verb in rule["verbs"]:
            rule["verbs"].remove(verb)
            break
    else:
        raise AssertionError(f"the chart grants no {verb} on {resource}")
    changed["rules"] = [rule for rule in changed["rules"] if rule["verbs"]]  # the server refuses empty verbs
    changed["metadata"] = {"name": role["metadata"]["name"], "namespace": role["metadata"]["namespace"]}
    return changed


class _RoleEdit:
    """Replace a Role for the duration of a `with` block, then put the chart's version back."""

    def __init__(self, release: Release, name: str, resource: str, verb: str) -> None:
        self.release, self.original = release, _role(release, name)
        self.changed = _without(self.original, resource, verb)

    def __enter__(self) -> None:
        self.release.plane.kubectl("replace", "-f", "-", stdin=json.dumps(self.changed))

    def __exit__(self, *exc: object) -> None:
        restored = {
            **self.original,
            "metadata": {
                "name": self.original["metadata"]["name"],
                "namespace": self.original["metadata"]["namespace"],
            },
        }
        self.release.plane.kubectl("replace", "-f", "-", stdin=json.dumps(restored))


def _can_i(release: Release, account: str, verb: str, resource: str) -> bool:
    resource, _, subresource = resource.partition("/")
    kubeconfig = release.plane.service_account_kubeconfig(
        release.namespace, account, release.workdir / f"{account}.kubeconfig"
    )
    extra = [f"--subresource={subresource}"] if subresource else []
    result = release.plane.kubectl(
        "auth",
        "can-i",
        verb,
        resource,
        *extra,
        "--namespace",
        release.namespace,
        kubeconfig=kubeconfig,
        check=False,
    )
    return result.stdout.strip() == "yes"


# What each account needs, and what it must not be able to do (least privilege).
GRANTS = {
    "driftwatch-check": {
        "may": [("get", "driftchecks.driftwatch.io"), ("patch", "driftchecks.driftwatch.io/status")],
        "may not": [("patch", "driftchecks.driftwatch.io"), ("list", "driftchecks.driftwatch.io"),
                    ("create", "jobs.batch"), ("get", "secrets"), ("list", "pods"), ("create", "events")],
    },
    "driftwatch-controller": {
        "may": [("create", "cronjobs.batch"), ("patch", "driftchecks.driftwatch.io/status")],
        "may not": [("get", "secrets"), ("create", "pods"), ("delete", "cronjobs.batch"),
                    ("delete", "driftchecks.driftwatch.io")],
    },
}  # fmt: skip


@pytest.mark.parametrize("account", sorted(GRANTS))
def test_each_account_has_what_it_needs_and_nothing_more(release: Release, account: str) -> None:
    for verb, resource in GRANTS[account]["may"]:
        assert _can_i(release, account, verb, resource), f"{account} may not {verb} {resource}"
    for verb, resource in GRANTS[account]["may not"]:
        assert not _can_i(release, account, verb, resource), f"{account} may {verb} {resource}"


def test_without_create_on_cronjobs_ready_says_forbidden_and_a_grant_is_picked_up_in_seconds(
    release: Release, uris: dict[str, str]
) -> None:
    with _RoleEdit(release, "driftwatch-controller", "cronjobs", "create"):
        release.apply_driftcheck("denied", check_spec(uris))

        def refused() -> dict[str, Any] | None:
            ready = release.condition("denied") or {}
            return ready if ready.get("reason") == "Forbidden" else None

        ready = wait_until(refused, timeout=60, what="Ready=False, Forbidden")
        assert ready["status"] == "False"
        assert 'cannot create resource "cronjobs"' in ready["message"], ready
        assert release.cronjob("denied") is None
    # Granted again, the controller's retry (every few seconds, not kopf's 60-s back-off) creates it: the
    # refusal was the only obstacle.
    granted = time.monotonic()
    wait_until(lambda: release.cronjob("denied"), timeout=60, what="the CronJob once the verb is back")
    assert time.monotonic() - granted < 45
    wait_until(
        lambda: (release.condition("denied") or {}).get("reason") == "Reconciled",
        timeout=30,
        what="Ready=True once the CronJob is in place",
    )


@pytest.mark.parametrize(("resource", "verb"), [("driftchecks", "get"), ("driftchecks/status", "patch")])
def test_without_its_verbs_the_check_pod_fails_and_is_retried_as_backoff_limit_says(
    release: Release, uris: dict[str, str], resource: str, verb: str
) -> None:
    name = f"nocheck-{verb}"
    release.apply_driftcheck(name, check_spec(uris, job={"backoffLimit": 1}))
    wait_until(lambda: release.cronjob(name), timeout=60, what=f"the CronJob of {name}")
    with _RoleEdit(release, "driftwatch-check", resource, verb):
        release.plane.kubectl(
            "create",
            "job",
            f"--from=cronjob/driftcheck-{name}",
            f"{name}-now",
            "--namespace",
            release.namespace,
        )

        def failed() -> dict[str, Any] | None:
            job = release.plane.get(f"/apis/batch/v1/namespaces/{release.namespace}/jobs/{name}-now") or {}
            conds = {c["type"]: c for c in (job.get("status") or {}).get("conditions") or []}
            return job if "Failed" in conds else None

        job = wait_until(failed, timeout=120, what=f"Job {name}-now to fail")
    conds = {c["type"]: c for c in job["status"]["conditions"]}
    assert conds["Failed"]["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 2  # the first try and one retry (backoffLimit 1)
    assert not (release.driftcheck(name) or {}).get("status", {}).get("runs")
    pods = release.plane.items(
        f"/api/v1/namespaces/{release.namespace}/pods", labelSelector=f"job-name={name}-now"
    )
    logs = "".join(release.runner.logs(release.namespace, p["metadata"]["name"]) for p in pods)
    assert "forbidden" in logs.lower(), logs
