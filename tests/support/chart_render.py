"""Render charts/driftwatch with the real helm 3 and helm 4 binaries, for the chart and monitoring tests."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "driftwatch"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
HELMS = ("v34", "v35")  # helm 3.19 and helm 4.1 from .tools/ (scripts/install_tools.py)
RELEASE = "dw"
NAMESPACE = "driftwatch"
# Where the vendored prometheus-operator CRD schemas sit: beside the clone (CI) or in /work/shared.
SCHEMAS = ROOT.parent / "shared" / "schemas" / "prometheus-operator"


def helm(flavour: str) -> str:
    path = ROOT / ".tools" / flavour / "helm"
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: run `make tools`")
    return str(path)


def run_helm(flavour: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(flavour), *args], capture_output=True, text=True, timeout=120, check=False)


@functools.cache
def render_text(flavour: str, values: Path | None, *sets: str) -> str:
    """`helm template` output (cached: each test reads the same render)."""
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--include-crds"]
    if values is not None:
        args += ["--values", str(values)]
    for item in sets:
        args += ["--set", item]
    result = run_helm(flavour, *args)
    if result.returncode != 0:
        raise AssertionError(f"helm template failed ({flavour}, {values}):\n{result.stderr}")
    return result.stdout


def render(flavour: str = "v35", values: Path | None = None, *sets: str) -> list[dict[str, Any]]:
    """Every object `helm template` renders, in order (documents that are empty are dropped)."""
    return [doc for doc in yaml.safe_load_all(render_text(flavour, values, *sets)) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj.get("kind") == kind]


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind/name, pod spec) of every workload and bare Pod."""
    for obj in objects:
        kind, name = obj.get("kind"), obj.get("metadata", {}).get("name")
        spec = obj.get("spec", {})
        if kind == "Pod":
            yield f"{kind}/{name}", spec
        elif kind in {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}:
            yield f"{kind}/{name}", spec["template"]["spec"]
        elif kind == "CronJob":
            yield f"{kind}/{name}", spec["jobTemplate"]["spec"]["template"]["spec"]


def prometheus_rule_groups(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rule groups of the rendered PrometheusRule (promtool rejects the CR wrapper)."""
    rules = by_kind(objects, "PrometheusRule")
    assert len(rules) == 1, f"expected one PrometheusRule, got {len(rules)}"
    groups: list[dict[str, Any]] = rules[0]["spec"]["groups"]
    return groups
