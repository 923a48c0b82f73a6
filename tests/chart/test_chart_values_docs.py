"""Every value in values.yaml is documented with a `# --` line and typed in values.schema.json."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from support.chart_render import CHART

pytestmark = pytest.mark.unit

VALUES = CHART / "values.yaml"
SCHEMA = json.loads((CHART / "values.schema.json").read_text())


def leaves(node: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of every documented value: scalars, lists and maps that are empty or free-form."""
    if isinstance(node, dict) and node and not free_form(path):
        return [p for key, child in node.items() for p in leaves(child, (*path, key))]
    return [path]


def schema_at(path: tuple[str, ...]) -> dict[str, Any] | None:
    node: dict[str, Any] = SCHEMA
    for key in path:
        props = node.get("properties", {})
        if key not in props:
            return None
        node = props[key]
    return node


def free_form(path: tuple[str, ...]) -> bool:
    """A map the schema leaves open (resources, security contexts, labels): documented as one value."""
    node = schema_at(path)
    return bool(path) and node is not None and node.get("type") == "object" and "properties" not in node


def documented_keys() -> set[tuple[str, ...]]:
    """Paths of keys whose line is directly preceded by a `# --` comment (helm-docs style)."""
    found: set[tuple[str, ...]] = set()
    stack: list[tuple[int, str]] = []
    previous = ""
    for line in VALUES.read_text().splitlines():
        match = re.match(r"^(\s*)([A-Za-z_][\w-]*):", line)
        if match:
            indent, key = len(match.group(1)), match.group(2)
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, key))
            if previous.strip().startswith("# --"):
                found.add(tuple(k for _, k in stack))
        if line.strip():
            previous = line
    return found


VALUE_PATHS = leaves(yaml.safe_load(VALUES.read_text()))


def test_values_yaml_has_values() -> None:
    assert len(VALUE_PATHS) > 60


@pytest.mark.parametrize("path", VALUE_PATHS, ids=".".join)
def test_value_is_documented_and_typed(path: tuple[str, ...]) -> None:
    assert path in documented_keys(), f"{'.'.join(path)} has no `# --` comment in values.yaml"
    node = schema_at(path)
    assert node is not None, f"{'.'.join(path)} is not in values.schema.json"
    assert "type" in node
    assert node.get("description")


def test_schema_has_no_value_missing_from_values_yaml() -> None:
    values = yaml.safe_load(VALUES.read_text())

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> list[str]:
        missing = []
        for key, child in node.get("properties", {}).items():
            here = (*path, key)
            current: Any = values
            present = True
            for part in here:
                present = isinstance(current, dict) and part in current
                current = current[part] if present else None
            if not present and key != "global":
                missing.append(".".join(here))
            elif "properties" in child:
                missing += walk(child, here)
        return missing

    assert walk(SCHEMA, ()) == []


def test_values_named_in_the_chart_readme_exist() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load(VALUES.read_text())
    top = "inference|controller|check|monitoring|data|capture|rbac|driftChecks"
    named = set(re.findall(rf"`((?:{top})(?:\.[A-Za-z]\w*)*)(?:\.\*)?`", readme))
    assert named
    missing = []
    for path in sorted(named):
        node: Any = values
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(path)
                break
            node = node[part]
    assert missing == []
