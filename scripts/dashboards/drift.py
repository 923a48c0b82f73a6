"""driftwatch / Drift: each DriftCheck's verdict, drift share against its policy, per-column scores, and the
model's performance (realized, estimated, reference)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import dashboard as model
from panels import (
    DRIFT,
    MODEL,
    NS,
    RECOMMENDATION_COLORS,
    RECOMMENDATIONS,
    VERDICT_COLORS,
    VERDICTS,
    base,
    datasource_variable,
    label_variable,
    stat_panel,
    state_code,
    state_mappings,
    state_timeline_panel,
    table_panel,
    timeseries_panel,
)

TITLE = "driftwatch / Drift"
BY_CHECK = "namespace, driftcheck"
# (query, legend) of the verdict and recommendation as state codes, read by a stat and a timeline panel each.
VERDICT_BY_CHECK = (
    state_code("driftwatch_drift_verdict", "verdict", VERDICTS, DRIFT, BY_CHECK),
    "{{driftcheck}}",
)
RECOMMENDATION_BY_CHECK = (
    state_code("driftwatch_drift_recommendation", "recommendation", RECOMMENDATIONS, DRIFT, BY_CHECK),
    "{{driftcheck}}",
)
# As DriftCheckStale counts it: from the last success, or from when the check was scheduled (Ready)
# if it never succeeded, so a check whose pods never ran shows up instead of being left out.
SINCE_SUCCESS = (
    f"time() - (max by ({BY_CHECK}) (driftwatch_drift_last_success_timestamp_seconds{{{DRIFT}}})\n"
    f"  or max by ({BY_CHECK}) (driftwatch_drift_ready_since_timestamp_seconds{{{DRIFT}}}))"
)
BY_METRIC = f"{BY_CHECK}, metric, kind"
DASHED = [
    model.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}),
    model.DynamicConfigValue(id_val="custom.fillOpacity", value=0),
]


def headline(metric: str) -> str:
    """`metric`'s series of each DriftCheck's headline performance metric only (status.performance.metric)."""
    return (
        f"max by ({BY_METRIC}) ({metric}{{{DRIFT}}})\n"
        f"and on ({BY_CHECK}, metric) driftwatch_drift_performance_headline{{{DRIFT}}}"
    )


def performance_row(board: dash.Dashboard) -> dash.Dashboard:
    """Realized (from joined labels) vs estimated (CBPE) vs reference of the headline metric, with bands."""
    board = board.with_row(dash.Row("Performance"))
    return (
        board.with_panel(
            timeseries_panel(
                "Headline metric: realized, estimated, reference",
                "The headline metric (spec.policy.performance.metric, else the task's default) on the "
                "window's labelled rows (realized), estimated without labels by CBPE (which assumes no "
                "concept drift), and on the reference; dashed: the 95% interval of each.",
                [
                    (headline("driftwatch_drift_performance"), "{{driftcheck}} {{metric}} {{kind}}"),
                    (headline("driftwatch_drift_performance_lower"), "{{driftcheck}} {{kind}} lower"),
                    (headline("driftwatch_drift_performance_upper"), "{{driftcheck}} {{kind}} upper"),
                ],
                width=12,
                height=9,
                min_value=None,
            )
            .override_by_query("B", DASHED)
            .override_by_query("C", DASHED)
        )
        .with_panel(
            timeseries_panel(
                "Drop from the reference",
                "How much worse the headline metric is than on the reference (positive is worse, for "
                "every metric), in the block the policy reads; 1 on the right axis when the check found "
                "it significant (beyond maxDrop, its interval excluding the reference: "
                "ModelPerformanceDegraded).",
                [
                    (
                        f"max by ({BY_METRIC}) (driftwatch_drift_performance_drop{{{DRIFT}}})",
                        "{{driftcheck}} {{kind}} {{metric}} drop",
                    ),
                    (
                        f"max by ({BY_METRIC}) (driftwatch_drift_performance_drop_significant{{{DRIFT}}})",
                        "{{driftcheck}} significant",
                    ),
                ],
                width=6,
                height=9,
                min_value=None,
            ).override_by_query(
                "B",
                [
                    model.DynamicConfigValue(id_val="custom.axisPlacement", value="right"),
                    model.DynamicConfigValue(id_val="custom.drawStyle", value="bars"),
                    model.DynamicConfigValue(id_val="max", value=1),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Label coverage",
                "Window rows whose label arrived through /v1/feedback, as a share of the window's rows: "
                "label delay, reported rather than an error. Realized metrics need minLabelledRows of them.",
                [(f"max by ({BY_CHECK}) (driftwatch_drift_label_coverage{{{DRIFT}}})", "{{driftcheck}}")],
                unit="percentunit",
                width=6,
                height=9,
                max_value=1,
            )
        )
        .with_panel(
            table_panel(
                "Performance metrics (last run)",
                "Every metric of status.performance by block, with its 95% interval.",
                [
                    (f"max by ({BY_METRIC}) (driftwatch_drift_performance{{{DRIFT}}})", ""),
                    (f"max by ({BY_METRIC}) (driftwatch_drift_performance_lower{{{DRIFT}}})", ""),
                    (f"max by ({BY_METRIC}) (driftwatch_drift_performance_upper{{{DRIFT}}})", ""),
                ],
                width=24,
                height=8,
            ).with_transformation(model.DataTransformerConfig(id_val="merge", options={}))
        )
    )


def multivariate_row(board: dash.Dashboard) -> dash.Dashboard:
    """The window's mean PCA reconstruction error inside or outside its no-drift band (issue 13)."""
    board = board.with_row(dash.Row("Multivariate"))
    return board.with_panel(
        timeseries_panel(
            "Multivariate drift: reconstruction error and its band",
            "With spec.drift.multivariate on: the window's mean PCA reconstruction error (a joint change, "
            "e.g. a correlation that flips, raises it while every column's own distribution stays); "
            "dashed: its no-drift band for a window of this size; 1 on the right axis when it is outside "
            "the band (alone, Drift / Investigate).",
            [
                (
                    f"max by ({BY_CHECK}) (driftwatch_multivariate_drift_value{{{DRIFT}}})",
                    "{{driftcheck}} error",
                ),
                (
                    f"max by ({BY_CHECK}) (driftwatch_multivariate_drift_band_lower{{{DRIFT}}})",
                    "{{driftcheck}} lower",
                ),
                (
                    f"max by ({BY_CHECK}) (driftwatch_multivariate_drift_band_upper{{{DRIFT}}})",
                    "{{driftcheck}} upper",
                ),
                (
                    f"max by ({BY_CHECK}) (driftwatch_multivariate_drift_drifted{{{DRIFT}}})",
                    "{{driftcheck}} drifted",
                ),
            ],
            width=24,
            height=8,
            min_value=None,
        )
        .override_by_query("B", DASHED)
        .override_by_query("C", DASHED)
        .override_by_query(
            "D",
            [
                model.DynamicConfigValue(id_val="custom.axisPlacement", value="right"),
                model.DynamicConfigValue(id_val="custom.drawStyle", value="bars"),
                model.DynamicConfigValue(id_val="max", value=1),
            ],
        )
    )


def segments_row(board: dash.Dashboard) -> dash.Dashboard:
    """Drift share within each segment of spec.segments, against policy.segmentShare (issue 13)."""
    board = board.with_row(dash.Row("Segments"))
    return board.with_panel(
        timeseries_panel(
            "Drift share by segment",
            "With spec.segments: drifted / monitored columns within each of the worst segments of the last "
            "run (status.segments, at most 10; the reference's most frequent value combinations, the rest as "
            "`other`); dashed: policy.segmentShare, at or above which a segment alone gives Drift / "
            "Investigate.",
            [
                (
                    f"max by ({BY_CHECK}, segment) (driftwatch_segment_drift_share{{{DRIFT}}})",
                    "{{driftcheck}} {{segment}}",
                ),
                (
                    f"max by ({BY_CHECK}) "
                    f'(driftwatch_drift_policy_threshold{{{DRIFT}, threshold="segment"}})',
                    "{{driftcheck}} segmentShare",
                ),
            ],
            unit="percentunit",
            width=24,
            height=8,
            max_value=1,
        ).override_by_query("B", DASHED)
    )


def build() -> dash.Dashboard:
    board = (
        base(
            TITLE,
            "Drift share, verdicts, recommendations, per-column scores and model performance of every "
            "DriftCheck.",
        )
        .with_variable(datasource_variable())
        .with_variable(label_variable("namespace", "Namespace", "driftwatch_drift_share"))
        .with_variable(label_variable("model", "Model", f"driftwatch_drift_share{{{NS}}}"))
        .with_variable(label_variable("driftcheck", "DriftCheck", f"driftwatch_drift_share{{{NS}, {MODEL}}}"))
    )
    board = board.with_row(dash.Row("Now"))
    board = (
        board.with_panel(
            stat_panel(
                "Verdict",
                "Verdict of the last run (kubectl get driftchecks shows the same).",
                [VERDICT_BY_CHECK],
                mappings=state_mappings(VERDICTS, VERDICT_COLORS),
                show_name=True,
            )
        )
        .with_panel(
            stat_panel(
                "Recommendation",
                "None, Investigate or Retrain, from the decision policy.",
                [RECOMMENDATION_BY_CHECK],
                mappings=state_mappings(RECOMMENDATIONS, RECOMMENDATION_COLORS),
                show_name=True,
            )
        )
        .with_panel(
            stat_panel(
                "Current-window rows",
                "Rows of the current window in the last run (fewer than minRows gives InsufficientData).",
                [(f"max by ({BY_CHECK}) (driftwatch_drift_current_rows{{{DRIFT}}})", "{{driftcheck}}")],
                show_name=True,
            )
        )
        .with_panel(
            stat_panel(
                "Since last successful run",
                "Time since the last run that produced a verdict other than Error "
                "(since the check was scheduled, if none did yet).",
                [
                    (
                        SINCE_SUCCESS,
                        "{{driftcheck}}",
                    )
                ],
                unit="s",
                show_name=True,
            )
        )
    )
    board = board.with_row(dash.Row("Over time"))
    board = (
        board.with_panel(
            timeseries_panel(
                "Drift share and policy thresholds",
                "Drifted / monitored columns per DriftCheck; dashed: the policy's investigate and retrain "
                "shares.",
                [
                    (f"max by ({BY_CHECK}) (driftwatch_drift_share{{{DRIFT}}})", "{{driftcheck}}"),
                    (
                        f"max by ({BY_CHECK}, threshold) (driftwatch_drift_policy_threshold{{{DRIFT}}})",
                        "{{driftcheck}} {{threshold}} threshold",
                    ),
                ],
                unit="percentunit",
                width=12,
                max_value=1,
            ).override_by_query(
                "B",
                [
                    model.DynamicConfigValue(
                        id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}
                    ),
                    model.DynamicConfigValue(id_val="custom.fillOpacity", value=0),
                ],
            )
        )
        .with_panel(
            state_timeline_panel(
                "Verdict over time",
                "Verdict of each DriftCheck's last run, over time.",
                [VERDICT_BY_CHECK],
                state_mappings(VERDICTS, VERDICT_COLORS),
                width=6,
            )
        )
        .with_panel(
            state_timeline_panel(
                "Recommendation over time",
                "Recommendation of each DriftCheck over time.",
                [RECOMMENDATION_BY_CHECK],
                state_mappings(RECOMMENDATIONS, RECOMMENDATION_COLORS),
                width=6,
            )
        )
        .with_panel(
            timeseries_panel(
                "Drifted and monitored columns",
                "How many monitored columns drifted in the last run.",
                [
                    (
                        f"max by ({BY_CHECK}) (driftwatch_drift_columns_drifted{{{DRIFT}}})",
                        "{{driftcheck}} drifted",
                    ),
                    (
                        f"max by ({BY_CHECK}) (driftwatch_drift_columns_monitored{{{DRIFT}}})",
                        "{{driftcheck}} monitored",
                    ),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Current-window rows",
                "Rows in each run's current window, in the reference, and window rows with a label.",
                [
                    (
                        f"max by ({BY_CHECK}) (driftwatch_drift_current_rows{{{DRIFT}}})",
                        "{{driftcheck}} current",
                    ),
                    (
                        f"max by ({BY_CHECK}) (driftwatch_drift_reference_rows{{{DRIFT}}})",
                        "{{driftcheck}} reference",
                    ),
                    (
                        f"max by ({BY_CHECK}) (driftwatch_drift_labelled_rows{{{DRIFT}}})",
                        "{{driftcheck}} labelled",
                    ),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Time since last success",
                "Seconds since the last successful run (or since scheduled, if none yet); dashed: twice "
                "the schedule interval (DriftCheckStale).",
                [
                    (
                        SINCE_SUCCESS,
                        "{{driftcheck}}",
                    ),
                    (
                        f"2 * max by ({BY_CHECK}) (driftwatch_drift_schedule_interval_seconds{{{DRIFT}}})",
                        "{{driftcheck}} stale after",
                    ),
                ],
                unit="s",
            ).override_by_query(
                "B",
                [
                    model.DynamicConfigValue(
                        id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}
                    )
                ],
            )
        )
    )
    board = performance_row(board)
    board = multivariate_row(board)
    board = segments_row(board)
    board = board.with_row(dash.Row("Columns"))
    return (
        board.with_panel(
            table_panel(
                "Per-column drift (last run)",
                "Score, threshold and drifted flag of each monitored column.",
                [
                    (f"max by ({BY_CHECK}, column, method) (driftwatch_drift_column_score{{{DRIFT}}})", ""),
                    (
                        f"max by ({BY_CHECK}, column, method) (driftwatch_drift_column_threshold{{{DRIFT}}})",
                        "",
                    ),
                    (f"max by ({BY_CHECK}, column) (driftwatch_drift_column_drifted{{{DRIFT}}})", ""),
                ],
                height=10,
            ).with_transformation(model.DataTransformerConfig(id_val="merge", options={}))
        )
        .with_panel(
            timeseries_panel(
                "Column score / threshold",
                "Each column's drift statistic relative to its threshold: above 1 the column drifted.",
                [
                    (
                        f"max by ({BY_CHECK}, column) (driftwatch_drift_column_score{{{DRIFT}}})\n"
                        f"/ max by ({BY_CHECK}, column) (driftwatch_drift_column_threshold{{{DRIFT}}})",
                        "{{driftcheck}} {{column}}",
                    )
                ],
                width=12,
                height=10,
            )
        )
        .with_panel(
            timeseries_panel(
                "Prediction drift score",
                "Drift statistic of the predicted probability.",
                [
                    (
                        f"max by ({BY_CHECK}, method) (driftwatch_drift_prediction_score{{{DRIFT}}})",
                        "{{driftcheck}} {{method}}",
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Runs by verdict",
                "Runs of each DriftCheck by verdict since it was created.",
                [
                    (
                        f"sum by ({BY_CHECK}, verdict) (driftwatch_drift_runs_total{{{DRIFT}}})",
                        "{{driftcheck}} {{verdict}}",
                    )
                ],
                width=8,
            )
        )
        .with_panel(
            timeseries_panel(
                "Consecutive drift runs and readiness",
                "Runs in a row at or above the retrain share (the policy's consecutiveRuns), and Ready (1).",
                [
                    (
                        f"max by ({BY_CHECK}) (driftwatch_drift_consecutive_drift_runs{{{DRIFT}}})",
                        "{{driftcheck}} consecutive",
                    ),
                    (f"min by ({BY_CHECK}) (driftwatch_drift_ready{{{DRIFT}}})", "{{driftcheck}} ready"),
                ],
                width=8,
            )
        )
    )
