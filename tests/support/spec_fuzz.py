"""DriftCheck specs for fuzzing, from the CRD's own openAPIV3Schema: valid ones and ones one mistake away.

`valid_specs()` is hypothesis-jsonschema's `from_schema` over `spec` as the CRD declares it, made a JSON
Schema (OpenAPI's `nullable` as a null type, undeclared fields refused as a structural schema does; the
schemaless `retrain.jobTemplate` narrowed to an empty one or a small valid one, so that its size stays
sane). `just_invalid_specs(base)` takes a spec the API server accepts and makes one mistake in it, drawn
from the same schema: a value out of its enum, range, length or pattern, the wrong type, an unknown field,
or a required field removed; each case names the field an API server's answer must name.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hypothesis_jsonschema._from_schema
import yaml
from hypothesis import strategies as st
from hypothesis.internal.conjecture import utils as conjecture_utils
from hypothesis_jsonschema import from_schema

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "charts" / "driftwatch" / "crds" / "driftcheck.yaml"
# A map key wherever the schema has additionalProperties (spec.drift.perColumn): a column of the base spec.
MAP_KEY = "tenure"
UNKNOWN_FIELD = "fuzzUnknownField"
JOB_TEMPLATE = {
    "spec": {
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "retrain", "image": "example.org/retrain:1"}],
            }
        }
    }
}

Path_ = tuple[str, ...]


class _StepwiseMany:
    """Hypothesis' `many()` driven by `more()` / `reject()` calls, as hypothesis-jsonschema drives it.

    hypothesis-jsonschema 0.23.1 (its latest release) draws an object's keys through that older interface
    of Hypothesis' internal `many()`, which recent Hypothesis (6.170, the version schemathesis brings)
    replaced by a `with many(...) as elements: for _ in elements:` block: every object schema fails with
    `AttributeError: 'many' object has no attribute 'more'`. This steps the new block by hand.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._many = conjecture_utils.many(*args, **kwargs)
        self._elements: Iterator[None] | None = None

    def more(self) -> bool:
        if self._elements is None:
            self._elements = iter(self._many.__enter__())
        try:
            next(self._elements)
        except StopIteration:
            self._many.__exit__(None, None, None)
            return False
        return True

    def reject(self) -> None:
        self._many.reject()


if not hasattr(conjecture_utils.many, "more"):
    hypothesis_jsonschema._from_schema.cu = SimpleNamespace(many=_StepwiseMany)  # type: ignore[assignment]


@dataclass(frozen=True)
class Case:
    """One generated spec: `kind` is "valid" or the mistake made; `field` the path an answer must name."""

    kind: str
    spec: dict[str, Any]
    field: str = ""

    def named_in(self, message: str) -> bool:
        """Whether an API server's or the controller's message names this case's field."""
        if not self.field:
            return "spec" in message
        dotted = self.field
        bracketed = re.sub(rf"\.({re.escape(MAP_KEY)})(?=\.|$)", r"[\1]", dotted)
        return dotted in message or bracketed in message


def crd_spec_schema() -> dict[str, Any]:
    """`spec`'s openAPIV3Schema as the CRD declares it (charts/driftwatch/crds/driftcheck.yaml)."""
    crd = yaml.safe_load(CRD.read_text(encoding="utf-8"))
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


def go_pattern(pattern: str) -> str:
    """A CRD pattern (Go's RE2) as Python's `re` reads it: RE2's `\\s` is ASCII whitespace only, and its `$`
    is the end of the text (Python's also matches before a final newline)."""
    pattern = pattern.replace(r"\s", r"[\t\n\f\r ]")
    return pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern


def to_json_schema(node: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAPI v3 (Kubernetes structural) schema as the JSON Schema it means to the API server."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("description", "default", "x-kubernetes-preserve-unknown-fields", "nullable"):
            continue
        if key == "pattern":
            out[key] = go_pattern(value)
        elif key == "properties":
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = to_json_schema(value)
        else:
            out[key] = copy.deepcopy(value)
    if node.get("x-kubernetes-preserve-unknown-fields"):
        # Schemaless in the CRD: an empty template (Ready=False unless mode is Off) or a valid one.
        return {"anyOf": [{"const": {}}, {"const": JOB_TEMPLATE}]}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False  # a structural schema: unknown fields are refused (Strict)
    if node.get("nullable"):
        out["type"] = [out["type"], "null"]
    return out


def valid_specs() -> st.SearchStrategy[Case]:
    return from_schema(to_json_schema(crd_spec_schema())).map(lambda spec: Case("valid", spec))


def _leaves(schema: Mapping[str, Any], path: Path_ = ()) -> list[tuple[Path_, Mapping[str, Any]]]:
    """Every declared field below `schema`, with its schema (map values under MAP_KEY)."""
    found: list[tuple[Path_, Mapping[str, Any]]] = []
    for name, sub in (schema.get("properties") or {}).items():
        found.append(((*path, name), sub))
        found += _leaves(sub, (*path, name))
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        found.append(((*path, MAP_KEY), extra))
        found += _leaves(extra, (*path, MAP_KEY))
    return found


def _dotted(path: Path_) -> str:
    return ".".join(("spec", *path))


def _set(spec: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    node = out
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value
    return out


def _wrong_type(kind: str) -> list[Any]:
    """Values of another JSON type than `kind` (an integral 2.0 is an integer to the API server)."""
    return {
        "string": [12, True, ["a"], {"a": 1}],
        "integer": ["7", 1.5, True, [1]],
        "number": ["0.5", True, [0.5]],
        "boolean": ["yes", 1, [True]],
        "array": ["tenure", 3, {"a": 1}],
        "object": ["text", 3, ["a"]],
    }[kind]


def _mistakes(path: Path_, schema: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(kind of mistake, value) pairs that break `schema` at `path` and nothing else."""
    out: list[tuple[str, Any]] = []
    kind = schema.get("type")
    if "enum" in schema:
        out += [("enum", v) for v in ("magic", "AUTO", "none ") if v not in schema["enum"]]
    if kind in ("integer", "number"):
        step = 1 if kind == "integer" else 0.5
        if "minimum" in schema:
            out.append(("range", schema["minimum"] - step))
        if "maximum" in schema:
            out.append(("range", schema["maximum"] + step))
    if kind == "string":
        if schema.get("minLength"):
            out.append(("range", ""))
        if "maxLength" in schema:
            out.append(("range", "a" * (schema["maxLength"] + 1)))
        if "pattern" in schema:
            pattern = re.compile(go_pattern(schema["pattern"]))
            for value in ("has space !", "UPPER CASE", "1 hour", "-x-", "é"):
                if not pattern.search(value):
                    out.append(("pattern", value))
    if kind == "array" and "maxItems" in schema:
        out.append(("range", [f"c{i}" for i in range(schema["maxItems"] + 1)]))
    if kind == "object" and "maxProperties" in schema:
        out.append(("range", {f"c{i}": {} for i in range(schema["maxProperties"] + 1)}))
    if kind:
        out += [("type", v) for v in _wrong_type(str(kind))]
    return out


def mistakes(schema: Mapping[str, Any]) -> list[tuple[str, Path_, Any]]:
    """Every one-mistake change the schema allows to state: (kind, path, value); value None = removed."""
    out: list[tuple[str, Path_, Any]] = []
    for path, sub in _leaves(schema):
        if sub.get("x-kubernetes-preserve-unknown-fields"):
            continue
        out += [(kind, path, value) for kind, value in _mistakes(path, sub)]
    objects = [((), schema), *((p, s) for p, s in _leaves(schema) if s.get("type") == "object")]
    for path, sub in objects:
        if "properties" in sub and not sub.get("x-kubernetes-preserve-unknown-fields"):
            out.append(("unknown", (*path, UNKNOWN_FIELD), 1))
        for name in sub.get("required") or []:
            out.append(("missing", (*path, name), None))
    return out


def apply_mistake(base: Mapping[str, Any], kind: str, path: Path_, value: Any) -> Case:
    spec = copy.deepcopy(dict(base))
    if kind == "missing":
        node = spec
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]
    else:
        spec = _set(spec, path, value)
    return Case(kind, spec, _dotted(path))


def just_invalid_specs(base: Mapping[str, Any]) -> st.SearchStrategy[Case]:
    """`base` (accepted by the API server, every required field present) with one mistake."""
    return st.sampled_from(mistakes(crd_spec_schema())).map(lambda m: apply_mistake(base, *m))


def _cron_field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    """One field of a five-field schedule, its edges included: the bounds and one past them, open ranges,
    steps of 0, names and `?` (the CRD's pattern lets letters through: those are the valid specs' part)."""
    number = st.sampled_from([low, low + 1, (low + high) // 2, high - 1, high, high + 1])
    atom = st.one_of(
        number.map(str),
        st.just("*"),
        st.just("?"),
        st.tuples(number, number).map(lambda r: f"{r[0]}-{r[1]}"),
        number.map(lambda n: f"{n}-"),
        st.tuples(st.sampled_from(["*", str(low)]), st.integers(0, high + 1)).map(lambda s: f"{s[0]}/{s[1]}"),
        *([st.sampled_from(names)] if names else []),
    )
    return st.lists(atom, min_size=1, max_size=2).map(",".join)


def cron_schedules() -> st.SearchStrategy[str]:
    """Five-field schedules the CRD's pattern accepts, near the edges of each field's range."""
    months = ("jan", "DEC", "feb-mar")
    days = ("sun", "MON", "mon-fri", "sat")
    return st.tuples(
        _cron_field(0, 59),
        _cron_field(0, 23),
        _cron_field(1, 31),
        _cron_field(1, 12, months),
        _cron_field(0, 6, days),
    ).map(" ".join)


def scheduled_specs(base: Mapping[str, Any]) -> st.SearchStrategy[Case]:
    """`base` with a schedule from `cron_schedules()`: valid for the CRD, not always for a CronJob.
    Suspended: an every-minute schedule would run check pods for the whole test."""
    return cron_schedules().map(
        lambda schedule: Case(
            "schedule", {**copy.deepcopy(dict(base)), "schedule": schedule, "suspend": True}, "spec.schedule"
        )
    )
