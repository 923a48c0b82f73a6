"""The operator against the Kubernetes emulator: real kopf controller, real kubectl, real check process.

One emulator and one `driftwatch controller` serve the whole module (tests/operator/conftest.py;
tests use distinct DriftChecks); the last tests exercise every call on a DriftCheck of their own,
then read the emulator's request log to validate every status written against the CRD and the RBAC
the chart grants against the calls actually made. Retraining: test_operator_retrain.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.controller import Cluster, metric_value
from support.crd_schema import object_errors, status_errors
from support.operator_loop import (
    FEATURES_NUMERICAL,
    NS,
    RETRAIN_TEMPLATE,
    condition,
    driftcheck,
    events_for,
    status_of,
)

pytestmark = pytest.mark.integration


def test_whole_loop_apply_cronjob_check_status_kubectl_metrics(
    cluster: Cluster, captured: tuple[Path, Path]
) -> None:
    reference, capture = captured
    cluster.apply(driftcheck("churn", reference.as_uri(), capture.as_uri()))

    cronjob = cluster.wait_for(lambda: cluster.get("cronjobs", NS, "driftcheck-churn"), what="the CronJob")
    owner = cronjob["metadata"]["ownerReferences"][0]
    dc = cluster.get("driftchecks", NS, "churn")
    assert dc is not None
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "DriftCheck", "churn", dc["metadata"]["uid"], True,
    )  # fmt: skip
    assert cronjob["spec"]["schedule"] == "*/15 * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    cluster.wait_for(
        lambda: (condition(cluster, "churn", "Ready") or {}).get("status") == "True", what="Ready"
    )
    before_run = {c["type"]: (c["status"], c["reason"]) for c in status_of(cluster, "churn")["conditions"]}
    assert before_run == {
        "Ready": ("True", "Reconciled"),
        "Drifted": ("Unknown", "NotRunYet"),
        "RetrainRecommended": ("Unknown", "NotRunYet"),
    }

    result = cluster.run_cronjob(NS, "driftcheck-churn")
    assert result.returncode == 0, result.stderr[-3000:]

    status = status_of(cluster, "churn")
    assert status["verdict"] in ("Drift", "NoDrift"), status.get("reason")
    assert status["verdict"] == "Drift"  # four features were shifted by the covariate scenario
    assert status["rows"]["current"] == 600
    assert status["observedGeneration"] == 1
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Drifted", "RetrainRecommended"]
    assert condition(cluster, "churn", "Ready") == next(
        c for c in status["conditions"] if c["type"] == "Ready"
    )

    table = cluster.kubectl("get", "driftchecks", "-n", NS).stdout.splitlines()
    assert table[0].split() == ["NAME", "VERDICT", "DRIFT", "RECOMMENDATION", "ROWS", "LAST", "RUN", "AGE"]
    row = next(line.split() for line in table[1:] if line.split()[0] == "churn")
    assert row[1:5] == [status["verdict"], str(status["driftShare"]), status["recommendation"], "600"]

    def share_metric() -> float | None:
        return metric_value(cluster.metrics(), "driftwatch_drift_share", namespace=NS, driftcheck="churn")

    assert cluster.wait_for(share_metric, what="driftwatch_drift_share") == pytest.approx(
        status["driftShare"]
    )
    verdict_events = cluster.wait_for(
        lambda: [e for e in events_for(cluster, "churn") if e["reason"] == status["verdict"]],
        what="verdict Event",
    )
    assert status["runId"] in verdict_events[0]["message"]


def test_spec_change_updates_the_cronjob_in_place(cluster: Cluster, captured: tuple[Path, Path]) -> None:
    reference, capture = captured
    before = cluster.get("cronjobs", NS, "driftcheck-churn")
    assert before is not None
    changed = driftcheck("churn", reference.as_uri(), capture.as_uri(), schedule="0 * * * *", suspend=True)
    cluster.apply(changed)

    after = cluster.wait_for(
        lambda: (
            (cj := cluster.get("cronjobs", NS, "driftcheck-churn"))
            and cj["spec"]["schedule"] == "0 * * * *"
            and cj
        ),
        what="the new schedule",
    )
    assert after["spec"]["suspend"] is True
    assert after["metadata"]["uid"] == before["metadata"]["uid"]  # patched, not recreated
    ready = cluster.wait_for(
        lambda: (c := condition(cluster, "churn", "Ready")) and c.get("observedGeneration") == 2 and c,
        what="Ready for generation 2",
    )
    assert ready["status"] == "True"


def test_cronjob_deleted_by_hand_comes_back(cluster: Cluster) -> None:
    before = cluster.get("cronjobs", NS, "driftcheck-churn")
    assert before is not None
    cluster.kubectl("delete", "cronjob", "driftcheck-churn", "-n", NS)

    def recreated() -> dict[str, Any] | None:
        cronjob = cluster.get("cronjobs", NS, "driftcheck-churn")
        return cronjob if cronjob and cronjob["metadata"]["uid"] != before["metadata"]["uid"] else None

    after = cluster.wait_for(recreated, what="the CronJob to come back")
    assert after["spec"] == before["spec"]
    assert after["metadata"]["ownerReferences"] == before["metadata"]["ownerReferences"]
    assert cluster.wait_for(
        lambda: [e for e in events_for(cluster, "churn") if e["reason"] == "CronJobRecreated"],
        what="the Event",
    )


@pytest.mark.parametrize(
    ("case", "expected_verdict", "expected_words", "exit_code"),
    [
        ("unknown-column", "Error", "no_such_column", 2),
        ("empty-window", "InsufficientData", "0 current rows", 0),
    ],
)
def test_bad_data_spec_ends_in_a_status_that_says_what_is_wrong(
    cluster: Cluster, captured: tuple[Path, Path], tmp_path: Path,
    case: str, expected_verdict: str, expected_words: str, exit_code: int,
) -> None:  # fmt: skip
    reference, capture = captured
    spec: dict[str, Any] = {}
    current = capture.as_uri()
    if case == "unknown-column":
        spec["columns"] = {"numerical": [*FEATURES_NUMERICAL, "no_such_column"], "prediction": "probability"}
    else:
        (tmp_path / "empty").mkdir()
        current = (tmp_path / "empty").as_uri()
    cluster.apply(driftcheck(case, reference.as_uri(), current, **spec))
    cluster.wait_for(lambda: cluster.get("cronjobs", NS, f"driftcheck-{case}"), what="the CronJob")

    result = cluster.run_cronjob(NS, f"driftcheck-{case}")

    assert result.returncode == exit_code, result.stderr[-2000:]
    status = status_of(cluster, case)
    assert status["verdict"] == expected_verdict
    assert expected_words in status["reason"]
    assert httpx.get(cluster.health_url, timeout=5).status_code == 200  # the controller stayed up


def test_bad_retrain_template_sets_ready_false_and_a_fixed_spec_recovers(cluster: Cluster) -> None:
    broken = copy.deepcopy(RETRAIN_TEMPLATE)
    broken["spec"]["template"]["spec"]["containers"] = []
    retrain = {"mode": "Automatic", "jobTemplate": broken}
    cluster.apply(driftcheck("bad-template", "file:///r.parquet", "file:///c", retrain=retrain))
    ready = cluster.wait_for(lambda: condition(cluster, "bad-template", "Ready"), what="Ready=False")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.retrain.jobTemplate.spec.template.spec.containers" in ready["message"]
    warnings = cluster.wait_for(
        lambda: [e for e in events_for(cluster, "bad-template") if e["reason"] == "InvalidSpec"],
        what="the Event",
    )
    assert warnings[0]["type"] == "Warning"
    assert cluster.get("cronjobs", NS, "driftcheck-bad-template") is None

    cluster.apply(driftcheck("bad-template", "file:///r.parquet", "file:///c",
                             retrain={"mode": "Automatic", "jobTemplate": RETRAIN_TEMPLATE}))  # fmt: skip
    cluster.wait_for(
        lambda: cluster.get("cronjobs", NS, "driftcheck-bad-template"), what="the CronJob after the fix"
    )
    fixed = cluster.wait_for(
        lambda: (c := condition(cluster, "bad-template", "Ready")) and c["status"] == "True" and c,
        what="Ready=True",
    )
    assert fixed["reason"] == "Reconciled"


@pytest.mark.parametrize(
    ("name", "change", "field"),
    [
        ("typo-field", {"polcy": {"investigateShare": 0.3}}, "spec.polcy"),
        ("schedule-number", {"schedule": 5}, "spec.schedule"),
        ("rows-text", {"current": {"uri": "file:///c", "minRows": "many"}}, "spec.current.minRows"),
        ("method-unknown", {"drift": {"method": "chisquare"}}, "spec.drift.method"),
    ],
)
def test_a_spec_the_api_server_would_reject_gets_ready_false_naming_the_field(
    cluster: Cluster, name: str, change: dict[str, Any], field: str
) -> None:
    # The emulator does not validate, as an API server without the CRD's schema would not.
    obj = driftcheck(name, "file:///r.parquet", "file:///c")
    obj["spec"].update(change)
    assert object_errors(obj), "the real API server would have rejected it at apply time"
    cluster.apply(obj)
    ready = cluster.wait_for(lambda: condition(cluster, name, "Ready"), what="Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert ready["message"].startswith(f"{field}:")
    assert cluster.get("cronjobs", NS, f"driftcheck-{name}") is None


@pytest.fixture(scope="module")
def exercised(cluster: Cluster, captured: tuple[Path, Path]) -> Cluster:
    """Every call the controller and a check pod make, on a DriftCheck of its own: the tests that read
    the request log need no earlier test to have run."""
    name = "exercised"
    reference, capture = (p.as_uri() for p in captured)
    cluster.apply(driftcheck(name, reference, capture))
    cronjob = cluster.wait_for(lambda: cluster.get("cronjobs", NS, f"driftcheck-{name}"), what="the CronJob")
    assert cluster.run_cronjob(NS, f"driftcheck-{name}").returncode == 0  # check: get, patch status
    cluster.apply(driftcheck(name, reference, capture, schedule="0 * * * *"))  # cronjobs get, patch
    cluster.wait_for(
        lambda: (cluster.get("cronjobs", NS, f"driftcheck-{name}") or {})["spec"]["schedule"] == "0 * * * *",
        what="the new schedule",
    )
    cluster.kubectl("annotate", "driftcheck", name, "-n", NS, "driftwatch.io/run-now=yes")  # jobs create
    cluster.wait_for(
        lambda: (
            "driftwatch.io/run-now"
            not in (cluster.get("driftchecks", NS, name) or {})["metadata"].get("annotations", {})
        ),
        what="the run-now annotation to be consumed",
    )
    cluster.kubectl("delete", "cronjob", f"driftcheck-{name}", "-n", NS)  # driftchecks get, events create
    cluster.wait_for(
        lambda: (
            (cj := cluster.get("cronjobs", NS, f"driftcheck-{name}"))
            and cj["metadata"]["uid"] != cronjob["metadata"]["uid"]
        ),
        what="the CronJob to come back",
    )
    return cluster


def test_every_status_written_is_declared_in_the_crd(exercised: Cluster) -> None:
    writes = [
        r for r in exercised.requests()
        if r["resource"] == "driftchecks" and r["subresource"] == "status" and r["verb"] == "patch"
        and isinstance(r.get("body"), dict)
    ]  # fmt: skip
    assert {r["user"] for r in writes} >= {"controller", "check"}
    errors = [
        f"{r['user']}: {error}" for r in writes for error in status_errors(r["body"].get("status") or {})
    ]
    assert errors == []


def granted_rules(scope: str) -> dict[str, set[tuple[str, str, str]]]:
    """(apiGroup, resource[/subresource], verb) each role of the rendered chart grants, by role suffix."""
    from support.chart_render import by_kind, render

    objects = render("v35", None, f"rbac.scope={scope}", "controller.watchNamespaces={default}")
    roles = by_kind(objects, "ClusterRole" if scope == "cluster" else "Role")
    granted: dict[str, set[tuple[str, str, str]]] = {"controller": set(), "check": set()}
    for role in roles:
        who = "controller" if role["metadata"]["name"].endswith("-controller") else "check"
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    granted[who].update((group, resource, verb) for verb in rule["verbs"])
    return granted


def used_rules(cluster: Cluster) -> dict[str, set[tuple[str, str, str]]]:
    used: dict[str, set[tuple[str, str, str]]] = {"controller": set(), "check": set()}
    for request in cluster.requests():
        if request["user"] in used:
            resource = request["resource"] + (f"/{request['subresource']}" if request["subresource"] else "")
            used[request["user"]].add((request["group"], resource, request["verb"]))
    return used


@pytest.mark.parametrize("scope", ["cluster", "namespace"])
def test_rbac_grants_exactly_what_controller_and_check_pods_use(exercised: Cluster, scope: str) -> None:
    granted, used = granted_rules(scope), used_rules(exercised)
    assert used["controller"] - granted["controller"] == set()
    assert used["check"] - granted["check"] == set()
    assert granted["controller"] - used["controller"] == set()
    assert granted["check"] - used["check"] == set()
    assert granted["check"] == {
        ("driftwatch.io", "driftchecks", "get"),
        ("driftwatch.io", "driftchecks/status", "patch"),
    }
