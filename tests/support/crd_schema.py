"""The DriftCheck CRD's OpenAPI schema as a strict JSON Schema, standing in for the API server.

The emulator neither validates nor prunes, so tests validate what was written with this: each
`nullable` becomes a null type, and every object that declares `properties` (and does not preserve
unknown fields) rejects other keys, so a status field the CRD does not declare fails the test
instead of being pruned silently on a real cluster.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRD_PATH = Path(__file__).resolve().parents[2] / "charts" / "driftwatch" / "crds" / "driftcheck.yaml"
_KEYWORDS = ("pattern", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems",
             "maxProperties", "required", "format")  # fmt: skip


def load_crd(path: Path = CRD_PATH) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {key: node[key] for key in _KEYWORDS if key in node}
    if "type" in node:
        out["type"] = [node["type"], "null"] if node.get("nullable") else node["type"]
    if "enum" in node:
        out["enum"] = [*node["enum"], None] if node.get("nullable") else list(node["enum"])
    if "properties" in node:
        out["properties"] = {k: to_json_schema(v) for k, v in node["properties"].items()}
        if not node.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in node:
            out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(node["additionalProperties"])
    if "items" in node:
        out["items"] = to_json_schema(node["items"])
    return out


@cache
def _schemas() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    crd = load_crd()
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return (
        to_json_schema(root),
        to_json_schema(root["properties"]["spec"]),
        to_json_schema(root["properties"]["status"]),
    )


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def object_errors(obj: dict[str, Any]) -> list[str]:
    """Why the API server would reject this DriftCheck (empty when it is valid)."""
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in _validator(_schemas()[0]).iter_errors(obj)
    ]


def status_errors(status: dict[str, Any]) -> list[str]:
    """Fields of a status the CRD does not declare, or of the wrong type (empty when it is valid)."""
    return [
        f"status.{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _validator(_schemas()[2]).iter_errors(status)
    ]


def run_outcome(**changes: Any) -> Any:
    """A check run's RunOutcome (a Drift/Investigate run of 8 columns), with `changes` applied: what
    the status tests write through `check_status` and validate against the CRD."""
    import dataclasses
    import datetime as dt

    from driftwatch_controller.api.status import Carried, RunOutcome

    base = RunOutcome(
        now=dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
        carried=Carried(),
        verdict="Drift",
        recommendation="Investigate",
        reason="r",
        measured=True,
        drift_share=0.0,
        drifted_columns=0,
        monitored_columns=8,
        rows={"reference": 10000, "current": 1200, "labelled": 300},
        window=None,
        thresholds="calibrated",
        columns=[],
        prediction_drift=None,
        target_drift=None,
        data_quality={},
        consecutive_drift_runs=1,
        last_retrain_recommendation=None,
    )
    return dataclasses.replace(base, **changes)
