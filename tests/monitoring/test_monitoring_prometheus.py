"""Every PromQL of every dashboard panel and alert rule, evaluated by a real Prometheus that scraped the real
inference service and the real controller after traffic and a drift check.

A panel whose query matches no series shows "No data" and nobody notices; here it fails. The
infrastructure panels read cAdvisor/kube-state-metrics series that only exist on a cluster: they are
listed explicitly and only have to parse and evaluate.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from driftwatch_demo import synthetic
from prometheus_client.parser import text_string_to_metric_families
from support.chart_render import CHART, NAMESPACE, prometheus_rule_groups, render
from support.inference_server import InferenceService, running_inference_service
from support.prometheus_server import PrometheusServer, QueryError, running_prometheus

pytestmark = pytest.mark.integration

DASHBOARDS = sorted((CHART / "files" / "dashboards").glob("*.json"))
# Jobs as a ServiceMonitor names them on a cluster: the Service name (release "dw").
INFERENCE_JOB = "dw-driftwatch-inference"
CONTROLLER_JOB = "dw-driftwatch-controller"
# Panels over cAdvisor / kube-state-metrics series (collected by kube-prometheus-stack on a cluster).
INFRASTRUCTURE_PANELS = {
    ("driftwatch / Overview", "CPU by pod"),
    ("driftwatch / Overview", "Memory by pod"),
    ("driftwatch / Overview", "Container restarts (1h)"),
}
METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
CONTROLLER_HELPER = Path(__file__).resolve().parents[1] / "support" / "controller.py"
# Grafana's variables, as "All" selects them (regex matchers), and its rate interval.
SUBSTITUTIONS = {
    "$namespace": ".*",
    "$model": ".*",
    "$driftcheck": ".*",
    "$__rate_interval": "1m",
}


def substitute(expr: str) -> str:
    for name in sorted(SUBSTITUTIONS, key=len, reverse=True):
        expr = expr.replace(name, SUBSTITUTIONS[name])
    assert "$" not in expr.replace("${1}", ""), f"unsubstituted variable in {expr}"
    return expr


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str

    @property
    def infrastructure(self) -> bool:
        return (self.dashboard, self.panel) in INFRASTRUCTURE_PANELS

    @property
    def drift(self) -> bool:
        return "driftwatch_drift_" in self.expr

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref_id}"


def panel_queries() -> list[PanelQuery]:
    queries = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                queries.append(PanelQuery(board["title"], panel["title"], target["refId"], target["expr"]))
    return queries


def variable_queries() -> list[PanelQuery]:
    """Each `label_values(metric, label)` variable as the PromQL Grafana runs for it."""
    queries = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for variable in board["templating"]["list"]:
            query = variable.get("query")
            if isinstance(query, dict):
                match = re.fullmatch(r"label_values\((.+), (\w+)\)", query["query"])
                assert match, query
                expr = f"group by ({match.group(2)}) ({match.group(1)})"
                queries.append(PanelQuery(board["title"], f"${variable['name']}", "var", expr))
    return queries


def rule_expressions() -> list[tuple[str, str]]:
    groups = prometheus_rule_groups(render("v35", None))
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"]]


ALL_PANEL_QUERIES = panel_queries()


@dataclass
class Stack:
    prometheus: PrometheusServer
    inference: InferenceService
    regression: InferenceService
    controller: bool
    why_no_controller: str = ""
    controller_metrics_url: str = ""


def drive_traffic(url: str) -> None:
    """Valid predictions (single and batch), every kind of bad request, feedback, the model card."""
    rows = synthetic.records(synthetic.generate(400, seed=7))
    with httpx.Client(base_url=url, timeout=30) as client:
        request_ids = []
        for start in range(0, 300, 50):
            response = client.post("/v1/predict", json={"instances": rows[start : start + 50]})
            assert response.status_code == 200, response.text
            request_ids += [p["request_id"] for p in response.json()["predictions"]]
        for row in rows[300:340]:
            assert client.post("/v1/predict", json=row).status_code == 200
        record = rows[0]
        bad = [
            {k: v for k, v in record.items() if k != "tenure_months"},
            {**record, "tenure_months": "12"},
            {**record, "extra": 1},
            {"instances": []},
        ]
        for body in bad:
            assert 400 <= client.post("/v1/predict", json=body).status_code < 500
        # Values the card does not list are scored and counted (`unseen: accept`), not refused.
        for body in ({**record, "contract": "weekly"}, {**record, "tenure_months": -5}):
            assert client.post("/v1/predict", json=body).status_code == 200
        malformed = client.post(
            "/v1/predict", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert 400 <= malformed.status_code < 500
        for index, request_id in enumerate(request_ids[:30]):
            answer = client.post("/v1/feedback", json={"request_id": request_id, "label": index % 2})
            assert answer.status_code == 202, answer.text
        assert client.get("/v1/model").status_code == 200
        assert client.get("/no-such-route").status_code == 404


def run_drift_check(stack: ExitStack, workdir: Path, inference: InferenceService) -> str:
    """Controller + emulator; a DriftCheck over the captured rows; its check run once. Returns metrics URL."""
    from support.controller import running_controller

    cluster = stack.enter_context(running_controller(workdir / "cluster"))
    check = {
        "apiVersion": "driftwatch.io/v1alpha1",
        "kind": "DriftCheck",
        "metadata": {"name": "churn-hourly", "namespace": NAMESPACE},
        "spec": {
            "model": "churn",
            "schedule": "0 * * * *",
            "reference": {"uri": (inference.model_dir / "reference.parquet").as_uri()},
            "current": {"uri": (inference.capture_dir / "churn").as_uri(), "window": "1h", "minRows": 100},
            "columns": {"prediction": "probability", "target": "churned"},
            # drive_traffic labels 30 rows: enough here for realized metrics, so every performance
            # series (reference, realized, estimated, bounds, drop, coverage) exists.
            "policy": {"performance": {"minLabelledRows": 20}, "segmentShare": 0.5},
            # Drift per segment: ~70 rows a region here, so a low minRows measures each (its panel's series).
            "segments": {"columns": ["region"], "minRows": 20},
            # Multivariate drift is off by default: on here, so its panel's series exist.
            "drift": {"multivariate": {"enabled": True}},
        },
    }
    cluster.apply(check)
    cluster.wait_for(
        lambda: cluster.get("cronjobs", NAMESPACE, "driftcheck-churn-hourly"), what="the CronJob"
    )
    result = cluster.run_cronjob(NAMESPACE, "driftcheck-churn-hourly")
    assert result.returncode == 0, result.stdout + result.stderr
    cluster.wait_for(
        lambda: "driftwatch_drift_share{" in cluster.metrics(),
        what="the drift share on the controller's /metrics",
    )
    from support.controller import metric_value
    from support.crd_schema import status_errors

    metrics = cluster.metrics()
    status = (cluster.get("driftchecks", NAMESPACE, "churn-hourly") or {}).get("status", {})
    for kind in ("reference", "realized", "estimated"):
        series = metric_value(metrics, "driftwatch_drift_performance", metric="roc_auc", kind=kind)
        assert series is not None, f"no {kind} roc_auc series: {status.get('performance')}"
    multivariate = metric_value(metrics, "driftwatch_multivariate_drift_value")
    assert multivariate is not None, status.get("multivariate")
    assert metric_value(metrics, "driftwatch_segment_drift_share") is not None, status.get("segments")
    # The emulator prunes nothing: the status a real check wrote, performance included, is declared.
    assert status_errors(status) == []
    return cluster.metrics_url


def wait_for_capture(capture: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(list(capture.glob("churn/date=*/hour=*/*.parquet"))) > 0:
            return
        time.sleep(0.2)
    raise TimeoutError(f"no capture file under {capture}")


def drive_regression_traffic(url: str) -> None:
    """Predictions of the regression model, singly and in a batch, and numeric labels."""
    rows = synthetic.records(synthetic.generate(120, seed=8))
    with httpx.Client(base_url=url, timeout=30) as client:
        batch = client.post("/v1/predict", json={"instances": rows[:100]})
        assert batch.status_code == 200, batch.text
        for row in rows[100:]:
            assert client.post("/v1/predict", json=row).status_code == 200
        for prediction in batch.json()["predictions"][:20]:
            label = {"request_id": prediction["request_id"], "label": prediction["prediction"] * 1.1}
            assert client.post("/v1/feedback", json=label).status_code == 202


def regression_model_dir(workdir: Path) -> Path:
    """A user's regression Pipeline (next month's bill), packaged as `driftwatch-inference package` does."""
    from driftwatch_inference.cli import main as inference_cli
    from sklearn.linear_model import Ridge
    from support.user_models import FEATURES, dump_user_files, user_pipeline

    data = synthetic.generate(600, seed=5)
    data = data[FEATURES].assign(spend=data["monthly_charges"] * 1.1 + data["data_usage_gb"] * 0.5)
    model = user_pipeline(Ridge()).fit(data[FEATURES], data["spend"])
    model_file, reference = dump_user_files(workdir / "spend-user", model, data)
    out = workdir / "spend-model"
    args = ["package", "--model", str(model_file), "--reference", str(reference), "--target", "spend"]
    assert inference_cli([*args, "--name", "spend", "--out", str(out)]) == 0
    return out


def scrape_config(job: str, *urls: str, honor_labels: bool = False) -> dict[str, Any]:
    parts = [urlsplit(url) for url in urls]
    return {
        "job_name": job,
        "honor_labels": honor_labels,
        "metrics_path": parts[0].path or "/metrics",
        "static_configs": [{"targets": [p.netloc for p in parts], "labels": {"namespace": NAMESPACE}}],
    }


def all_rules_evaluated(prometheus: PrometheusServer) -> bool:
    rules = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
    # A rule not evaluated yet reports the zero time.
    return bool(rules) and all(not r["lastEvaluation"].startswith("0001") for r in rules)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("monitoring")
    rules = workdir / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": prometheus_rule_groups(render("v35", None))}, sort_keys=False))
    (workdir / "inference").mkdir()
    with ExitStack() as resources:
        inference = resources.enter_context(
            running_inference_service(
                workdir / "inference", env={"DRIFTWATCH_CAPTURE_FLUSH_INTERVAL_S": "0.5"}
            )
        )
        # A second model, of another task, as a second release of the chart would serve it.
        (workdir / "spend").mkdir()
        spend = resources.enter_context(
            running_inference_service(workdir / "spend", model_dir=regression_model_dir(workdir))
        )
        configs = [scrape_config(INFERENCE_JOB, f"{inference.url}/metrics", f"{spend.url}/metrics")]
        drive_traffic(inference.url)
        drive_regression_traffic(spend.url)
        wait_for_capture(inference.capture_dir)
        controller, why, metrics_url = False, "", ""
        if CONTROLLER_HELPER.exists():
            metrics_url = run_drift_check(resources, workdir, inference)
            # The controller's series carry the DriftCheck's namespace: honor it, as the ServiceMonitor does.
            configs.append(scrape_config(CONTROLLER_JOB, metrics_url, honor_labels=True))
            controller = True
        else:
            why = "tests/support/controller.py (operator issue) is not there: drift panels cannot be fed"
        prometheus = resources.enter_context(
            running_prometheus(workdir / "prometheus", configs, rule_files=[rules])
        )
        # Traffic after the first scrapes, so that rates are not all zero.
        prometheus.wait_for(lambda: prometheus.query("driftwatch_model_info"), what="a first scrape")
        drive_traffic(inference.url)
        drive_regression_traffic(spend.url)
        prometheus.wait_for(
            lambda: prometheus.query("count_over_time(driftwatch_model_info[1m]) >= 4"), what="four scrapes"
        )
        if controller:
            prometheus.wait_for(
                lambda: prometheus.query("driftwatch_drift_share"), what="drift share scraped"
            )
        prometheus.wait_for(lambda: all_rules_evaluated(prometheus), what="every rule evaluated")
        yield Stack(prometheus, inference, spend, controller, why, metrics_url)


def test_scrape_targets_are_up(stack: Stack) -> None:
    up = {s["metric"]["job"]: s["value"][1] for s in stack.prometheus.query("up")}
    expected = {INFERENCE_JOB: "1", **({CONTROLLER_JOB: "1"} if stack.controller else {})}
    assert up == expected


def test_every_inference_panel_query_returns_series(stack: Stack) -> None:
    empty = []
    for query in ALL_PANEL_QUERIES:
        if query.infrastructure or query.drift:
            continue
        if not stack.prometheus.query(substitute(query.expr)):
            empty.append(str(query))
    assert empty == []


def test_every_drift_panel_query_returns_series(stack: Stack) -> None:
    if not stack.controller:
        pytest.skip(stack.why_no_controller)
    empty = [str(q) for q in ALL_PANEL_QUERIES if q.drift and not stack.prometheus.query(substitute(q.expr))]
    assert empty == []


def test_infrastructure_panels_are_listed_and_their_queries_evaluate(stack: Stack) -> None:
    infra = [q for q in ALL_PANEL_QUERIES if q.infrastructure]
    assert {(q.dashboard, q.panel) for q in infra} == INFRASTRUCTURE_PANELS
    for query in infra:
        assert isinstance(stack.prometheus.query(substitute(query.expr)), list)


def test_no_panel_query_errors(stack: Stack) -> None:
    errors = []
    for query in ALL_PANEL_QUERIES:
        try:
            stack.prometheus.query(substitute(query.expr))
        except QueryError as exc:
            errors.append(f"{query}: {exc}")
    assert errors == []


def test_dashboard_variables_find_values(stack: Stack) -> None:
    for query in variable_queries():
        if "driftwatch_drift_" in query.expr and not stack.controller:
            continue
        assert stack.prometheus.query(substitute(query.expr)), str(query)


def test_every_driftwatch_metric_the_dashboards_read_is_exposed(stack: Stack) -> None:
    """Also covers queries ending in `or vector(0)` (e.g. capture drops, which need a drop to exist)."""
    metadata = stack.prometheus.api("metadata")
    exposed = set(metadata)
    names = {n for q in ALL_PANEL_QUERIES for n in re.findall(r"\b(driftwatch_[a-z_]+)\{", q.expr)}
    if not stack.controller:
        names = {n for n in names if not n.startswith("driftwatch_drift_")}
    missing = []
    for name in sorted(names):
        # Metadata is keyed by family: histograms without _bucket/_sum/_count, some counters without _total.
        family = re.sub(r"_(bucket|sum|count|total)$", "", name)
        if name not in exposed and family not in exposed:
            missing.append(name)
    assert missing == []


def test_every_rule_expression_evaluates(stack: Stack) -> None:
    for alert, expr in rule_expressions():
        try:
            stack.prometheus.query(expr)
        except QueryError as exc:
            pytest.fail(f"{alert}: {exc}")


def test_prometheus_loaded_and_evaluated_every_rule_without_error(stack: Stack) -> None:
    rules = [r for g in stack.prometheus.api("rules")["groups"] for r in g["rules"]]
    assert {r["name"] for r in rules} == {alert for alert, _ in rule_expressions()}
    assert [(r["name"], r["lastError"]) for r in rules if r["health"] != "ok"] == []


def test_inference_alerts_stay_quiet_on_healthy_traffic(stack: Stack) -> None:
    alerts = stack.prometheus.api("alerts")["alerts"]
    inference_alerts = {a["labels"]["alertname"] for a in alerts if a["labels"].get("job") == INFERENCE_JOB}
    assert inference_alerts == set()


def test_drift_alerts_follow_the_driftcheck_status(stack: Stack) -> None:
    if not stack.controller:
        pytest.skip(stack.why_no_controller)
    drifted = bool(stack.prometheus.query('driftwatch_drift_verdict{verdict="Drift"} == 1'))

    def alert_states() -> dict[str, str]:
        return {a["labels"]["alertname"]: a["state"] for a in stack.prometheus.api("alerts")["alerts"]}

    # Rules run every second; give them a few evaluations over the scraped drift series.
    if drifted:
        stack.prometheus.wait_for(
            lambda: alert_states().get("DriftDetected") == "firing", timeout=20, what="DriftDetected firing"
        )
    degraded = bool(stack.prometheus.query("driftwatch_drift_performance_drop_significant == 1"))
    if degraded:
        stack.prometheus.wait_for(
            lambda: alert_states().get("ModelPerformanceDegraded") == "firing",
            timeout=20,
            what="ModelPerformanceDegraded firing",
        )
    states = alert_states()
    assert ("DriftDetected" in states) == drifted
    assert ("ModelPerformanceDegraded" in states) == degraded
    # The check ran and the DriftCheck is Ready: nothing says it is failing or stale.
    assert "DriftCheckFailing" not in states
    assert "DriftCheckStale" not in states


def exposed_families(metrics_text: str) -> set[str]:
    """driftwatch_* names as documented: counters keep `_total` (the parser strips it from the family)."""
    names = set()
    for family in text_string_to_metric_families(metrics_text):
        # prometheus_client adds a `<name>_created` gauge per counter and histogram: not part of the contract.
        if family.name.startswith("driftwatch_") and not family.name.endswith("_created"):
            names.add(f"{family.name}_total" if family.type == "counter" else family.name)
    return names


def test_docs_metrics_md_lists_exactly_what_the_services_expose(stack: Stack) -> None:
    """docs/metrics.md, the contract dashboards and alerts are written against: none missing, none stale."""
    contract = set(re.findall(r"^\| `(driftwatch_[a-z_]+)`", METRICS_DOC.read_text(), re.MULTILINE))
    exposed = set()
    for service in (stack.inference, stack.regression):
        exposed |= exposed_families(httpx.get(f"{service.url}/metrics", timeout=10).text)
    if stack.controller:
        exposed |= exposed_families(httpx.get(stack.controller_metrics_url, timeout=10).text)
    else:
        contract = {n for n in contract if not n.startswith(("driftwatch_drift_", "driftwatch_retrain_"))}
    assert sorted(exposed - contract) == [], "exposed but not in docs/metrics.md"
    assert sorted(contract - exposed) == [], "in docs/metrics.md but not exposed"
