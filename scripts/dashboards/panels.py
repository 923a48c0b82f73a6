"""Shared building blocks of the driftwatch dashboards: datasource, variables, queries and panel shapes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import heatmap, prometheus, stat, statetimeline, table, text, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, StackingConfig
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import BigValueTextMode, StackingMode
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

# Every panel and variable queries the Prometheus chosen in the `datasource` variable, so the
# dashboards work with any datasource uid (kube-prometheus-stack provisions uid "prometheus").
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")

# Variables are regex matchers ("All" is ".*"), so every query filters with `=~"$var"`.
NS = 'namespace=~"$namespace"'
MODEL = 'model=~"$model"'
CHECK = 'driftcheck=~"$driftcheck"'
# The model's API; probes and /metrics would flatten the latency percentiles.
V1 = 'route=~"/v1/.*"'
INFERENCE = NS
DRIFT = f"{NS}, {MODEL}, {CHECK}"
# Pods driftwatch runs: the inference and controller Deployments and each DriftCheck's check pods.
DRIFTWATCH_PODS = 'pod=~".*-inference-.*|.*-controller-.*|driftcheck-.*"'

RATE = "$__rate_interval"

Query = tuple[str, str]  # (PromQL, legend)

REQUESTS = "driftwatch_http_requests_total"
DURATION = "driftwatch_http_request_duration_seconds_bucket"


def error_ratio(status_regex: str) -> str:
    # `or vector(0)`: no 5xx at all is a ratio of 0, not "No data".
    return (
        f'(sum(rate({REQUESTS}{{{INFERENCE}, status=~"{status_regex}"}}[{RATE}])) or vector(0))\n'
        f"/ sum(rate({REQUESTS}{{{INFERENCE}}}[{RATE}]))"
    )


def _targets(
    queries: Sequence[Query], *, instant: bool = False, fmt: PromQueryFormat | None = None
) -> list[Any]:
    """Prometheus targets with refIds A, B, C... (Grafana needs a unique refId per query)."""
    targets: list[Any] = []
    for index, (expr, legend) in enumerate(queries):
        target = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + index))
        target = target.datasource(DATASOURCE)
        target = target.instant() if instant else target.range()
        if fmt is not None:
            target = target.format(fmt)
        targets.append(target)
    return targets


class _QueriedPanel(Protocol):
    """The builder methods every panel kind of the SDK has (each kind is its own class)."""

    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def datasource(self, datasource: model.DataSourceRef) -> Self: ...
    def targets(self, targets: list[Any]) -> Self: ...
    def span(self, w: int) -> Self: ...
    def height(self, h: int) -> Self: ...


PanelT = TypeVar("PanelT", bound=_QueriedPanel)


def _framed(
    panel: PanelT, title: str, description: str, targets: list[Any], width: int, height: int
) -> PanelT:
    """Title, description, datasource variable, queries and size: every queried panel sets them."""
    return (
        panel.title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(targets)
        .span(width)
        .height(height)
    )


def latency_quantile(q: float) -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({DURATION}{{{INFERENCE}, {V1}}}[{RATE}])))"


def thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )


def timeseries_panel(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    width: int = 8,
    height: int = 8,
    stack: bool = False,
    min_value: float | None = 0,
    max_value: float | None = None,
) -> timeseries.Panel:
    panel = (
        _framed(timeseries.Panel(), title, description, _targets(queries), width, height)
        .unit(unit)
        .fill_opacity(10)
        .line_width(1)
    )
    if min_value is not None:
        panel = panel.min(min_value)
    if max_value is not None:
        panel = panel.max(max_value)
    if stack:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL)).fill_opacity(40)
    return panel


def stat_panel(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    width: int = 6,
    height: int = 5,
    steps: Sequence[tuple[float | None, str]] = ((None, "green"),),
    mappings: list[Any] | None = None,
    show_name: bool = False,
) -> stat.Panel:
    panel = (
        _framed(stat.Panel(), title, description, _targets(queries, instant=True), width, height)
        .unit(unit)
        .thresholds(thresholds(*steps))
    )
    if mappings:
        panel = panel.mappings(mappings)
    if show_name:
        # One tile per series, titled by its legend (e.g. the DriftCheck), showing the mapped state.
        panel = panel.text_mode(BigValueTextMode.VALUE_AND_NAME)
    return panel.reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))


def table_panel(
    title: str, description: str, queries: Sequence[Query], *, width: int = 12, height: int = 8
) -> table.Panel:
    targets = _targets(queries, instant=True, fmt=PromQueryFormat.TABLE)
    return _framed(table.Panel(), title, description, targets, width, height)


def heatmap_panel(
    title: str, description: str, queries: Sequence[Query], *, width: int = 12, height: int = 8
) -> heatmap.Panel:
    """A heatmap of pre-bucketed Prometheus histogram buckets (one series per `le`)."""
    targets = _targets(queries, fmt=PromQueryFormat.HEATMAP)
    return _framed(heatmap.Panel(), title, description, targets, width, height).calculate(False)


def state_timeline_panel(
    title: str,
    description: str,
    queries: Sequence[Query],
    mappings: list[Any],
    *,
    width: int = 12,
    height: int = 8,
) -> statetimeline.Panel:
    return _framed(statetimeline.Panel(), title, description, _targets(queries), width, height).mappings(
        mappings
    )


def text_panel(title: str, content: str, *, width: int = 24, height: int = 3) -> text.Panel:
    return text.Panel().title(title).content(content).span(width).height(height)


def datasource_variable() -> dash.DatasourceVariable:
    return dash.DatasourceVariable("datasource").label("Prometheus").type("prometheus")


def label_variable(name: str, label: str, query: str) -> dash.QueryVariable:
    """A multi-select variable over the values of `name` in `query`, "All" meaning the regex `.*`."""
    return (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query({"query": f"label_values({query}, {name})", "refId": f"{name}-values"})
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )


UIDS = {
    "driftwatch / Overview": "driftwatch-overview",
    "driftwatch / Inference": "driftwatch-inference",
    "driftwatch / Drift": "driftwatch-drift",
}


def dashboard_links(current_uid: str) -> list[cogbuilder.Builder[model.DashboardLink]]:
    """Links to the other driftwatch dashboards, keeping the time range and the variables."""
    return [
        dash.DashboardLink(title)
        .type(model.DashboardLinkType.LINK)
        .url(f"/d/{uid}")
        .icon("dashboard")
        .include_vars(True)
        .keep_time(True)
        for title, uid in UIDS.items()
        if uid != current_uid
    ]


def base(title: str, description: str) -> dash.Dashboard:
    uid = UIDS[title]
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["driftwatch"])
        .editable()
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .links(dashboard_links(uid))
    )


VERDICTS = ("NoDrift", "Drift", "InsufficientData", "DataQualityIssue", "Error")
VERDICT_COLORS = ("green", "orange", "blue", "purple", "red")
RECOMMENDATIONS = ("None", "Investigate", "Retrain")
RECOMMENDATION_COLORS = ("green", "orange", "red")


def state_code(metric: str, label: str, states: Sequence[str], selector: str, by: str) -> str:
    """One number per series for a state-set gauge: 1 + the index of the state whose gauge is 1.

    The controller always exposes every state (0 or 1), so the sum exists exactly when the series do.
    """
    terms = [
        f'({index + 1} * max by ({by}) ({metric}{{{selector}, {label}="{state}"}}))'
        for index, state in enumerate(states)
    ]
    return "\n+ ".join(terms)


def state_mappings(states: Sequence[str], colors: Sequence[str]) -> list[Any]:
    return value_mappings(
        {str(i + 1): (state, color) for i, (state, color) in enumerate(zip(states, colors, strict=True))}
    )


def value_mappings(texts: dict[str, tuple[str, str]]) -> list[Any]:
    """Value -> (text, color) mappings for state stats."""
    options = {
        value: model.ValueMappingResult(text=label, color=color, index=i)
        for i, (value, (label, color)) in enumerate(texts.items())
    }
    return [model.ValueMap(options=options)]
