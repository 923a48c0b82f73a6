"""driftwatch / Overview: the course's layered failure model, one row per layer (infra, API, data, model)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from panels import (
    DATASOURCE,
    DRIFT,
    DRIFTWATCH_PODS,
    INFERENCE,
    MODEL,
    NS,
    RATE,
    RECOMMENDATION_COLORS,
    RECOMMENDATIONS,
    V1,
    VERDICT_COLORS,
    VERDICTS,
    base,
    datasource_variable,
    error_ratio,
    label_variable,
    latency_quantile,
    stat_panel,
    state_code,
    state_mappings,
    text_panel,
    timeseries_panel,
)

TITLE = "driftwatch / Overview"


def build() -> dash.Dashboard:
    board = (
        base(TITLE, "Is each layer healthy, and did something change? Infrastructure, API, data, model.")
        .with_variable(datasource_variable())
        .with_variable(label_variable("namespace", "Namespace", "driftwatch_model_info"))
        .with_variable(label_variable("model", "Model", f"driftwatch_model_info{{{NS}}}"))
        .with_variable(label_variable("driftcheck", "DriftCheck", f"driftwatch_drift_share{{{NS}, {MODEL}}}"))
        .with_panel(
            text_panel(
                "How to read this",
                "A model fails silently: the API can be up, fast and error-free while its predictions "
                "degrade. Read top-down: a red layer explains the ones below it. Details in "
                "**driftwatch / Inference** and **driftwatch / Drift** (links above).",
            )
        )
    )
    board = board.with_row(dash.Row("Infrastructure: are the pods running?").datasource(DATASOURCE))
    board = (
        board.with_panel(
            timeseries_panel(
                "CPU by pod",
                "CPU cores used by the inference, controller and check pods (cAdvisor).",
                [
                    (
                        f"sum by (pod) (rate(container_cpu_usage_seconds_total"
                        f'{{{NS}, {DRIFTWATCH_PODS}, container!=""}}[{RATE}]))',
                        "{{pod}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Memory by pod",
                "Working-set memory of the driftwatch pods (cAdvisor); the OOM killer acts on it.",
                [
                    (
                        "sum by (pod) (container_memory_working_set_bytes"
                        f'{{{NS}, {DRIFTWATCH_PODS}, container!=""}})',
                        "{{pod}}",
                    )
                ],
                unit="bytes",
            )
        )
        .with_panel(
            timeseries_panel(
                "Container restarts (1h)",
                "Restarts over the last hour (kube-state-metrics): a crash loop shows here first.",
                [
                    (
                        "sum by (pod) (increase(kube_pod_container_status_restarts_total"
                        f"{{{NS}, {DRIFTWATCH_PODS}}}[1h]))",
                        "{{pod}}",
                    )
                ],
            )
        )
    )
    board = board.with_row(dash.Row("API: is the service answering, fast and without errors?"))
    board = (
        board.with_panel(
            timeseries_panel(
                "Requests per second by status class",
                "Rate of requests to the /v1 routes, by status class.",
                [
                    (
                        "sum by (class) (label_replace(rate(driftwatch_http_requests_total"
                        f'{{{INFERENCE}, {V1}}}[{RATE}]), "class", "${{1}}xx", "status", "(.).."))',
                        "{{class}}",
                    )
                ],
                unit="reqps",
                stack=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Error ratio",
                "Share of responses that are server errors (5xx: the service failed) and rejections "
                "(4xx: the client sent bad input).",
                [(error_ratio("5.."), "5xx"), (error_ratio("4.."), "4xx")],
                unit="percentunit",
            )
        )
        .with_panel(
            timeseries_panel(
                "Latency p95",
                "95th percentile latency of the /v1 routes, from the request duration histogram.",
                [
                    (
                        latency_quantile(0.95),
                        "p95",
                    )
                ],
                unit="s",
            )
        )
    )
    board = board.with_row(dash.Row("Data: is the input what the model expects?"))
    board = (
        board.with_panel(
            timeseries_panel(
                "Invalid features (rows/s)",
                "Rejected rows per feature: wrong type, out of range, not finite or an unknown category.",
                [
                    (
                        f"sum by (feature) (rate(driftwatch_feature_invalid_total{{{NS}, {MODEL}}}[{RATE}]))",
                        "{{feature}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Missing features (rows/s)",
                "Rejected rows per feature where the feature was missing or null.",
                [
                    (
                        f"sum by (feature) (rate(driftwatch_feature_missing_total{{{NS}, {MODEL}}}[{RATE}]))",
                        "{{feature}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Capture: dropped rows/s",
                "Captured rows lost (queue full or write error); drift checks then see a partial window.",
                [
                    (
                        "sum by (reason) (rate(driftwatch_capture_rows_dropped_total"
                        f"{{{NS}, {MODEL}}}[{RATE}])) or vector(0)",
                        "{{reason}}",
                    )
                ],
            )
        )
    )
    board = board.with_row(dash.Row("Model: are the predictions still what they were?"))
    return (
        board.with_panel(
            timeseries_panel(
                "Prediction mix",
                "Share of predictions per class: a shift is prior drift (or a broken upstream).",
                [
                    (
                        f"sum by (class) (rate(driftwatch_predictions_total{{{NS}, {MODEL}}}[{RATE}]))\n"
                        "/ ignoring (class) group_left "
                        f"sum(rate(driftwatch_predictions_total{{{NS}, {MODEL}}}[{RATE}]))",
                        "class {{class}}",
                    )
                ],
                unit="percentunit",
                width=6,
                stack=True,
            )
        )
        .with_panel(
            timeseries_panel(
                "Mean predicted probability",
                "Mean probability of the positive class.",
                [
                    (
                        f"sum(rate(driftwatch_prediction_probability_sum{{{NS}, {MODEL}}}[{RATE}]))\n"
                        f"/ sum(rate(driftwatch_prediction_probability_count{{{NS}, {MODEL}}}[{RATE}]))",
                        "mean",
                    )
                ],
                unit="percentunit",
                width=6,
                max_value=1,
            )
        )
        .with_panel(
            timeseries_panel(
                "Drift share",
                "Drifted monitored columns / monitored columns, per DriftCheck (last run).",
                [(f"max by (namespace, driftcheck) (driftwatch_drift_share{{{DRIFT}}})", "{{driftcheck}}")],
                unit="percentunit",
                width=6,
                max_value=1,
            )
        )
        .with_panel(
            stat_panel(
                "Current verdict",
                "Verdict of the last run of each DriftCheck.",
                [
                    (
                        state_code(
                            "driftwatch_drift_verdict", "verdict", VERDICTS, DRIFT, "namespace, driftcheck"
                        ),
                        "{{driftcheck}}",
                    )
                ],
                mappings=state_mappings(VERDICTS, VERDICT_COLORS),
                show_name=True,
                width=3,
                height=8,
            )
        )
        .with_panel(
            stat_panel(
                "Recommendation",
                "What the decision policy recommends for each DriftCheck.",
                [
                    (
                        state_code(
                            "driftwatch_drift_recommendation",
                            "recommendation",
                            RECOMMENDATIONS,
                            DRIFT,
                            "namespace, driftcheck",
                        ),
                        "{{driftcheck}}",
                    )
                ],
                mappings=state_mappings(RECOMMENDATIONS, RECOMMENDATION_COLORS),
                show_name=True,
                width=3,
                height=8,
            )
        )
    )
