"""The pure builders: the owned CronJob, its patch, run-now and retrain Jobs, spec problems."""

from __future__ import annotations

import datetime as dt
from typing import Any

import kubernetes_validate
import pytest
from driftwatch_controller import checkpod
from driftwatch_controller.api.spec import DriftCheckSpec, SpecError
from driftwatch_controller.controller import builders
from driftwatch_controller.controller.settings import ControllerSettings

pytestmark = pytest.mark.unit

META = {"name": "churn", "namespace": "ml", "uid": "u-1", "generation": 3}
SPEC: dict[str, Any] = {
    "schedule": "*/15 * * * *",
    "reference": {"uri": "file:///data/reference/churn.parquet"},
    "current": {"uri": "file:///data/capture/churn", "window": "1h"},
}
TEMPLATE = {"spec": {"template": {"spec": {"containers": [{"name": "train", "image": "img:1"}]}}}}


def typed(spec: dict[str, Any]) -> DriftCheckSpec:
    return DriftCheckSpec.parse(spec, cluster=True)


def settings(**overrides: Any) -> ControllerSettings:
    return ControllerSettings(check_image="reg/check:1", check_service_account="dw-check", **overrides)


NOW = dt.datetime(2026, 11, 27, 10, 15, 3, tzinfo=dt.UTC)


def pod_spec(cronjob: dict[str, Any]) -> dict[str, Any]:
    return dict(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def test_cronjob_runs_the_check_of_its_driftcheck_with_the_check_account() -> None:
    cronjob = builders.build_cronjob(typed(SPEC), META, settings())
    pod = pod_spec(cronjob)
    assert cronjob["metadata"]["name"] == "driftcheck-churn"
    assert cronjob["metadata"]["namespace"] == "ml"
    assert pod["containers"][0]["command"] == ["driftwatch", "check", "--driftcheck", "ml/churn"]
    assert pod["containers"][0]["image"] == "reg/check:1"
    assert pod["serviceAccountName"] == "dw-check"
    assert pod["restartPolicy"] == "Never"


def test_cronjob_forbids_overlap_and_carries_job_limits_and_defaults() -> None:
    spec = {**SPEC, "suspend": True, "timeZone": "Europe/Paris", "job": {"backoffLimit": 0}}
    cron = builders.build_cronjob(typed(spec), META, settings())["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    assert cron["suspend"] is True
    assert cron["timeZone"] == "Europe/Paris"
    assert cron["startingDeadlineSeconds"] == 300
    assert (cron["successfulJobsHistoryLimit"], cron["failedJobsHistoryLimit"]) == (3, 3)
    assert cron["jobTemplate"]["spec"]["backoffLimit"] == 0
    assert cron["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 1800


def test_check_pod_meets_the_restricted_profile() -> None:
    pod = pod_spec(builders.build_cronjob(typed(SPEC), META, settings()))
    container = pod["containers"][0]["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["allowPrivilegeEscalation"] is False
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"] == {"drop": ["ALL"]}


def test_data_claim_is_mounted_and_reports_go_under_it() -> None:
    pod = pod_spec(
        builders.build_cronjob(typed(SPEC), META, settings(data_pvc="dw-data", data_mount_path="/data"))
    )
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "dw-data"}} in pod["volumes"]
    assert {"name": "data", "mountPath": "/data"} in pod["containers"][0]["volumeMounts"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["DRIFTWATCH_REPORT_DIR"] == "/data/reports/ml/churn"


def test_a_claim_named_with_its_namespace_is_mounted_there_only() -> None:
    mounted = pod_spec(builders.build_cronjob(typed(SPEC), META, settings(data_pvc="ml/dw-data")))
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "dw-data"}} in mounted["volumes"]
    # Elsewhere the claim does not exist: mounting it would leave the check pod Pending forever.
    elsewhere = pod_spec(
        builders.build_cronjob(typed(SPEC), {**META, "namespace": "team-b"}, settings(data_pvc="ml/dw-data"))
    )
    assert [v["name"] for v in elsewhere["volumes"]] == ["tmp"]
    assert "DRIFTWATCH_REPORT_DIR" not in {e["name"] for e in elsewhere["containers"][0]["env"]}


def test_an_unusable_spec_or_data_is_not_retried() -> None:
    # The check wrote `verdict: Error` and exited 2: a retry would only record the same Error twice.
    job = builders.build_cronjob(typed(SPEC), META, settings())["spec"]["jobTemplate"]["spec"]
    (rule,) = job["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"] == {
        "containerName": "check",
        "operator": "In",
        "values": [checkpod.EXIT_UNUSABLE],
    }
    assert pod_spec(builders.build_cronjob(typed(SPEC), META, settings()))["restartPolicy"] == "Never"


def test_no_data_claim_means_no_data_volume() -> None:
    pod = pod_spec(builders.build_cronjob(typed(SPEC), META, settings()))
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]


def test_check_resources_come_from_settings() -> None:
    resources = {"requests": {"cpu": "1"}}
    pod = pod_spec(builders.build_cronjob(typed(SPEC), META, settings(check_resources=resources)))
    assert pod["containers"][0]["resources"] == resources


def test_long_names_are_cut_to_52_characters_and_stay_distinct() -> None:
    first = builders.cronjob_name("a" * 60)
    second = builders.cronjob_name("a" * 59 + "b")
    assert len(first) <= 52
    assert first != second


def test_cronjob_patch_is_none_when_the_cronjob_already_matches() -> None:
    desired = builders.build_cronjob(typed(SPEC), META, settings())
    current = {**desired, "metadata": {**desired["metadata"], "uid": "x"}, "status": {}}
    current["spec"] = {k: v for k, v in desired["spec"].items() if v is not None}
    assert builders.cronjob_patch(current, desired) is None


def test_cronjob_patch_replaces_the_spec_when_the_schedule_changes() -> None:
    current = builders.build_cronjob(typed(SPEC), META, settings())
    desired = builders.build_cronjob(typed({**SPEC, "schedule": "0 * * * *"}), META, settings())
    patch = builders.cronjob_patch(current, desired)
    assert patch is not None
    assert patch["spec"]["schedule"] == "0 * * * *"
    assert patch["spec"]["timeZone"] is None  # explicit null: a removed time zone is removed


def test_cronjob_patch_adds_a_missing_owner_reference() -> None:
    desired = builders.build_cronjob(typed(SPEC), META, settings())
    current = {"metadata": dict(desired["metadata"]), "spec": desired["spec"]}
    desired["metadata"]["ownerReferences"] = [{"uid": "u-1", "kind": "DriftCheck", "name": "churn"}]
    patch = builders.cronjob_patch(current, desired)
    assert patch is not None
    assert patch["metadata"]["ownerReferences"][0]["uid"] == "u-1"


def test_job_from_cronjob_is_what_kubectl_create_job_from_makes() -> None:
    cronjob = builders.build_cronjob(typed(SPEC), META, settings())
    cronjob["metadata"]["uid"] = "cj-1"
    job = builders.build_job_from_cronjob(cronjob, now=dt.datetime(2026, 11, 27, 10, 15, 3, tzinfo=dt.UTC))
    assert job["metadata"]["name"] == "driftcheck-churn-now-261127101503"
    assert job["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert job["metadata"]["ownerReferences"][0]["uid"] == "cj-1"
    assert job["spec"] == cronjob["spec"]["jobTemplate"]["spec"]


def test_retrain_job_is_named_after_the_run_and_keeps_the_template() -> None:
    spec = {**SPEC, "retrain": {"mode": "Manual", "jobTemplate": TEMPLATE}}
    job = builders.build_retrain_job(typed(spec), META, "20261127T101500Z")
    assert job["metadata"]["name"] == "churn-retrain-20261127t101500z"
    assert job["metadata"]["annotations"]["driftwatch.io/run-id"] == "20261127T101500Z"
    assert job["spec"]["template"]["spec"]["containers"] == TEMPLATE["spec"]["template"]["spec"]["containers"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize("version", ["1.29.0", "1.35.0"])
def test_what_the_controller_creates_is_valid_kubernetes(version: str) -> None:
    # The emulator stores anything: a field a real API server rejects would only show on a cluster.
    spec = {**SPEC, "timeZone": "Europe/Paris", "retrain": {"mode": "Manual", "jobTemplate": TEMPLATE}}
    cronjob = builders.build_cronjob(typed(spec), META, settings(data_pvc="ml/dw-data"))
    run_now = builders.build_job_from_cronjob(
        {**cronjob, "metadata": {**cronjob["metadata"], "uid": "u"}}, now=NOW
    )
    for obj in (cronjob, run_now, builders.build_retrain_job(typed(spec), META, "20261127T101500Z")):
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (None, "spec.retrain.jobTemplate is required"),
        ({"spec": "x"}, "spec.retrain.jobTemplate.spec must be a Job spec"),
        ({"spec": {"template": {"spec": {"containers": []}}}}, "containers must list at least one container"),
        (
            {"spec": {"template": {"spec": {"containers": [{"name": "t"}]}}}},
            "containers[0] needs a name and an image",
        ),
        (
            {
                "spec": {
                    "template": {
                        "spec": {"restartPolicy": "Always", "containers": [{"name": "t", "image": "i"}]}
                    }
                }
            },
            "restartPolicy must be Never or OnFailure",
        ),
    ],
)
def test_bad_retrain_template_is_named(template: Any, message: str) -> None:
    spec = {**SPEC, "retrain": {"mode": "Automatic", "jobTemplate": template}}
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        typed(spec)
    assert any(message in problem for problem in builders.spec_problems(spec))


def test_no_retrain_job_without_a_template() -> None:
    with pytest.raises(SpecError, match=r"spec\.retrain\.jobTemplate is required"):
        builders.build_retrain_job(typed({**SPEC, "retrain": {"mode": "Off"}}), META, "r1")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"schedule": "61 * * * *"}, "spec.schedule"),
        ({"timeZone": "Mars/Olympus"}, "spec.timeZone: unknown time zone"),
        ({"current": {"uri": "file:///c", "window": "0s"}}, "spec.current.window: must be longer than 0s"),
        (
            {"policy": {"investigateShare": 0.6, "retrainShare": 0.5}},
            "retrainShare (0.5) is below investigateShare",
        ),
        (
            {"columns": {"numerical": ["a"]}, "drift": {"perColumn": {"b": {"method": "ks"}}}},
            "spec.drift.perColumn names b, not in columns",
        ),
        ({"columns": {"numerical": ["a"], "categorical": ["a"]}}, "are both numerical and categorical"),
        ({"reference": {}}, "spec.reference.uri: Field required"),
        (
            {"reference": {"uri": "/no/scheme.parquet"}},
            "spec.reference.uri: '/no/scheme.parquet' is not a URI",
        ),
        ({"schedule": 5}, "spec.schedule: Input should be a valid string"),
        ({"current": {"uri": "file:///c", "minRows": "many"}}, "spec.current.minRows: Input should be"),
        ({"drift": {"method": "chisquare"}}, "spec.drift.method: Input should be"),
        ({"extra": True}, "spec.extra: unknown field"),
    ],
)
def test_spec_problems_the_schema_cannot_catch(change: dict[str, Any], problem: str) -> None:
    problems = builders.spec_problems({**SPEC, **change})
    assert any(problem in p for p in problems), problems


def test_a_good_spec_has_no_problems() -> None:
    assert builders.spec_problems({**SPEC, "retrain": {"mode": "Off"}}) == []
