"""Peering of several controller replicas: the oldest leads, identities are pod names, a run-now Job is
named after its request so that a standby retrying it after a crash gets 409 instead of a second Job."""

from __future__ import annotations

import datetime as dt

import pytest
from driftwatch_controller.controller.handlers import run_now_requested_at
from driftwatch_controller.controller.settings import load_settings
from driftwatch_controller.controller_command import oldest_first_priority, peer_identity
from pydantic import ValidationError

pytestmark = pytest.mark.unit


def test_an_older_replica_has_the_higher_priority_and_json_keeps_it_exact() -> None:
    older, younger = (
        oldest_first_priority(1_780_000_000_000_000_000),
        oldest_first_priority(1_780_000_000_000_001_000),
    )
    assert older > younger
    assert older - younger == 1  # microseconds apart: replicas never tie (kopf pauses all on a tie)
    assert abs(older) < 2**53


def test_the_identity_is_the_pod_name_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_ID", "driftwatch-controller-abc")
    assert peer_identity() == "driftwatch-controller-abc"
    monkeypatch.delenv("POD_ID")
    assert "@" in peer_identity()


def test_peering_lifetime_is_bounded() -> None:
    assert load_settings().peering_lifetime == 20
    with pytest.raises(ValidationError):
        load_settings(peering_lifetime=5)


def test_run_now_request_time_comes_from_the_annotations_managed_field() -> None:
    annotations = {"f:metadata": {"f:annotations": {"f:driftwatch.io/run-now": {}}}}
    meta = {
        "managedFields": [
            {"manager": "kopf", "time": "2026-01-02T03:04:09Z", "fieldsV1": {"f:status": {}}},
            {"manager": "kubectl-annotate", "time": "2026-01-02T03:04:05Z", "fieldsV1": annotations},
        ]
    }
    assert run_now_requested_at(meta) == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert run_now_requested_at({}) is None
