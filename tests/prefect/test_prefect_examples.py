"""The Prefect examples hold: every manifest under manifests/prefect parses, and prefect.yaml's deployments
load the flow, pass its parameter validation and repeat their DriftCheck's schedule and time zone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from driftwatch_controller.prefect_flow.manifest import parse_manifest

EXAMPLES = ROOT / "manifests" / "prefect"
MANIFESTS = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "prefect.yaml")


def deployments() -> list[dict[str, object]]:
    return list(yaml.safe_load((EXAMPLES / "prefect.yaml").read_text(encoding="utf-8"))["deployments"])


@pytest.mark.unit
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_example_manifest_parses(path: Path) -> None:
    parsed = parse_manifest(path)
    assert parsed.name == yaml.safe_load(path.read_text(encoding="utf-8"))["metadata"]["name"]
    if parsed.spec.retrain.mode != "Off":
        assert parsed.retrain_deployment


@pytest.mark.unit
def test_prefect_yaml_repeats_the_manifests_schedule() -> None:
    check = parse_manifest(EXAMPLES / "churn-check.yaml")
    found = deployments()
    assert len(found) == 2
    for deployment in found:
        assert deployment["schedules"] == [{"cron": check.spec.schedule, "timezone": check.spec.time_zone}]
        assert f"driftwatch-check:{check.name}" in deployment["tags"]  # type: ignore[operator]
    assert (ROOT / str(found[0]["parameters"]["manifest"])).is_file()  # type: ignore[index]


PROBE = """
import json, sys
from prefect.utilities.importtools import import_object
from driftwatch_controller.prefect_flow.flow import drift_check_flow
for deployment in json.loads(sys.argv[1]):
    flow = import_object(deployment["entrypoint"])
    assert flow is drift_check_flow, deployment["entrypoint"]
    flow.validate_parameters(deployment["parameters"])
print(len(json.loads(sys.argv[1])))
"""


@pytest.mark.integration
def test_prefect_yaml_entrypoints_load_the_flow_with_valid_parameters(prefect_venv: Path) -> None:
    result = subprocess.run(
        [str(prefect_venv / "bin" / "python"), "-c", PROBE, json.dumps(deployments())],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "2"
