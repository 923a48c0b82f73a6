"""The DriftCheck spec model: camelCase manifests, documented defaults, clear errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from driftwatch_controller.api.durations import parse_duration
from driftwatch_controller.api.spec import DriftCheckSpec, SpecError

pytestmark = pytest.mark.unit

TEMPLATE = {"spec": {"template": {"spec": {"containers": [{"name": "train", "image": "img:1"}]}}}}
MANIFEST = {
    "apiVersion": "driftwatch.io/v1alpha1",
    "kind": "DriftCheck",
    "metadata": {"name": "churn-hourly", "namespace": "default"},
    "spec": {
        "schedule": "*/15 * * * *",
        "reference": {"uri": "file:///data/reference/churn-v1.parquet"},
        "current": {"uri": "file:///data/capture/churn", "window": "30m", "minRows": 100},
        "columns": {"numerical": ["age"], "categorical": ["region"], "prediction": "probability",
                    "predictionClass": "prediction", "target": "churned"},
        "drift": {"method": "auto", "perColumn": {"age": {"method": "ks", "threshold": 0.01}}},
        "policy": {"investigateShare": 0.3},
        "retrain": {"mode": "Manual", "jobTemplate": TEMPLATE},
    },
}  # fmt: skip


def test_whole_manifest_is_parsed_with_camel_case_fields() -> None:
    spec = DriftCheckSpec.from_manifest(MANIFEST)
    assert spec.model == "churn-hourly"
    assert spec.current.window_delta == timedelta(minutes=30)
    assert spec.current.min_rows == 100
    assert spec.columns.prediction_class == "prediction"
    assert spec.drift.per_column["age"].method == "ks"
    assert spec.policy.investigate_share == 0.3
    assert spec.retrain.job_template == TEMPLATE


def test_defaults_are_the_documented_ones() -> None:
    spec = DriftCheckSpec.from_manifest({"reference": {"uri": "a.parquet"}, "current": {"uri": "cap/"}})
    assert (spec.current.window, spec.current.min_rows) == ("1h", 200)
    assert (spec.drift.method, spec.drift.thresholds, spec.drift.threshold) == ("auto", "calibrated", None)
    policy = spec.policy
    assert (policy.investigate_share, policy.retrain_share, policy.consecutive_runs) == (0.2, 0.5, 2)
    assert policy.cooldown_delta == timedelta(hours=24)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"current": {"uri": "x", "window": "soon"}}, "spec.current.window"),
        ({"drift": {"method": "chisquare"}}, "spec.drift.method"),
        ({"policy": {"investigateShare": 1.5}}, "spec.policy.investigateShare"),
        (
            {"policy": {"investigateShare": 0.6, "retrainShare": 0.5}},
            r"^spec\.policy\.retrainShare \(0\.5\) is below investigateShare \(0\.6\)$",
        ),
        ({"drift": {"perColumn": {"nope": {"method": "psi"}}}}, r"spec\.drift\.perColumn names nope"),
        ({"columns": {"numerical": ["a"], "categorical": ["a"]}}, "both numerical and categorical"),
        ({"polcy": {"investigateShare": 0.3}}, r"spec\.polcy: unknown field"),
        ({"current": {"uri": "x", "minRow": 10}}, r"spec\.current\.minRow: unknown field"),
        ({"job": {"backoffLimit": 11}}, r"spec\.job\.backoffLimit"),
        ({"retrain": {"mode": "Automatic"}}, r"spec\.retrain\.jobTemplate is required"),
        ({"policy": {"performance": {"metric": "auc"}}}, r"spec\.policy\.performance\.metric"),
        ({"policy": {"performance": {"kind": "both"}}}, r"spec\.policy\.performance\.kind"),
        ({"policy": {"performance": {"maxDrop": -0.1}}}, r"spec\.policy\.performance\.maxDrop"),
        ({"policy": {"performance": {"minLabelledRows": 0}}}, r"spec\.policy\.performance\.minLabelledRows"),
        (
            {"policy": {"performance": {"metric": "roc_auc", "maxDrop": 5}}},
            r"^spec\.policy\.performance\.maxDrop \(5\) is above 1, the whole range of roc_auc$",
        ),
        (
            {"policy": {"performance": {"maxDrops": 0.1}}},
            r"spec\.policy\.performance\.maxDrops: unknown field",
        ),
    ],
)
def test_bad_spec_raises_spec_error_naming_the_field(patch: dict, message: str) -> None:
    body = {**MANIFEST["spec"], **patch}
    with pytest.raises(SpecError, match=message):
        DriftCheckSpec.from_manifest(body)


def test_other_kind_is_rejected() -> None:
    with pytest.raises(SpecError, match="expected DriftCheck"):
        DriftCheckSpec.from_manifest({**MANIFEST, "kind": "ConfigMap"})


def test_manifest_of_only_a_spec_is_read_as_a_manifest() -> None:
    spec = DriftCheckSpec.from_manifest({"spec": MANIFEST["spec"]})
    assert spec.current.window == "30m"
    with pytest.raises(SpecError, match=r"^spec\.current\.window"):
        DriftCheckSpec.from_manifest(
            {"spec": {**MANIFEST["spec"], "current": {"uri": "x", "window": "soon"}}}
        )


def test_durations_parse() -> None:
    assert parse_duration("1h30m") == timedelta(hours=1, minutes=30)
    assert parse_duration("2d") == timedelta(days=2)
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("1x")


def test_every_example_manifest_parses() -> None:
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[3] / "manifests" / "driftchecks"
    manifests = sorted(root.glob("*.yaml"))
    assert any(p.name == "churn-demo.yaml" for p in manifests)
    for path in manifests:
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "DriftCheck":
                spec = DriftCheckSpec.from_manifest(document)
                assert spec.reference.uri, path.name


def test_a_cooldown_the_crd_accepts_is_one_the_check_accepts() -> None:
    """Issue 9: `30m1h` passed the CRD and the controller (Ready) but the check pod's own parser
    raised, so every run ended in verdict Error. One grammar: Go's, units in any order, summed."""
    from driftwatch_controller.controller.builders import spec_problems

    body = {**MANIFEST["spec"], "policy": {"cooldown": "30m1h"}}
    body["retrain"] = {"mode": "Off"}
    assert spec_problems(body) == []
    spec = DriftCheckSpec.from_manifest(body)
    assert spec.policy.cooldown_delta == timedelta(minutes=90)


def test_every_problem_is_named_at_once() -> None:
    body = {**MANIFEST["spec"], "current": {"uri": "x", "window": "soon", "minRows": 0}, "colums": {}}
    with pytest.raises(SpecError) as caught:
        DriftCheckSpec.from_manifest(body)
    assert sorted(p.split(":")[0] for p in caught.value.problems) == [
        "spec.colums", "spec.current.minRows", "spec.current.window",
    ]  # fmt: skip


def test_a_spec_for_a_cluster_needs_uris_a_pod_can_open_and_a_schedule() -> None:
    local = {"reference": {"uri": "model/reference.parquet"}, "current": {"uri": "capture/churn"}}
    assert DriftCheckSpec.from_manifest(local).schedule == "0 * * * *"  # local runs: paths and a default
    with pytest.raises(SpecError) as caught:
        DriftCheckSpec.from_manifest({**local, "schedule": "@hourly"}, cluster=True)
    assert [p.split(":")[0] for p in caught.value.problems] == ["spec.reference.uri", "spec.current.uri"]
    with pytest.raises(SpecError, match=r"^spec\.schedule: Field required$"):
        DriftCheckSpec.parse({"reference": {"uri": "file:///r"}, "current": {"uri": "file:///c"}})


def test_class_probabilities_are_a_list_of_columns_empty_by_default() -> None:
    bare = {"reference": {"uri": "a.parquet"}, "current": {"uri": "cap/"}}
    assert DriftCheckSpec.from_manifest(bare).columns.class_probabilities == ()
    columns = {"predictionClass": "prediction", "classProbabilities": ["probability_a", "probability_b"]}
    spec = DriftCheckSpec.from_manifest({**bare, "columns": columns})
    assert spec.columns.class_probabilities == ("probability_a", "probability_b")
    assert spec.to_dict()["columns"]["classProbabilities"] == ["probability_a", "probability_b"]
    # A per-column override may name one, as it may name the prediction.
    spec = DriftCheckSpec.from_manifest(
        {**bare, "columns": {"numerical": ["age"], **columns}, "drift": {"perColumn": {"probability_a": {}}}}
    )
    assert set(spec.drift.per_column) == {"probability_a"}
    with pytest.raises(SpecError, match=r"spec\.columns\.classProbabilities\.0: String should have at least"):
        DriftCheckSpec.from_manifest({**bare, "columns": {"classProbabilities": [""]}})


BARE = {"reference": {"uri": "a.parquet"}, "current": {"uri": "cap/"}}


def test_the_performance_policy_is_off_by_default_with_the_documented_defaults() -> None:
    performance = DriftCheckSpec.from_manifest(BARE).policy.performance
    assert not performance.active
    assert (performance.enabled, performance.metric, performance.max_drop) == (None, None, 0.05)
    assert (performance.kind, performance.min_labelled_rows) == ("realized", 200)
    # Unset `enabled` stays unset in the manifest form, so a metric named later still switches it on.
    written = DriftCheckSpec.from_manifest(BARE).to_dict()["policy"]["performance"]
    assert written == {"maxDrop": 0.05, "kind": "realized", "minLabelledRows": 200}


@pytest.mark.parametrize(
    ("performance", "active"),
    [
        ({}, False),
        ({"metric": "roc_auc"}, True),  # naming a metric switches it on
        ({"enabled": True}, True),  # the task's default metric
        ({"enabled": False, "metric": "roc_auc"}, False),  # switched off, the rest kept
        ({"maxDrop": 0.1, "kind": "either"}, False),  # thresholds alone do not switch it on
    ],
)
def test_the_performance_policy_is_on_when_a_metric_is_named_or_it_is_enabled(
    performance: dict, active: bool
) -> None:
    spec = DriftCheckSpec.from_manifest({**BARE, "policy": {"performance": performance}})
    assert spec.policy.performance.active is active


def test_a_regression_metric_may_drop_by_more_than_one() -> None:
    # Absolute, in the metric's units: an MAE of 12.0 rising to 15.0 is a drop of 3.
    performance = {"metric": "mae", "maxDrop": 3, "minLabelledRows": 50}
    spec = DriftCheckSpec.from_manifest({**BARE, "policy": {"performance": performance}})
    assert (spec.policy.performance.max_drop, spec.policy.performance.min_labelled_rows) == (3, 50)
    written = spec.to_dict()["policy"]["performance"]
    assert written == {"metric": "mae", "maxDrop": 3.0, "kind": "realized", "minLabelledRows": 50}


@pytest.mark.parametrize("field", ["current.window", "policy.cooldown"])
def test_an_overlong_duration_is_a_spec_error_naming_its_field(field: str) -> None:
    """Not an OverflowError out of the parse (the controller's reconcile traceback the spec fuzz found)."""
    section, key = field.split(".")
    spec = {
        "schedule": "@hourly",
        "reference": {"uri": "file:///r.parquet"},
        "current": {"uri": "file:///c.parquet"},
    }
    spec[section] = {**spec.get(section, {}), key: "99999999999999999999s"}
    with pytest.raises(SpecError, match=rf"spec\.{field}: .*too long"):
        DriftCheckSpec.parse(spec, cluster=True)


def test_a_day_of_week_7_is_a_spec_error_naming_the_schedule() -> None:
    spec = {"schedule": "0 0 * * 7", "reference": {"uri": "file:///r"}, "current": {"uri": "file:///c"}}
    with pytest.raises(SpecError, match=r"spec\.schedule: .*outside 0-6"):
        DriftCheckSpec.parse(spec, cluster=True)


def test_a_ttl_beyond_int32_is_a_spec_error_not_a_cronjob_the_api_server_refuses() -> None:
    spec = {
        "schedule": "@hourly",
        "reference": {"uri": "file:///r"},
        "current": {"uri": "file:///c"},
        "job": {"ttlSecondsAfterFinished": 2**31},
    }
    with pytest.raises(
        SpecError, match=r"spec\.job\.ttlSecondsAfterFinished: .*less than or equal to 2147483647"
    ):
        DriftCheckSpec.parse(spec, cluster=True)
    spec["job"] = {"ttlSecondsAfterFinished": 2**31 - 1}
    assert DriftCheckSpec.parse(spec, cluster=True).job.ttl_seconds_after_finished == 2**31 - 1
