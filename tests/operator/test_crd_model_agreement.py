"""The CRD users read and the typed spec the code runs state the same fields, defaults, enums and rules."""

from __future__ import annotations

from typing import Any

import pytest
from driftwatch_controller.api.spec import DriftCheckSpec
from support.crd_schema import load_crd

pytestmark = pytest.mark.unit

RULES = ("default", "enum", "pattern", "minimum", "maximum", "minLength", "maxLength", "maxItems",
         "maxProperties")  # fmt: skip
# Local runs (`driftwatch check`, no CronJob) give no schedule: the model has a default for them,
# and requires it when parsing for a cluster (tested in test_spec.py).
LOCAL_DEFAULTS = {"spec.schedule"}


def _crd_spec() -> dict[str, Any]:
    version = load_crd()["spec"]["versions"][0]
    return dict(version["schema"]["openAPIV3Schema"]["properties"]["spec"])


def _model_spec() -> dict[str, Any]:
    schema = DriftCheckSpec.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve({**defs[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items()
                                                                           if k != "$ref"}})  # fmt: skip
            # `X | None` is anyOf [X, null]: the CRD says `nullable` or leaves the field out.
            options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
            if len(options) == 1:
                rest = {k: v for k, v in node.items() if k != "anyOf"}
                return resolve({**options[0], **rest})
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return dict(resolve(schema))


def _walk(crd: dict[str, Any], model: dict[str, Any], path: str) -> list[str]:
    problems = []
    for rule in RULES:
        want, have = crd.get(rule), model.get(rule)
        if rule == "default" and want is None and have in (None, [], {}):
            continue  # no default in the CRD: the model's empty value means "not given"
        if isinstance(want, list) or isinstance(have, list | tuple):
            want, have = list(want or []), list(have or [])
        if want != have and not (rule == "default" and path in LOCAL_DEFAULTS):
            problems.append(f"{path}: {rule} is {want!r} in the CRD, {have!r} in the model")
    crd_fields, model_fields = crd.get("properties") or {}, model.get("properties") or {}
    for name in sorted(set(crd_fields) ^ set(model_fields)):
        where = "the CRD" if name in crd_fields else "the model"
        problems.append(f"{path}.{name} is only in {where}")
    for name in sorted(set(crd_fields) & set(model_fields)):
        problems += _walk(crd_fields[name], model_fields[name], f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(crd.get(key), dict):
            problems += _walk(crd[key], model.get(key) or {}, f"{path}[{key}]")
    return problems


def test_the_crd_and_the_model_agree_on_every_field_default_enum_and_pattern() -> None:
    assert _walk(_crd_spec(), _model_spec(), "spec") == []


def test_the_crd_and_the_model_require_the_same_fields() -> None:
    crd, model = _crd_spec(), _model_spec()
    assert set(crd["required"]) - {p.rsplit(".", 1)[-1] for p in LOCAL_DEFAULTS} == set(model["required"])
    for section in ("reference", "current"):
        assert crd["properties"][section]["required"] == model["properties"][section]["required"]


def test_the_agreement_check_sees_a_difference() -> None:
    # The comparison itself: a default changed on one side only is reported with its path.
    crd = _crd_spec()
    crd["properties"]["policy"]["properties"]["retrainShare"]["default"] = 0.6
    assert _walk(crd, _model_spec(), "spec") == [
        "spec.policy.retrainShare: default is 0.6 in the CRD, 0.5 in the model"
    ]
