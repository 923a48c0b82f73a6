"""The DriftCheck loop on a real control plane: apply, CronJob, Job, check pod, status, Events, deletion.

The chart is installed as `make deploy` configures it; its controller Deployment pod runs `driftwatch
controller` under the chart's ServiceAccount, and the CronJob's pods run `driftwatch check` under the
check ServiceAccount: every call goes through the real authenticator and RBAC authorizer.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.cluster_release import Release, check_spec
from support.control_plane import wait_until

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]


# The chart installed in this namespace for the module (the `release` fixture of conftest.py).
NAMESPACE = "dw-loop"


def _ready(release: Release, name: str) -> dict[str, Any]:
    return dict(
        wait_until(
            lambda: (c := release.condition(name)) and c["status"] == "True" and c,
            timeout=60,
            what=f"Ready=True on {name}",
        )
    )


def _new_run(release: Release, name: str, runs: int, timeout: float = 150) -> dict[str, Any]:
    return release.wait_status(
        name, lambda s: int(s.get("runs") or 0) > runs, timeout=timeout, what=f"run {runs + 1} of {name}"
    )


def test_example_manifests_are_accepted_and_reconciled(release: Release) -> None:
    applied = release.plane.kubectl(
        "apply", "--namespace", release.namespace, "-f", str(ROOT / "manifests" / "driftchecks")
    )
    names = sorted(re.findall(r"driftcheck\.driftwatch\.io/(\S+) created", applied.stdout))
    assert len(names) == len(list((ROOT / "manifests" / "driftchecks").glob("*.yaml"))), applied.stdout
    for name in names:
        _ready(release, name)
        cronjob = release.cronjob(name)
        assert cronjob is not None
        owner = cronjob["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("DriftCheck", name, True)
    release.plane.kubectl(
        "delete", "--namespace", release.namespace, "-f", str(ROOT / "manifests" / "driftchecks"), "--wait"
    )


def test_run_now_annotation_runs_a_check_pod_whose_status_lands(
    release: Release, uris: dict[str, str]
) -> None:
    release.apply_driftcheck("runnow", check_spec(uris))
    _ready(release, "runnow")
    release.annotate("runnow", "driftwatch.io/run-now", "1")
    obj = _new_run(release, "runnow", 0)
    status = obj["status"]
    assert status["verdict"] == "NoDrift", status.get("reason")
    assert status["rows"] == {
        "reference": 1200,
        "current": 600,
        "labelled": 0,
        "sampleRate": 1.0,
        "estimatedCurrent": 600,
    }
    assert status["monitoredColumns"] == 4
    assert {c["name"] for c in status["columns"]} == {"tenure", "charges", "calls", "plan"}
    # The Job ran to completion under the real Job controller, from a pod the runner executed.
    jobs = release.jobs("driftwatch.io/driftcheck=runnow")
    assert len(jobs) == 1
    cronjob = release.cronjob("runnow") or {}
    assert jobs[0]["metadata"]["name"].startswith("driftcheck-runnow-now-")
    assert jobs[0]["metadata"]["ownerReferences"][0]["uid"] == cronjob["metadata"]["uid"]
    template = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert jobs[0]["spec"]["template"]["spec"]["containers"][0]["command"] == template["command"]
    assert wait_until(
        lambda: (
            (release.jobs("driftwatch.io/driftcheck=runnow")[0].get("status") or {}).get("succeeded") == 1
        ),
        timeout=30,
        what="the Job to succeed",
    )
    annotations = release.driftcheck("runnow")["metadata"].get("annotations") or {}
    assert "driftwatch.io/run-now" not in annotations  # consumed by the controller


def test_kubectl_create_job_from_the_cronjob(release: Release, uris: dict[str, str]) -> None:
    release.apply_driftcheck(
        "fromcron", check_spec(uris, current={"uri": uris["current"], "minRows": 100000})
    )
    _ready(release, "fromcron")
    release.plane.kubectl(
        "create",
        "job",
        "--from=cronjob/driftcheck-fromcron",
        "fromcron-by-hand",
        "--namespace",
        release.namespace,
    )
    status = _new_run(release, "fromcron", 0)["status"]
    assert status["verdict"] == "InsufficientData"
    assert status["recommendation"] == "None"


def test_the_cronjob_fires_on_its_own_schedule(release: Release, uris: dict[str, str]) -> None:
    release.apply_driftcheck("everyminute", check_spec(uris, schedule="* * * * *"))
    _ready(release, "everyminute")
    # The CronJob controller creates the Job at the next minute; allow one minute plus the run.
    status = _new_run(release, "everyminute", 0, timeout=150)["status"]
    assert status["verdict"] == "NoDrift"
    jobs = release.jobs("driftwatch.io/driftcheck=everyminute")
    assert jobs
    assert all(j["metadata"]["ownerReferences"][0]["kind"] == "CronJob" for j in jobs)
    assert not any(
        (j["metadata"].get("annotations") or {}).get("cronjob.kubernetes.io/instantiate") for j in jobs
    )
    release.plane.kubectl(
        "patch",
        "driftcheck",
        "everyminute",
        "--namespace",
        release.namespace,
        "--type=merge",
        "-p",
        '{"spec": {"suspend": true}}',
    )
    wait_until(
        lambda: (release.cronjob("everyminute") or {}).get("spec", {}).get("suspend") is True,
        timeout=30,
        what="the CronJob to be suspended",
    )


def test_unusable_data_is_an_error_verdict_and_fails_the_job_at_once(
    release: Release, uris: dict[str, str]
) -> None:
    """What the schema cannot catch: a URI nothing can read. Exit 2 fails the Job through podFailurePolicy."""
    spec = check_spec(
        uris,
        reference={"uri": f"file://{release.data_dir}/reference/missing.parquet"},
        job={"backoffLimit": 3},
    )
    release.apply_driftcheck("unusable", spec)
    _ready(release, "unusable")
    release.annotate("unusable", "driftwatch.io/run-now", "1")
    status = _new_run(release, "unusable", 0)["status"]
    assert status["verdict"] == "Error"
    assert "missing.parquet" in status["reason"]

    def failed_job() -> dict[str, Any] | None:
        jobs = release.jobs("driftwatch.io/driftcheck=unusable")
        conds = {c["type"]: c for c in (jobs[0].get("status") or {}).get("conditions") or []} if jobs else {}
        return conds.get("Failed")

    failed = wait_until(failed_job, timeout=60, what="the Job to fail")
    assert failed["reason"] == "PodFailurePolicy"
    assert (release.jobs("driftwatch.io/driftcheck=unusable")[0]["status"].get("failed")) == 1  # no retry
    assert (
        release.condition("unusable")["status"] == "True"
    )  # the controller's Ready is not the run's business
    events = release.plane.kubectl(
        "describe", "driftcheck", "unusable", "--namespace", release.namespace
    ).stdout
    assert "Events:" in events
    assert re.search(r"Error", events.split("Events:", 1)[1]), events


def test_kubectl_get_prints_the_readme_columns(release: Release, uris: dict[str, str]) -> None:
    if not (release.driftcheck("runnow") or {}).get("status", {}).get("runs"):
        release.apply_driftcheck("runnow", check_spec(uris))
        release.annotate("runnow", "driftwatch.io/run-now", "1")
        _new_run(release, "runnow", 0)
    out = release.plane.kubectl("get", "driftchecks", "runnow", "--namespace", release.namespace).stdout
    header, row = out.splitlines()[:2]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sample = re.search(r"\$ kubectl get driftchecks[^\n]*\n(NAME[^\n]*)\n", readme)
    assert sample is not None, "README shows no `kubectl get driftchecks` sample"
    assert (
        header.split()
        == sample.group(1).split()
        == ["NAME", "VERDICT", "DRIFT", "RECOMMENDATION", "ROWS", "LAST", "RUN", "AGE"]
    )
    cells = row.split()
    assert cells[:5] == ["runnow", "NoDrift", cells[2], "None", "600"]
    assert 0 <= float(cells[2]) < 0.2
    wide = release.plane.kubectl(
        "get", "driftchecks", "runnow", "--namespace", release.namespace, "-o", "wide"
    ).stdout
    assert wide.splitlines()[0].split()[-5:] == ["READY", "SCHEDULE", "RETRAIN", "PERFORMANCE", "REASON"]
    assert wide.splitlines()[1].split()[7:13] == ["True", "0", "0", "1", "1", "*"]  # Ready, schedule


@pytest.mark.parametrize("propagation", ["background", "foreground"])
def test_deleting_a_driftcheck_collects_its_cronjob_jobs_and_pods(
    release: Release, uris: dict[str, str], propagation: str
) -> None:
    name = f"gc-{propagation[:4]}"
    release.apply_driftcheck(name, check_spec(uris))
    _ready(release, name)
    release.plane.kubectl(
        "create", "job", f"--from=cronjob/driftcheck-{name}", f"{name}-now", "--namespace", release.namespace
    )
    _new_run(release, name, 0)
    selector = f"driftwatch.io/driftcheck={name}"
    assert release.jobs(selector)
    assert release.plane.items(f"/api/v1/namespaces/{release.namespace}/pods", labelSelector=selector)
    release.plane.kubectl(
        "delete",
        "driftcheck",
        name,
        "--namespace",
        release.namespace,
        f"--cascade={propagation}",
        "--timeout=90s",
    )

    def collected() -> bool:
        pods = release.plane.items(f"/api/v1/namespaces/{release.namespace}/pods", labelSelector=selector)
        return release.cronjob(name) is None and not release.jobs(selector) and not pods

    wait_until(collected, timeout=90, what=f"the garbage collector to delete what {name} owned")


def test_a_status_field_the_crd_does_not_declare_is_pruned(release: Release, uris: dict[str, str]) -> None:
    release.apply_driftcheck("pruning", check_spec(uris))
    patch = '{"status": {"verdict": "NoDrift", "undeclaredField": 1, "rows": {"current": 5, "bogus": 2}}}'
    release.plane.kubectl(
        "patch",
        "driftcheck",
        "pruning",
        "--namespace",
        release.namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        patch,
    )
    status = release.driftcheck("pruning")["status"]
    assert status["verdict"] == "NoDrift"
    assert "undeclaredField" not in status
    assert status["rows"] == {"current": 5}


def test_the_api_server_keeps_every_field_of_a_performance_block(
    release: Release, uris: dict[str, str]
) -> None:
    # What the check writes for issue 11 (docs/architecture.md): pruning any of it would go unnoticed.
    metric = {"name": "roc_auc", "value": 0.74, "lower": 0.69, "upper": 0.79}
    performance = {
        "summary": "roc_auc 0.74 realized (reference 0.81, drop 0.07, significant)",
        "task": "binary",
        "metric": "roc_auc",
        "labelledRows": 300,
        "labelCoverage": 0.25,
        "reference": {
            "rows": 10000,
            "metrics": [{**metric, "value": 0.81, "lower": 0.8, "upper": 0.82}],
            "confusion": {"labels": [0, 1], "matrix": [[7000, 900], [1100, 1000]]},
        },
        "realized": {
            "rows": 300,
            "metrics": [metric],
            "confusion": {"labels": ["no", "yes"], "matrix": [[200, 30], [40, 30]]},
        },
        "estimated": {"method": "CBPE", "assumption": "no concept drift", "rows": 1200, "metrics": [metric]},
        "drop": {"metric": "roc_auc", "kind": "realized", "value": 0.07, "significant": True},
        "reason": "estimated by CBPE on 1200 rows",
    }
    history = [{"time": "2026-11-27T10:15:03Z", "verdict": "Drift", "performanceDegraded": True}]
    release.apply_driftcheck("perf", check_spec(uris))
    patch = json.dumps({"status": {"performance": performance, "history": history}})
    release.plane.kubectl(
        "patch",
        "driftcheck",
        "perf",
        "--namespace",
        release.namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        patch,
    )
    status = release.driftcheck("perf")["status"]
    assert status["performance"] == performance
    assert status["history"] == history
    wide = release.plane.kubectl("get", "driftcheck", "perf", "--namespace", release.namespace, "-o", "wide")
    assert performance["summary"] in wide.stdout


def test_a_spec_field_the_crd_does_not_declare_is_rejected_or_pruned(
    release: Release, uris: dict[str, str]
) -> None:
    manifest = {
        "apiVersion": "driftwatch.io/v1alpha1",
        "kind": "DriftCheck",
        "metadata": {"name": "typo"},
        "spec": {**check_spec(uris), "shedule": "* * * * *"},
    }
    strict = release.plane.kubectl(
        "apply", "--namespace", release.namespace, "-f", "-", stdin=json.dumps(manifest), check=False
    )
    assert strict.returncode != 0
    assert 'unknown field "spec.shedule"' in strict.stderr
    loose = release.plane.kubectl(
        "apply", "--validate=false", "--namespace", release.namespace, "-f", "-", stdin=json.dumps(manifest)
    )
    assert "created" in loose.stdout
    assert "shedule" not in release.driftcheck("typo")["spec"]


def test_status_writes_need_the_status_subresource(release: Release, uris: dict[str, str]) -> None:
    """A plain update of the object ignores status (the subresource is on), so only /status writes it."""
    release.apply_driftcheck("subresource", check_spec(uris))
    release.plane.kubectl(
        "patch",
        "driftcheck",
        "subresource",
        "--namespace",
        release.namespace,
        "--type=merge",
        "-p",
        '{"status": {"verdict": "Drift"}}',
    )
    assert (release.driftcheck("subresource").get("status") or {}).get("verdict") != "Drift"


# (what breaks, the field the server names). Each is one mistake in an otherwise valid spec.
MALFORMED = {
    "cron-words": ({"schedule": "every minute"}, "spec.schedule"),
    "cron-four-fields": ({"schedule": "* * * *"}, "spec.schedule"),
    "negative-share": ({"policy": {"investigateShare": -0.1}}, "spec.policy.investigateShare"),
    "share-above-one": ({"policy": {"retrainShare": 1.5}}, "spec.policy.retrainShare"),
    "zero-consecutive-runs": ({"policy": {"consecutiveRuns": 0}}, "spec.policy.consecutiveRuns"),
    "cooldown-words": ({"policy": {"cooldown": "one day"}}, "spec.policy.cooldown"),
    "unknown-method": ({"drift": {"method": "magic"}}, "spec.drift.method"),
    "unknown-thresholds": ({"drift": {"thresholds": "auto"}}, "spec.drift.thresholds"),
    "negative-threshold": ({"drift": {"threshold": -1}}, "spec.drift.threshold"),
    "unknown-retrain-mode": ({"retrain": {"mode": "Sometimes"}}, "spec.retrain.mode"),
    "min-rows-string": ({"current": {"minRows": "many"}}, "spec.current.minRows"),
    "min-rows-zero": ({"current": {"minRows": 0}}, "spec.current.minRows"),
    "window-words": ({"current": {"window": "1 hour"}}, "spec.current.window"),
    "uri-no-scheme": ({"reference": {"uri": "/data/reference.parquet"}}, "spec.reference.uri"),
    "columns-not-a-list": ({"columns": {"numerical": "tenure"}}, "spec.columns.numerical"),
    "backoff-too-high": ({"job": {"backoffLimit": 11}}, "spec.job.backoffLimit"),
    "suspend-string": ({"suspend": "yes"}, "spec.suspend"),
    "model-uppercase": ({"model": "Churn Model"}, "spec.model"),
    "time-zone-space": ({"timeZone": "Europe Paris"}, "spec.timeZone"),
}
REQUIRED = {"schedule": "spec.schedule", "reference": "spec.reference", "current": "spec.current"}


def _rejection(release: Release, name: str, spec: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    manifest = {
        "apiVersion": "driftwatch.io/v1alpha1",
        "kind": "DriftCheck",
        "metadata": {"name": name},
        "spec": spec,
    }
    return release.plane.kubectl(
        "apply", "--namespace", release.namespace, "-f", "-", stdin=json.dumps(manifest), check=False
    )


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_the_server_rejects_a_malformed_driftcheck_naming_the_field(
    release: Release, uris: dict[str, str], case: str
) -> None:
    change, field = MALFORMED[case]
    result = _rejection(release, f"bad-{case}", check_spec(uris, **change))
    assert result.returncode != 0
    assert "is invalid" in result.stderr, result.stderr
    assert field in result.stderr, result.stderr
    assert release.driftcheck(f"bad-{case}") is None


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_the_server_rejects_a_driftcheck_missing_a_required_field(
    release: Release, uris: dict[str, str], missing: str
) -> None:
    spec = check_spec(uris)
    del spec[missing]
    result = _rejection(release, f"missing-{missing}", spec)
    assert result.returncode != 0
    assert f"{REQUIRED[missing]}: Required value" in result.stderr, result.stderr


def test_what_the_schema_cannot_catch_is_reported_in_status(release: Release, uris: dict[str, str]) -> None:
    """retrainShare below investigateShare is valid field by field: the controller says Ready=False."""
    release.apply_driftcheck(
        "inverted", check_spec(uris, policy={"investigateShare": 0.6, "retrainShare": 0.3})
    )
    ready = wait_until(
        lambda: (c := release.condition("inverted")) and c["status"] == "False" and c,
        timeout=60,
        what="Ready=False on inverted",
    )
    assert "retrainShare" in ready["message"], ready
    assert release.cronjob("inverted") is None
    # Fixed, it goes Ready and gets its CronJob: no crash loop on the way.
    release.apply_driftcheck(
        "inverted", check_spec(uris, policy={"investigateShare": 0.2, "retrainShare": 0.3})
    )
    _ready(release, "inverted")
    assert release.cronjob("inverted") is not None
    restarts = [
        s.get("restartCount", 0) for p in release.controller_pods() for s in p["status"]["containerStatuses"]
    ]
    assert restarts == [0]
