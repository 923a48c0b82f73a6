"""Capture controls per model in the chart (issue 13): what `helm template` renders into each model's
environment, what a model inherits from the release, and what the schema and the templates refuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from support.chart_render import CHART, HELMS, by_kind, render, run_helm

pytestmark = pytest.mark.integration

CAPTURE_VARS = (
    "DRIFTWATCH_CAPTURE_SAMPLE_RATE",
    "DRIFTWATCH_CAPTURE_EXCLUDE",
    "DRIFTWATCH_CAPTURE_HASH",
    "DRIFTWATCH_CAPTURE_HASH_KEY",
)

VALUES: dict[str, Any] = {
    "capture": {"sampleRate": 0.5, "hashKeySecret": {"name": "release-capture-key", "key": "hmac"}},
    "models": [
        {"name": "churn", "source": {"builtin": True}, "capturePrefix": ""},
        {
            "name": "fraud",
            "source": {"uri": "s3://models/fraud/v3"},
            "capture": {
                "sampleRate": 0.1,
                "exclude": ["email", "phone"],
                "hash": ["customer_id", "region"],
                "hashKeySecret": {"name": "fraud-capture-key", "key": "hmac-key"},
            },
        },
        {"name": "upsell", "source": {"builtin": True}, "capture": {"hash": ["customer_id"]}},
    ],
}


def write_values(directory: Path, values: dict[str, Any]) -> Path:
    path = directory / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.fixture(scope="module", params=HELMS)
def objects(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return render(request.param, write_values(tmp_path_factory.mktemp("capture-controls"), VALUES))


def env_of(objects: list[dict[str, Any]], model: str) -> dict[str, dict[str, Any]]:
    (deployment,) = (
        d
        for d in by_kind(objects, "Deployment")
        if d["metadata"]["name"] == f"dw-driftwatch-inference-{model}"
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {var["name"]: var for var in container["env"]}


def test_a_model_s_own_controls_reach_its_environment(objects: list[dict[str, Any]]) -> None:
    env = env_of(objects, "fraud")
    assert env["DRIFTWATCH_CAPTURE_SAMPLE_RATE"]["value"] == "0.1"
    assert env["DRIFTWATCH_CAPTURE_EXCLUDE"]["value"] == "email,phone"
    assert env["DRIFTWATCH_CAPTURE_HASH"]["value"] == "customer_id,region"


def test_the_hash_key_comes_only_from_the_model_s_secret(objects: list[dict[str, Any]]) -> None:
    key = env_of(objects, "fraud")["DRIFTWATCH_CAPTURE_HASH_KEY"]
    assert key == {
        "name": "DRIFTWATCH_CAPTURE_HASH_KEY",
        "valueFrom": {"secretKeyRef": {"name": "fraud-capture-key", "key": "hmac-key"}},
    }


def test_a_model_without_its_own_inherits_the_release_rate_and_key_secret(
    objects: list[dict[str, Any]],
) -> None:
    env = env_of(objects, "upsell")
    assert env["DRIFTWATCH_CAPTURE_SAMPLE_RATE"]["value"] == "0.5"
    assert env["DRIFTWATCH_CAPTURE_HASH"]["value"] == "customer_id"
    assert env["DRIFTWATCH_CAPTURE_HASH_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "release-capture-key",
        "key": "hmac",
    }
    assert "DRIFTWATCH_CAPTURE_EXCLUDE" not in env  # exclude and hash are never inherited


def test_a_model_hashing_nothing_does_not_reference_the_key_secret(objects: list[dict[str, Any]]) -> None:
    env = env_of(objects, "churn")
    assert env["DRIFTWATCH_CAPTURE_SAMPLE_RATE"]["value"] == "0.5"
    assert not {"DRIFTWATCH_CAPTURE_HASH", "DRIFTWATCH_CAPTURE_HASH_KEY"} & env.keys()


def test_default_values_render_no_capture_controls() -> None:
    env = env_of(render("v35", None), "churn")
    assert not set(CAPTURE_VARS) & env.keys()


def _refused(
    tmp_path: Path, capture: dict[str, Any], *args: str, release: dict[str, Any] | None = None
) -> str:
    values: dict[str, Any] = {"models": [{"name": "fraud", "source": {"builtin": True}, "capture": capture}]}
    if release is not None:
        values["capture"] = release
    result = run_helm(
        "v35", "template", "dw", str(CHART), "--values", str(write_values(tmp_path, values)), *args
    )
    assert result.returncode != 0, "rendered"
    return result.stderr


@pytest.mark.parametrize("rate", [0, -0.1, 1.5])
def test_schema_refuses_a_model_sample_rate_outside_zero_to_one(rate: float, tmp_path: Path) -> None:
    assert "/models/0/capture/sampleRate" in _refused(tmp_path, {"sampleRate": rate})


def test_schema_refuses_a_release_sample_rate_of_zero(tmp_path: Path) -> None:
    assert "/capture/sampleRate" in _refused(tmp_path, {}, release={"sampleRate": 0})


@pytest.mark.parametrize(
    ("capture", "where"),
    [
        ({"exclude": ["email,phone"]}, "/models/0/capture/exclude/0"),
        ({"exclude": [" email"]}, "/models/0/capture/exclude/0"),
        ({"hash": ["id", "id"], "hashKeySecret": {"name": "k", "key": "k"}}, "/models/0/capture/hash"),
        ({"hash": ["id"], "hashKeySecret": {"name": "k"}}, "/models/0/capture/hashKeySecret"),
        (
            {"hash": ["id"], "hashKeySecret": {"name": "Not_A_Secret", "key": "k"}},
            "/models/0/capture/hashKeySecret/name",
        ),
        ({"sample": 0.1}, "/models/0/capture"),
    ],
    ids=[
        "comma-in-name",
        "space-around-name",
        "duplicate",
        "secret-without-key",
        "bad-secret-name",
        "unknown-key",
    ],
)
def test_schema_refuses_malformed_controls(capture: dict[str, Any], where: str, tmp_path: Path) -> None:
    assert where in _refused(tmp_path, capture)


@pytest.mark.parametrize("rate", [0, 2])
def test_the_render_refuses_a_rate_outside_zero_to_one_even_without_the_schema(
    rate: int, tmp_path: Path
) -> None:
    stderr = _refused(tmp_path, {"sampleRate": rate}, "--skip-schema-validation")
    assert f"models: fraud: capture.sampleRate is {rate}, outside (0, 1]" in stderr


def test_the_render_refuses_an_inherited_rate_naming_the_release_value(tmp_path: Path) -> None:
    stderr = _refused(tmp_path, {}, "--skip-schema-validation", release={"sampleRate": 0})
    assert "models: fraud: the release's capture.sampleRate is 0, outside (0, 1]" in stderr


def test_the_render_refuses_a_feature_both_excluded_and_hashed(tmp_path: Path) -> None:
    capture = {
        "exclude": ["email", "region"],
        "hash": ["region", "email"],
        "hashKeySecret": {"name": "k", "key": "k"},
    }
    assert "models: fraud: region, email both in capture.exclude and capture.hash; choose one" in _refused(
        tmp_path, capture
    )


def test_the_render_refuses_hashing_without_a_key_secret(tmp_path: Path) -> None:
    stderr = _refused(tmp_path, {"hash": ["customer_id"]})
    assert "models: fraud: capture.hash (customer_id) needs capture.hashKeySecret.name" in stderr


def test_the_render_refuses_a_key_secret_without_its_key(tmp_path: Path) -> None:
    stderr = _refused(
        tmp_path,
        {"hash": ["customer_id"]},
        "--skip-schema-validation",
        release={"hashKeySecret": {"name": "rel"}},
    )
    assert 'needs the release\'s capture.hashKeySecret.key, the key of Secret "rel"' in stderr


def test_schema_refuses_a_release_key_secret_without_its_key(tmp_path: Path) -> None:
    assert "/capture/hashKeySecret/key" in _refused(tmp_path, {}, release={"hashKeySecret": {"name": "rel"}})


@pytest.mark.parametrize("flavour", HELMS)
def test_set_on_the_command_line_passes_decimal_rates_as_helm_types_them(flavour: str) -> None:
    # `--set` types 0.25 as the string "0.25" (helm parses only integers and booleans): it must render
    # as the number a values file gives, for the release default and for a model's own rate.
    objects = render(
        flavour,
        None,
        "capture.sampleRate=0.25",
        "models[0].name=churn",
        "models[0].source.builtin=true",
        "models[1].name=fraud",
        "models[1].source.builtin=true",
        "models[1].capture.sampleRate=.1",
    )
    assert env_of(objects, "churn")["DRIFTWATCH_CAPTURE_SAMPLE_RATE"]["value"] == "0.25"
    assert env_of(objects, "fraud")["DRIFTWATCH_CAPTURE_SAMPLE_RATE"]["value"] == ".1"


@pytest.mark.parametrize("rate", ["0.0", "1.5", "0.1x", "1e-3"])
def test_schema_refuses_a_decimal_string_rate_outside_zero_to_one(rate: str) -> None:
    result = run_helm("v35", "template", "dw", str(CHART), "--set", f"capture.sampleRate={rate}")
    assert result.returncode != 0, "rendered"
    assert "/capture/sampleRate" in result.stderr
