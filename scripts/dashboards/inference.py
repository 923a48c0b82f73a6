"""driftwatch / Inference: RED metrics, predictions, validation and the capture pipeline of the service."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from panels import (
    DURATION,
    INFERENCE,
    MODEL,
    NS,
    RATE,
    REQUESTS,
    base,
    datasource_variable,
    error_ratio,
    heatmap_panel,
    label_variable,
    latency_quantile,
    stat_panel,
    table_panel,
    timeseries_panel,
)

TITLE = "driftwatch / Inference"
SELECT = f"{NS}, {MODEL}"


def _deciles(histogram: str, by: str, legend: str) -> list[tuple[str, str]]:
    """p10 / p50 / p90 of a histogram's rate, one query each, legends `<legend>10` ... `<legend>90`."""
    return [
        (
            f"histogram_quantile({q}, sum by ({by}) (rate({histogram}{{{SELECT}}}[{RATE}])))",
            f"{legend}{int(q * 100)}",
        )
        for q in (0.1, 0.5, 0.9)
    ]


def build() -> dash.Dashboard:
    board = (
        base(TITLE, "Traffic, errors, latency, predictions, validation failures and capture of the service.")
        .with_variable(datasource_variable())
        .with_variable(label_variable("namespace", "Namespace", "driftwatch_model_info"))
        .with_variable(label_variable("model", "Model", f"driftwatch_model_info{{{NS}}}"))
    )
    board = board.with_row(dash.Row("Traffic, errors and latency"))
    board = (
        board.with_panel(
            timeseries_panel(
                "Requests per second by route and status class",
                "Every route template (unknown paths share `<unmatched>`), by status class.",
                [
                    (
                        f"sum by (route, class) (label_replace(rate({REQUESTS}{{{INFERENCE}}}[{RATE}]), "
                        '"class", "${1}xx", "status", "(.).."))',
                        "{{route}} {{class}}",
                    )
                ],
                unit="reqps",
                width=12,
            )
        )
        .with_panel(
            timeseries_panel(
                "Error ratio",
                "Share of 5xx (server) and 4xx (rejected input) responses.",
                [(error_ratio("5.."), "5xx"), (error_ratio("4.."), "4xx")],
                unit="percentunit",
                width=12,
            )
        )
        .with_panel(
            timeseries_panel(
                "Latency p50 / p95 / p99",
                "Percentiles of the /v1 routes, interpolated from the histogram buckets.",
                [(latency_quantile(q), f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)],
                unit="s",
            )
        )
        .with_panel(
            timeseries_panel(
                "Latency p95 by route",
                "95th percentile per route template.",
                [
                    (
                        "histogram_quantile(0.95, sum by (route, le) "
                        f"(rate({DURATION}{{{INFERENCE}}}[{RATE}])))",
                        "{{route}}",
                    )
                ],
                unit="s",
            )
        )
        .with_panel(
            timeseries_panel(
                "Requests in flight",
                "Requests being served now, per pod.",
                [(f"sum by (instance) (driftwatch_http_requests_in_flight{{{INFERENCE}}})", "{{instance}}")],
            )
        )
    )
    board = board.with_row(dash.Row("Predictions"))
    board = (
        board.with_panel(
            timeseries_panel(
                "Predictions per second by class",
                "Predictions served (a batch counts each row), by predicted class.",
                [
                    (
                        f"sum by (class) (rate(driftwatch_predictions_total{{{SELECT}}}[{RATE}]))",
                        "class {{class}}",
                    )
                ],
                unit="ops",
                stack=True,
            )
        )
        .with_panel(
            heatmap_panel(
                "Predicted probability distribution",
                "Predictions per probability bucket (0.05 wide) over time: a moving mass is "
                "prediction drift.",
                [
                    (
                        "sum by (le) "
                        f"(increase(driftwatch_prediction_probability_bucket{{{SELECT}}}[{RATE}]))",
                        "{{le}}",
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Predicted probability p10 / p50 / p90",
                "Quantiles of the probability answered: of the positive class (binary), of the "
                "predicted class (multiclass).",
                _deciles("driftwatch_prediction_probability_bucket", "le", "p"),
                unit="percentunit",
                max_value=1,
            )
        )
        .with_panel(
            timeseries_panel(
                "Predicted value p10 / p50 / p90 (regression)",
                "Quantiles of a regression model's predictions, on buckets from the reference's "
                "predictions: a moving band is prediction drift. Empty for classifiers.",
                _deciles("driftwatch_prediction_value_bucket", "model, le", "{{model}} p"),
                unit="short",
                min_value=None,
            )
        )
        .with_panel(
            table_panel(
                "Model served",
                "Model name, version and scoring engine (onnx or sklearn) of each pod.",
                [
                    (
                        "max by (model, model_version, engine, instance) "
                        f"(driftwatch_model_info{{{SELECT}}})",
                        "",
                    )
                ],
                width=16,
                height=5,
            )
        )
        .with_panel(
            stat_panel(
                "Model age",
                "Time since the served model was trained.",
                [(f"time() - max(driftwatch_model_trained_timestamp_seconds{{{SELECT}}})", "age")],
                unit="s",
                width=8,
                steps=((None, "green"), (90 * 86400, "orange")),
            )
        )
    )
    board = board.with_row(dash.Row("Validation and feedback"))
    board = (
        board.with_panel(
            timeseries_panel(
                "Validation failures by reason",
                "Rejected requests per second by reason (each a 4xx naming the field).",
                [
                    (
                        f"sum by (reason) (rate(driftwatch_validation_failures_total{{{SELECT}}}[{RATE}]))",
                        "{{reason}}",
                    )
                ],
                unit="reqps",
                width=6,
            )
        )
        .with_panel(
            timeseries_panel(
                "Invalid features (rows/s)",
                "Wrong type, out of range, not finite or an unknown category, per feature.",
                [
                    (
                        f"sum by (feature) (rate(driftwatch_feature_invalid_total{{{SELECT}}}[{RATE}]))",
                        "{{feature}}",
                    )
                ],
                width=6,
            )
        )
        .with_panel(
            timeseries_panel(
                "Missing features (rows/s)",
                "Missing or null, per feature.",
                [
                    (
                        f"sum by (feature) (rate(driftwatch_feature_missing_total{{{SELECT}}}[{RATE}]))",
                        "{{feature}}",
                    )
                ],
                width=6,
            )
        )
        .with_panel(
            timeseries_panel(
                "Feedback labels per second",
                "Delayed ground truth received on /v1/feedback, by label.",
                [
                    (
                        f"sum by (label) (rate(driftwatch_feedback_total{{{SELECT}}}[{RATE}]))",
                        "label {{label}}",
                    )
                ],
                width=6,
            )
        )
    )
    board = board.with_row(dash.Row("Capture"))
    return (
        board.with_panel(
            timeseries_panel(
                "Captured rows per second",
                "Rows written to the capture sink (predictions and feedback), and rows the capture's sample "
                "rate left out (`--capture-sample-rate`, decided by request id).",
                [
                    (
                        f"sum by (kind) (rate(driftwatch_capture_rows_written_total{{{SELECT}}}[{RATE}]))",
                        "{{kind}}",
                    ),
                    (
                        f"sum by (kind) (rate(driftwatch_capture_sampled_out_total{{{SELECT}}}[{RATE}]))",
                        "{{kind}} sampled out",
                    ),
                ],
                width=6,
            )
        )
        .with_panel(
            timeseries_panel(
                "Dropped rows per second",
                "Rows lost: queue_full (never blocks a request) or write_error.",
                [
                    (
                        "sum by (kind, reason) (rate(driftwatch_capture_rows_dropped_total"
                        f"{{{SELECT}}}[{RATE}])) or vector(0)",
                        "{{kind}} {{reason}}",
                    )
                ],
                width=6,
            )
        )
        .with_panel(
            timeseries_panel(
                "Capture queue depth",
                "Rows waiting to be written, per pod.",
                [(f"max by (instance) (driftwatch_capture_queue_depth{{{SELECT}}})", "{{instance}}")],
                width=6,
            )
        )
        .with_panel(
            stat_panel(
                "Capture sink writable",
                "1 when every pod's last write or probe of the sink succeeded (else /readyz fails too).",
                [(f"min(driftwatch_capture_sink_writable{{{SELECT}}})", "writable")],
                width=6,
                steps=((None, "red"), (1, "green")),
            )
        )
    )
