"""What the controller does when the API server refuses an object it built (400/422): report, not retry;
and when RBAC refuses the call (403): report, and retry soon."""

from __future__ import annotations

import json
from typing import Any

import kopf
import pytest
from driftwatch_controller.api.spec import DriftCheckSpec
from driftwatch_controller.controller import builders, handlers, kube
from driftwatch_controller.controller.retrain_gate import RetrainDecision
from driftwatch_controller.controller.settings import ControllerSettings

pytestmark = pytest.mark.unit

SPEC = {
    "schedule": "*/15 * * * *",
    "reference": {"uri": "file:///data/reference.parquet"},
    "current": {"uri": "file:///data/capture/churn"},
    "retrain": {
        "mode": "Automatic",
        "jobTemplate": {
            "spec": {"template": {"spec": {"containers": [{"name": "Trainer", "image": "t:1"}]}}}
        },
    },
}
REFUSAL = 'CronJob.batch "driftcheck-churn" is invalid: spec.jobTemplate.spec.template.spec.containers[0].image: Required value'  # noqa: E501


def _api_error(status: int, message: str | None) -> kube.ApiException:
    exc = kube.ApiException(status=status, reason="Unprocessable Entity" if status == 422 else "Error")
    exc.body = json.dumps({"kind": "Status", "message": message}) if message is not None else None
    return exc


class RefusingKube:
    """Refuses every create and patch with the given API error."""

    def __init__(self, error: kube.ApiException) -> None:
        self.error = error
        self.calls = 0
        self.status_patches: list[tuple[str, str, dict[str, Any]]] = []

    def create_cronjob(self, body: Any) -> None:
        self.calls += 1
        raise self.error

    def get_cronjob(self, namespace: str, name: str) -> None:
        return None

    def create_job(self, body: Any) -> None:
        self.calls += 1
        raise self.error

    def patch_driftcheck_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.status_patches.append((namespace, name, status))


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, bool]]:
    posted: list[tuple[str, str, bool]] = []
    monkeypatch.setattr(
        handlers,
        "_event",
        lambda body, reason, message, warning=False: posted.append((reason, message, warning)),
    )
    return posted


def _context(error: kube.ApiException) -> handlers.ControllerContext:
    ctx = handlers.ControllerContext(settings=ControllerSettings(check_image="reg/check:1"))
    ctx.client = RefusingKube(error)  # type: ignore[assignment]
    return ctx


def _body() -> dict[str, Any]:
    return {
        "apiVersion": "driftwatch.io/v1alpha1",
        "kind": "DriftCheck",
        "metadata": {"name": "churn", "namespace": "ml", "uid": "u-1", "generation": 4},
        "spec": SPEC,
    }


def test_refused_cronjob_sets_ready_false_with_the_api_servers_message(events: list[Any]) -> None:
    body, patch = _body(), kopf.Patch()
    action = handlers.reconcile_driftcheck(
        _context(_api_error(422, REFUSAL)), body, SPEC, body["metadata"], {}, patch, new=True
    )
    assert action == "rejected"
    ready = next(c for c in patch.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("False", "CronJobRejected", 4)
    assert "containers[0].image: Required value" in ready["message"]
    assert events == [("CronJobRejected", ready["message"], True)]


@pytest.mark.parametrize("status", [409, 500, 503])
def test_other_api_errors_are_raised_for_kopf_to_retry(status: int, events: list[Any]) -> None:
    body, patch = _body(), kopf.Patch()
    with pytest.raises(kube.ApiException):
        handlers.reconcile_driftcheck(
            _context(_api_error(status, "busy")), body, SPEC, body["metadata"], {}, patch, new=False
        )
    assert "conditions" not in patch.status
    assert events == []


FORBIDDEN = (
    'cronjobs.batch is forbidden: User "system:serviceaccount:ml:driftwatch-controller" cannot create '
    'resource "cronjobs" in API group "batch" in the namespace "ml"'
)


def test_a_cronjob_rbac_refuses_is_ready_false_naming_the_verb_and_retried_soon(events: list[Any]) -> None:
    body, patch = _body(), kopf.Patch()
    ctx = _context(_api_error(403, FORBIDDEN))
    with pytest.raises(kopf.TemporaryError) as raised:
        handlers.reconcile_driftcheck(ctx, body, SPEC, body["metadata"], {}, patch, new=True)
    assert raised.value.delay == handlers.FORBIDDEN_RETRY_SECONDS < 60  # kopf's default back-off
    # Written at once: the handler fails, so kopf would not apply its patch.
    ((namespace, name, written),) = ctx.client.status_patches  # type: ignore[union-attr]
    assert (namespace, name) == ("ml", "churn")
    ready = next(c for c in written["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("False", "Forbidden", 4)
    assert 'cannot create resource "cronjobs"' in ready["message"]
    assert "driftwatch-controller" in ready["message"]
    assert events == [("Forbidden", ready["message"], True)]


def test_a_second_refusal_with_ready_already_saying_so_writes_nothing_new(events: list[Any]) -> None:
    body, patch = _body(), kopf.Patch()
    ctx = _context(_api_error(403, FORBIDDEN))
    with pytest.raises(kopf.TemporaryError):
        handlers.reconcile_driftcheck(ctx, body, SPEC, body["metadata"], {}, patch, new=True)
    status = ctx.client.status_patches[0][2]  # type: ignore[union-attr]
    with pytest.raises(kopf.TemporaryError):
        handlers.reconcile_driftcheck(ctx, body, SPEC, body["metadata"], status, kopf.Patch(), new=False)
    assert len(ctx.client.status_patches) == 1  # type: ignore[union-attr]
    assert len(events) == 1


def test_rejection_message_without_a_status_body_falls_back_to_the_http_reason() -> None:
    assert kube.rejection_message(_api_error(422, None)) == "Unprocessable Entity"
    assert kube.rejection_message(_api_error(400, "  the  body\nis bad ")) == "the body is bad"
    assert kube.rejection_message(_api_error(404, "not found")) is None
    assert kube.rejection_message(_api_error(403, FORBIDDEN)) is None
    assert kube.forbidden_message(_api_error(403, FORBIDDEN)) == FORBIDDEN
    assert kube.forbidden_message(_api_error(422, "bad")) is None


def test_refused_retrain_job_is_recorded_as_retrain_failed_not_raised(events: list[Any]) -> None:
    body, patch = _body(), kopf.Patch()
    refusal = 'Job.batch "x" is invalid: spec.template.spec.containers[0].name: Invalid value: "Trainer"'
    decision = RetrainDecision("Created", "20261202-0815", True, "retraining", "RetrainJobCreated")
    handlers.apply_retrain_decision(
        _context(_api_error(422, refusal)),
        decision,
        body=body,
        spec=DriftCheckSpec.parse(SPEC),
        meta=body["metadata"],
        status={},
        patch=patch,
    )
    ((reason, message, warning),) = events
    assert (reason, warning) == ("RetrainFailed", True)
    assert 'Invalid value: "Trainer"' in message
    assert patch.status["retrain"]["state"] == "NotRequested"


def test_a_long_driftcheck_name_gives_a_label_value_the_api_server_accepts() -> None:
    name = "churn-" + "x" * 200
    labels = builders.labels_for({"name": name, "namespace": "ml"}, "check")
    value = labels["driftwatch.io/driftcheck"]
    assert len(value) <= 63
    assert value[0].isalnum()
    assert value[-1].isalnum()
    assert (
        value
        != builders.labels_for({"name": name + "y", "namespace": "ml"}, "check")["driftwatch.io/driftcheck"]
    )
