"""Prometheus metrics mirrored from every DriftCheck's status (names: docs/metrics.md).

The controller keeps the last seen spec and status of each DriftCheck in a `StatusStore`; a custom
collector renders them at scrape time, so a deleted DriftCheck's series disappear with it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from driftwatch_controller.api import contracts
from driftwatch_controller.api.durations import cached_schedule_interval_seconds
from driftwatch_controller.api.spec import DriftCheckSpec
from driftwatch_controller.api.times import timestamp

BASE_LABELS = ["namespace", "driftcheck", "model"]
# status.segments holds at most this many (the CRD's maxItems): the `segment` label's bound.
SEGMENTS_LISTED = 10


class StatusStore:
    """Thread-safe map (namespace, name) -> (spec, status): written by handlers, read by scrapes.

    The spec is the typed one, None when it cannot run (its status still has metrics: Ready=0).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], tuple[DriftCheckSpec | None, dict[str, Any]]] = {}

    def put(self, namespace: str, name: str, spec: DriftCheckSpec | None, status: Mapping[str, Any]) -> None:
        with self._lock:
            self._items[(namespace, name)] = (spec, dict(status))

    def remove(self, namespace: str, name: str) -> None:
        with self._lock:
            self._items.pop((namespace, name), None)

    def snapshot(self) -> list[tuple[str, str, DriftCheckSpec | None, dict[str, Any]]]:
        with self._lock:
            return [(ns, name, spec, status) for (ns, name), (spec, status) in sorted(self._items.items())]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


# The blocks of status.performance a series' `kind` names (issue 11).
PERFORMANCE_KINDS = ("reference", "realized", "estimated")


def _add_states(family: GaugeMetricFamily, base: list[str], current: Any, states: tuple[str, ...]) -> None:
    """A state set: 1 for the current state, 0 for the others; nothing before a first value."""
    if current:
        for state in states:
            family.add_metric([*base, state], 1.0 if current == state else 0.0)


class DriftCheckCollector(Collector):
    """Renders the metrics of docs/metrics.md ("Drift controller") from a StatusStore."""

    def __init__(self, store: StatusStore) -> None:
        self.store = store

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: families depend on the DriftChecks present

    def collect(self) -> Iterator[Metric]:
        def gauge(name: str, doc: str, extra: list[str] | None = None) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=BASE_LABELS + (extra or []))

        def counter(name: str, doc: str, extra: list[str]) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, labels=BASE_LABELS + extra)

        share = gauge("driftwatch_drift_share", "Drifted monitored columns / monitored columns")
        drifted = gauge("driftwatch_drift_columns_drifted", "Monitored columns that drifted")
        monitored = gauge("driftwatch_drift_columns_monitored", "Monitored columns")
        score = gauge("driftwatch_drift_column_score", "Per-column drift statistic", ["column", "method"])
        threshold = gauge(
            "driftwatch_drift_column_threshold", "Threshold of the column", ["column", "method"]
        )
        col_drifted = gauge("driftwatch_drift_column_drifted", "1 when the column drifted", ["column"])
        pred = gauge("driftwatch_drift_prediction_score", "Prediction drift statistic", ["method"])
        verdict = gauge("driftwatch_drift_verdict", "1 for the current verdict", ["verdict"])
        recommendation = gauge(
            "driftwatch_drift_recommendation", "1 for the current recommendation", ["recommendation"]
        )
        policy = gauge("driftwatch_drift_policy_threshold", "Policy drift-share thresholds", ["threshold"])
        consecutive = gauge("driftwatch_drift_consecutive_drift_runs", "status.consecutiveDriftRuns")
        last_run = gauge("driftwatch_drift_last_run_timestamp_seconds", "status.lastRunTime")
        last_ok = gauge("driftwatch_drift_last_success_timestamp_seconds", "status.lastSuccessfulRunTime")
        interval = gauge(
            "driftwatch_drift_schedule_interval_seconds", "Longest gap between two scheduled runs"
        )
        runs = counter("driftwatch_drift_runs", "Runs by verdict (status.runsByVerdict)", ["verdict"])
        current_rows = gauge("driftwatch_drift_current_rows", "status.rows.current")
        reference_rows = gauge("driftwatch_drift_reference_rows", "status.rows.reference")
        ready = gauge("driftwatch_drift_ready", "1 when the Ready condition is True")
        ready_since = gauge(
            "driftwatch_drift_ready_since_timestamp_seconds", "When Ready last turned True (CronJob in place)"
        )
        retrain_jobs = counter("driftwatch_retrain_jobs", "Retrain Jobs created by the controller", ["mode"])
        by_metric = ["metric", "kind"]
        perf = gauge("driftwatch_drift_performance", "Model performance (status.performance)", by_metric)
        perf_lower = gauge("driftwatch_drift_performance_lower", "Lower bound of its 95% interval", by_metric)
        perf_upper = gauge("driftwatch_drift_performance_upper", "Upper bound of its 95% interval", by_metric)
        perf_drop = gauge(
            "driftwatch_drift_performance_drop", "Drop of the headline metric from the reference", by_metric
        )
        perf_significant = gauge(
            "driftwatch_drift_performance_drop_significant", "1 when the drop is significant", by_metric
        )
        headline = gauge(
            "driftwatch_drift_performance_headline", "1 for status.performance.metric", ["metric"]
        )
        coverage = gauge("driftwatch_drift_label_coverage", "status.performance.labelCoverage")
        labelled_rows = gauge("driftwatch_drift_labelled_rows", "status.rows.labelled")
        skipped = gauge("driftwatch_drift_skipped_files", "Capture files the last run skipped (unreadable)")
        sample_rate = gauge(
            "driftwatch_drift_capture_sample_rate", "status.rows.sampleRate (capture controls)"
        )

        for namespace, name, spec, status in self.store.snapshot():
            base = [namespace, name, (spec.model if spec else None) or name]
            if (value := _number(status.get("driftShare"))) is not None:
                share.add_metric(base, value)
            if (value := _number(status.get("driftedColumns"))) is not None:
                drifted.add_metric(base, value)
            if (value := _number(status.get("monitoredColumns"))) is not None:
                monitored.add_metric(base, value)
            for column in status.get("columns") or []:
                col, method = str(column.get("name", "")), str(column.get("method", ""))
                if (value := _number(column.get("score"))) is not None:
                    score.add_metric([*base, col, method], value)
                if (value := _number(column.get("threshold"))) is not None:
                    threshold.add_metric([*base, col, method], value)
                col_drifted.add_metric([*base, col], 1.0 if column.get("drifted") else 0.0)
            prediction = status.get("predictionDrift") or {}
            if (value := _number(prediction.get("score"))) is not None:
                pred.add_metric([*base, str(prediction.get("method", ""))], value)
            _add_states(verdict, base, status.get("verdict"), contracts.VERDICTS)
            _add_states(recommendation, base, status.get("recommendation"), contracts.RECOMMENDATIONS)
            if spec is not None:
                policy.add_metric([*base, "investigate"], spec.policy.investigate_share)
                policy.add_metric([*base, "retrain"], spec.policy.retrain_share)
                if spec.policy.segment_share is not None:  # spec.policy.segmentShare (issue 13), when set
                    policy.add_metric([*base, "segment"], spec.policy.segment_share)
            if (value := _number(status.get("consecutiveDriftRuns"))) is not None:
                consecutive.add_metric(base, value)
            if (value := timestamp(status.get("lastRunTime"))) is not None:
                last_run.add_metric(base, value)
            if (value := timestamp(status.get("lastSuccessfulRunTime"))) is not None:
                last_ok.add_metric(base, value)
            if spec is not None:  # a parsed schedule always has an interval
                interval.add_metric(base, cached_schedule_interval_seconds(spec.schedule))
            for state, count in sorted((status.get("runsByVerdict") or {}).items()):
                if (value := _number(count)) is not None:
                    runs.add_metric([*base, str(state)], value)
            rows = status.get("rows") or {}
            if (value := _number(rows.get("current"))) is not None:
                current_rows.add_metric(base, value)
            if (value := _number(rows.get("reference"))) is not None:
                reference_rows.add_metric(base, value)
            if (value := _number(rows.get("labelled"))) is not None:
                labelled_rows.add_metric(base, value)
            if (value := _number(rows.get("sampleRate"))) is not None:
                sample_rate.add_metric(base, value)
            if (value := _number((status.get("skippedFiles") or {}).get("count"))) is not None:
                skipped.add_metric(base, value)
            performance = status.get("performance") or {}
            if performance.get("metric") in contracts.PERFORMANCE_METRICS:
                headline.add_metric([*base, performance["metric"]], 1.0)
            if (value := _number(performance.get("labelCoverage"))) is not None:
                coverage.add_metric(base, value)
            for kind in PERFORMANCE_KINDS:
                for entry in (performance.get(kind) or {}).get("metrics") or []:
                    name = entry.get("name")
                    if name not in contracts.PERFORMANCE_METRICS:
                        continue  # label values are a known finite set
                    for family, key in ((perf, "value"), (perf_lower, "lower"), (perf_upper, "upper")):
                        if (value := _number(entry.get(key))) is not None:
                            family.add_metric([*base, name, kind], value)
            drop = performance.get("drop") or {}
            if drop.get("metric") in contracts.PERFORMANCE_METRICS and drop.get("kind") in PERFORMANCE_KINDS:
                labels = [*base, drop["metric"], drop["kind"]]
                if (value := _number(drop.get("value"))) is not None:
                    perf_drop.add_metric(labels, value)
                    perf_significant.add_metric(labels, 1.0 if drop.get("significant") else 0.0)
            ready_condition = next(
                (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None
            )
            if ready_condition is not None:
                is_ready = ready_condition.get("status") == "True"
                ready.add_metric(base, 1.0 if is_ready else 0.0)
                # The stale alert's clock for a check that never succeeded (its pods never ran, say).
                since = timestamp(ready_condition.get("lastTransitionTime")) if is_ready else None
                if since is not None:
                    ready_since.add_metric(base, since)
            retrain = status.get("retrain") or {}
            if retrain.get("jobsCreated"):
                mode = str(retrain.get("mode") or (spec.retrain.mode if spec else "Off"))
                retrain_jobs.add_metric([*base, mode], float(retrain["jobsCreated"]))

        yield from (
            share, drifted, monitored, score, threshold, col_drifted, pred, verdict, recommendation, policy,
            consecutive, last_run, last_ok, interval, runs, current_rows, reference_rows, ready, ready_since,
            retrain_jobs, perf, perf_lower, perf_upper, perf_drop, perf_significant, headline, coverage,
            labelled_rows, skipped, sample_rate,
        )  # fmt: skip
        yield from segment_families(self.store.snapshot())
        yield from multivariate_families(self.store.snapshot())


def multivariate_families(
    snapshot: list[tuple[str, str, DriftCheckSpec | None, dict[str, Any]]],
) -> list[GaugeMetricFamily]:
    """status.multivariate (issue 13) as gauges; a check without it, or a skipped one, has no value series."""
    value = GaugeMetricFamily(
        "driftwatch_multivariate_drift_value", "Window's mean PCA reconstruction error", labels=BASE_LABELS
    )
    lower = GaugeMetricFamily(
        "driftwatch_multivariate_drift_band_lower", "Lower end of its no-drift band", labels=BASE_LABELS
    )
    upper = GaugeMetricFamily(
        "driftwatch_multivariate_drift_band_upper", "Upper end of its no-drift band", labels=BASE_LABELS
    )
    drifted = GaugeMetricFamily(
        "driftwatch_multivariate_drift_drifted", "1 when the error is outside its band", labels=BASE_LABELS
    )
    for namespace, name, spec, status in snapshot:
        joint = status.get("multivariate") or {}
        measured = _number(joint.get("value"))
        if measured is None:
            continue  # off, or skipped (status.multivariate.reason says why)
        base = [namespace, name, (spec.model if spec else None) or name]
        value.add_metric(base, measured)
        band = joint.get("band") or {}
        if (bound := _number(band.get("lower"))) is not None:
            lower.add_metric(base, bound)
        if (bound := _number(band.get("upper"))) is not None:
            upper.add_metric(base, bound)
        drifted.add_metric(base, 1.0 if joint.get("drifted") else 0.0)
    return [value, lower, upper, drifted]


def segment_families(
    snapshot: list[tuple[str, str, DriftCheckSpec | None, dict[str, Any]]],
) -> list[Metric]:
    """status.segments (issue 13) as gauges. The `segment` label comes from that list: at most 10
    entries, named from the reference's most frequent combinations (capped) or `other`, so it is finite."""
    labels = [*BASE_LABELS, "segment"]
    share = GaugeMetricFamily(
        "driftwatch_segment_drift_share", "Drift share within the segment (measured ones)", labels=labels
    )
    rows = GaugeMetricFamily("driftwatch_segment_current_rows", "Current rows of the segment", labels=labels)
    counts = GaugeMetricFamily(
        "driftwatch_segments", "Segments of the last run by state", labels=[*BASE_LABELS, "state"]
    )
    for namespace, name, spec, status in snapshot:
        base = [namespace, name, (spec.model if spec else None) or name]
        for entry in (status.get("segments") or [])[:SEGMENTS_LISTED]:
            segment = str(entry.get("segment") or "")
            if (value := _number(entry.get("driftShare"))) is not None and entry.get("measured"):
                share.add_metric([*base, segment], value)
            if (value := _number((entry.get("rows") or {}).get("current"))) is not None:
                rows.add_metric([*base, segment], value)
        for state in ("evaluated", "skipped"):
            if (value := _number((status.get("segmentCounts") or {}).get(state))) is not None:
                counts.add_metric([*base, state], value)
    return [share, rows, counts]


def build_registry(store: StatusStore) -> CollectorRegistry:
    """A fresh registry: the DriftCheck collector and the process metrics of the controller."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DriftCheckCollector(store))
    ProcessCollector(registry=registry)  # process_resident_memory_bytes etc. for the controller itself
    return registry
