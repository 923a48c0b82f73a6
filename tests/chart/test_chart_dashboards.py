"""The generated dashboards parse, every panel queries Prometheus, and every metric they read is in the
metrics contract (docs/metrics.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.chart_render import CHART, ROOT

DASHBOARDS = sorted((CHART / "files" / "dashboards").glob("*.json"))
CONTRACT = set(re.findall(r"`(driftwatch_[a-z_]+)`", (ROOT / "docs" / "metrics.md").read_text()))
# cAdvisor and kube-state-metrics series, collected by kube-prometheus-stack on a cluster.
INFRASTRUCTURE_METRICS = {
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    "kube_pod_container_status_restarts_total",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

pytestmark = pytest.mark.unit


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] not in {"row", "text"}]


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (identifiers followed by a selector or a range)."""
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", expr))
    return {n for n in names if n not in {"vector", "sum", "max", "min", "rate", "increase"}}


def test_three_dashboards_with_unique_uids() -> None:
    boards = [load(p) for p in DASHBOARDS]
    assert {b["title"] for b in boards} == {
        "driftwatch / Overview",
        "driftwatch / Inference",
        "driftwatch / Drift",
    }
    assert len({b["uid"] for b in boards}) == 3


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_panel_has_a_datasource_and_queries_with_refids(path: Path) -> None:
    board = load(path)
    assert panels(board)
    for panel in panels(board):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        targets = panel["targets"]
        assert targets, f"{panel['title']} has no query"
        ref_ids = [t["refId"] for t in targets]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]
        for target in targets:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == "${datasource}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_variables(path: Path) -> None:
    board = load(path)
    names = [v["name"] for v in board["templating"]["list"]]
    expected = ["datasource", "namespace", "model"] + ([] if path.stem == "inference" else ["driftcheck"])
    assert names == expected
    for variable in board["templating"]["list"][1:]:
        assert variable["includeAll"] is True
        assert variable["allValue"] == ".*"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_metric_a_panel_reads_is_in_the_contract(path: Path) -> None:
    for panel in panels(load(path)):
        for target in panel["targets"]:
            for name in metric_names(target["expr"]):
                base = name
                for suffix in HISTOGRAM_SUFFIXES:
                    if name.endswith(suffix) and name.removesuffix(suffix) in CONTRACT:
                        base = name.removesuffix(suffix)
                assert base in CONTRACT | INFRASTRUCTURE_METRICS, (
                    f"{panel['title']}: {name} is not in docs/metrics.md"
                )


def test_overview_has_one_row_per_layer_and_links_the_detailed_dashboards() -> None:
    board = load(CHART / "files" / "dashboards" / "overview.json")
    rows = [p["title"].split(":")[0] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["Infrastructure", "API", "Data", "Model"]
    assert {link["url"] for link in board["links"]} == {"/d/driftwatch-inference", "/d/driftwatch-drift"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboards_use_grafana_11_panels_and_schema(path: Path) -> None:
    board = load(path)
    # Grafana migrates older schema versions on load and may rewrite panels; 11.x writes 39 and up.
    assert board["schemaVersion"] >= 39
    kinds = {p["type"] for p in board["panels"]}
    assert kinds <= {"row", "text", "timeseries", "stat", "table", "heatmap", "state-timeline"}
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
