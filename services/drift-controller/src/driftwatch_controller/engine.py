"""One drift check: load, data quality, calibrated drift per column, decision, status, HTML report."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
from pydantic_settings import BaseSettings, SettingsConfigDict

from driftwatch_controller import datasets, drift_stats, policy, quality
from driftwatch_controller.calibration import CalibrationConfig, Calibrator, ReferenceColumn
from driftwatch_controller.datasets import CAPTURE_COLUMNS, DataError, Window
from driftwatch_controller.drift_stats import Kind, Sample
from driftwatch_controller.spec import DriftCheckSpec, SpecError

log = logging.getLogger(__name__)

HISTORY_LIMIT = 20
# Fewer labelled rows than this say nothing useful about the target's distribution.
MIN_LABELLED_ROWS = 30
# Evidently's HTML report is slow and large; it is built on a seeded sample of at most this many rows.
REPORT_SAMPLE_ROWS = 50_000
CHECK_CONDITIONS = ("Drifted", "RetrainRecommended")


class UnusableInput(Exception):  # noqa: N818 - name fixed by the operator interface
    """The check cannot run on this input (unreadable file, no common columns, ...); one-line reason."""


class EngineSettings(BaseSettings):
    """Environment of a check process (env prefix DRIFTWATCH_)."""

    model_config = SettingsConfigDict(env_prefix="DRIFTWATCH_")

    calibration_cache_dir: Path | None = None
    calibration_replicates: int = 400
    calibration_quantile: float = 0.995


@dataclass
class ColumnResult:
    """One monitored column's drift measurement."""

    name: str
    type: str
    method: str
    score: float
    threshold: float
    drifted: bool

    def to_status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "method": self.method,
            "score": _round(self.score),
            "threshold": _round(self.threshold),
            "drifted": self.drifted,
        }


@dataclass
class CheckOutcome:
    """The status to write, plus what produced it (for the CLI table and the report)."""

    status: dict[str, Any]
    columns: list[ColumnResult] = field(default_factory=list)
    report_path: Path | None = None


def _round(value: float) -> float | None:
    # Scores are shown and compared by people; 6 significant digits keep the JSON stable and readable.
    # A non-finite score (e.g. a divergence against an empty bin) is null: JSON has no infinity.
    return float(f"{value:.6g}") if np.isfinite(value) else None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run_id(now: datetime) -> str:
    """The run's identifier (`driftwatch.io/approve-retrain=<runId>`)."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass
class _Columns:
    numerical: list[str]
    categorical: list[str]
    prediction: str | None
    prediction_class: str | None
    target: str | None

    def ignored(self) -> list[str]:
        return [c for c in (self.prediction, self.prediction_class, self.target) if c] + list(CAPTURE_COLUMNS)


def _resolve_columns(spec: DriftCheckSpec, reference: pd.DataFrame) -> _Columns:
    cols = spec.columns
    target = cols.target
    prediction_class = cols.prediction_class
    if cols.numerical or cols.categorical:
        numerical, categorical = list(cols.numerical), list(cols.categorical)
    else:
        skip = {cols.prediction, prediction_class, target, *CAPTURE_COLUMNS, "prediction", "probability"}
        numerical, categorical = [], []
        for name in reference.columns:
            if name in skip:
                continue
            kind = quality.dtype_name(reference[name])
            (numerical if kind in ("int", "float", "bool") else categorical).append(str(name))
    # The prediction, class and target columns are compared with the reference too: a misspelt one
    # would otherwise silently drop prediction/target drift, or be monitored as a feature.
    named = (*numerical, *categorical, cols.prediction, prediction_class, target)
    unknown = [c for c in named if c and c not in reference.columns]
    if unknown:
        raise SpecError(f"columns {', '.join(unknown)} are not in the reference dataset")
    for name in numerical:
        kind = quality.dtype_name(reference[name])
        if kind not in ("int", "float", "bool"):
            raise SpecError(f"column {name} is listed as numerical but the reference holds {kind} values")
    resolved = _Columns(numerical, categorical, cols.prediction, prediction_class, target)
    overrides = set(spec.drift.per_column) - set(numerical) - set(categorical) - set(resolved.ignored())
    if overrides:
        raise SpecError(f"drift.perColumn names {', '.join(sorted(overrides))}, not a monitored column")
    return resolved


def _load(
    spec: DriftCheckSpec, now: datetime, reference_uri: str | None, current_uri: str | None
) -> tuple[pd.DataFrame, pd.DataFrame, Window | None, int]:
    ref_uri = reference_uri or spec.reference.uri
    cur_uri = current_uri or spec.current.uri
    try:
        reference = datasets.read_table(ref_uri)
    except DataError as exc:
        raise UnusableInput(f"reference: {exc}") from None
    if reference.empty:
        raise UnusableInput(f"reference: {ref_uri} has no rows")
    target = spec.columns.target
    try:
        if datasets.is_file_uri(cur_uri):
            current = datasets.read_table(cur_uri)
            return reference, current, datasets.ts_bounds(current), datasets.labelled_rows(current, target)
        window = datasets.window_of(now, spec.current.window_delta)
        current, labelled = datasets.read_capture_window(cur_uri, window, target=target)
        return reference, current, window, labelled
    except DataError as exc:
        raise UnusableInput(f"current: {exc}") from None


def _samples(reference: pd.Series, current: pd.Series, kind: Kind) -> tuple[Sample, Sample]:
    """Both sides as sorted samples: finite floats, or codes into one sorted codebook of both sides."""
    if kind == "numerical":
        ref, cur = datasets.as_float(reference), datasets.as_float(current)
        return Sample.of(ref[np.isfinite(ref)]), Sample.of(cur[np.isfinite(cur)])
    # Factorize each side (a hash pass), then map the few distinct labels onto a shared sorted
    # codebook; mapping every row through a Python dict is ten times slower at 1M rows.
    ref_codes, ref_labels = pd.factorize(reference)
    cur_codes, cur_labels = pd.factorize(current)
    ref_text = [datasets.category_label(v) for v in ref_labels]
    cur_text = [datasets.category_label(v) for v in cur_labels]
    book = {label: i for i, label in enumerate(sorted(set(ref_text) | set(cur_text)))}
    ref_map = np.array([book[t] for t in ref_text], dtype=np.int64)
    cur_map = np.array([book[t] for t in cur_text], dtype=np.int64)
    return Sample.of(ref_map[ref_codes[ref_codes >= 0]]), Sample.of(cur_map[cur_codes[cur_codes >= 0]])


class _Measurer:
    """Scores columns with the spec's methods and thresholds (calibrated against the reference)."""

    def __init__(self, spec: DriftCheckSpec, calibrator: Calibrator) -> None:
        self.spec = spec
        self.calibrator = calibrator

    def method_and_fixed_threshold(
        self, name: str, kind: Kind, ref: Sample, cur: Sample
    ) -> tuple[str, float | None]:
        override = self.spec.drift.per_column.get(name)
        method: str = (override.method if override and override.method else None) or self.spec.drift.method
        if method == "auto":
            method = drift_stats.auto_method(kind, drift_stats.n_unique(ref, cur))
        if kind not in drift_stats.METHOD_INFO[method].kinds:
            raise SpecError(f"method {method} does not apply to {kind} column {name}")
        if override and override.threshold is not None:
            return method, override.threshold
        if self.spec.drift.thresholds == "fixed":
            threshold = self.spec.drift.threshold
            return method, drift_stats.METHOD_INFO[
                method
            ].default_threshold if threshold is None else threshold
        return method, None

    def measure(self, name: str, kind: Kind, reference: pd.Series, current: pd.Series) -> ColumnResult | None:
        ref, cur = _samples(reference, current, kind)
        if ref.size == 0 or cur.size == 0:
            return None
        method, threshold = self.method_and_fixed_threshold(name, kind, ref, cur)
        if threshold is None:
            threshold = self.calibrator.threshold(
                method, ReferenceColumn.from_counts(ref.support, ref.counts, kind), cur.size
            )
        score = drift_stats.statistic(method, ref, cur, kind)
        return ColumnResult(
            name, kind, method, score, threshold, drift_stats.is_drifted(method, score, threshold)
        )


def _side_result(result: ColumnResult | None, column: str, **extra: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    out = result.to_status()
    out.pop("name")
    out.pop("type")
    return {"column": column, **out, **extra}


def _merge_conditions(
    previous: Sequence[Mapping[str, Any]], new: Sequence[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """The whole conditions list: others' kept, ours replaced (lastTransitionTime kept if same status)."""
    before = {c.get("type"): c for c in previous}
    out = [dict(c) for c in previous if c.get("type") not in CHECK_CONDITIONS]
    for condition in new:
        old = before.get(condition["type"])
        kept = old.get("lastTransitionTime") if old and old.get("status") == condition["status"] else None
        merged = {**condition, "lastTransitionTime": kept or _iso(now)}
        if old and "observedGeneration" in old:
            merged["observedGeneration"] = old["observedGeneration"]
        out.append(merged)
    return out


def _carried(previous_status: Mapping[str, Any] | None) -> dict[str, Any]:
    prev = dict(previous_status or {})
    return {
        "runs": int(prev.get("runs") or 0),
        "runsByVerdict": dict(prev.get("runsByVerdict") or {}),
        "history": list(prev.get("history") or []),
        "conditions": list(prev.get("conditions") or []),
        "consecutiveDriftRuns": int(prev.get("consecutiveDriftRuns") or 0),
        "lastRetrainRecommendationTime": prev.get("lastRetrainRecommendationTime"),
        "lastSuccessfulRunTime": prev.get("lastSuccessfulRunTime"),
    }


def _bookkeeping(
    carried: dict[str, Any], verdict: str, recommendation: str, drift_share: float | None, now: datetime
) -> dict[str, Any]:
    by_verdict = dict(carried["runsByVerdict"])
    by_verdict[verdict] = int(by_verdict.get(verdict, 0)) + 1
    entry = {
        "time": _iso(now),
        "runId": run_id(now),
        "verdict": verdict,
        "driftShare": drift_share,
        "recommendation": recommendation,
    }
    return {
        "runs": carried["runs"] + 1,
        "runsByVerdict": dict(sorted(by_verdict.items())),
        "history": [entry, *carried["history"]][:HISTORY_LIMIT],
        "lastRunTime": _iso(now),
    }


def error_status(
    previous_status: Mapping[str, Any] | None, now: datetime | None, message: str
) -> dict[str, Any]:
    """Status of a run that could not produce a verdict: keeps history and counters, says why."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    carried = _carried(previous_status)
    reason = " ".join(message.split())[:1000]
    status: dict[str, Any] = {
        "verdict": "Error",
        "recommendation": "None",
        "reason": reason,
        "runId": run_id(now),
        **_bookkeeping(carried, "Error", "None", None, now),
        "lastSuccessfulRunTime": carried["lastSuccessfulRunTime"],
        "consecutiveDriftRuns": carried["consecutiveDriftRuns"],
        "lastRetrainRecommendationTime": carried["lastRetrainRecommendationTime"],
    }
    status["conditions"] = _merge_conditions(
        carried["conditions"],
        [
            {"type": "Drifted", "status": "Unknown", "reason": "Error", "message": reason},
            {"type": "RetrainRecommended", "status": "Unknown", "reason": "Error", "message": reason},
        ],
        now,
    )
    return status


def _policy_thresholds(spec: DriftCheckSpec) -> policy.PolicyThresholds:
    p = spec.policy
    return policy.PolicyThresholds(p.investigate_share, p.retrain_share, p.consecutive_runs, p.cooldown_delta)


def run_check(
    spec: DriftCheckSpec,
    *,
    previous_status: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    reference_uri: str | None = None,
    current_uri: str | None = None,
    report_dir: str | Path | None = None,
    force_report: bool = False,
    run_name: str = "check",
    seed: int = 0,
    settings: EngineSettings | None = None,
) -> CheckOutcome:
    """Run one check; the status follows docs/architecture.md (without `Ready` and observedGeneration)."""
    settings = settings or EngineSettings()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if spec.columns.target is None:
        # A reference written by `driftwatch-inference train` sits next to its model card, which names
        # the label; without it the label would be monitored as a feature the capture never holds.
        target = datasets.card_target(reference_uri or spec.reference.uri)
        if target:
            spec = spec.model_copy(update={"columns": spec.columns.model_copy(update={"target": target})})
    reference, current, window, labelled = _load(spec, now, reference_uri, current_uri)
    cols = _resolve_columns(spec, reference)
    if not (set(cols.numerical) | set(cols.categorical)) & set(current.columns) and not current.empty:
        raise UnusableInput("no monitored column is present in both the reference and the current data")
    carried = _carried(previous_status)
    # An empty window has nothing to assess; reporting every column as missing would mislead.
    dq = (
        quality.assess(reference, current, cols.numerical, cols.categorical, cols.ignored())
        if not current.empty
        else quality.DataQuality()
    )
    calibrator = Calibrator(
        CalibrationConfig(settings.calibration_replicates, settings.calibration_quantile, seed),
        settings.calibration_cache_dir,
    )
    measurer = _Measurer(spec, calibrator)
    # An empty window measures nothing, whatever minRows says (issue 9: it came out NoDrift).
    enough = not current.empty and len(current) >= spec.current.min_rows
    results: list[ColumnResult] = []
    prediction_drift: dict[str, Any] | None = None
    target_drift: dict[str, Any] | None = None
    if enough:
        unusable = dq.unusable_columns()
        features: list[tuple[str, Kind]] = [(n, "numerical") for n in cols.numerical]
        features += [(n, "categorical") for n in cols.categorical]
        for name, kind in features:
            # A column that is absent, mistyped or empty is reported under dataQuality, not measured.
            measured = (
                None if name in unusable else measurer.measure(name, kind, reference[name], current[name])
            )
            if measured is not None:
                results.append(measured)
        if cols.prediction and cols.prediction in reference.columns and cols.prediction in current.columns:
            r = measurer.measure(
                cols.prediction, "numerical", reference[cols.prediction], current[cols.prediction]
            )
            prediction_drift = _side_result(r, cols.prediction)
        pc_name = cols.prediction_class
        if pc_name and pc_name in reference.columns and pc_name in current.columns:
            r = measurer.measure(pc_name, "categorical", reference[pc_name], current[pc_name])
            class_drift = _side_result(r, pc_name)
            if prediction_drift is None:
                prediction_drift = class_drift
            elif class_drift is not None:
                prediction_drift["class"] = class_drift
        target = cols.target
        has_target = bool(target) and target in reference.columns and target in current.columns
        if target and has_target and labelled >= MIN_LABELLED_ROWS:
            r = measurer.measure(target, "categorical", reference[target], current[target])
            target_drift = _side_result(r, target, labelledRows=labelled)
    # Only columns actually measured count: absent or mistyped ones are reported under dataQuality.
    monitored = len(results) if enough else len(cols.numerical) + len(cols.categorical)
    drifted = sum(r.drifted for r in results)
    run = policy.RunResult(
        enough, len(current), spec.current.min_rows, dq.problems, drifted, max(monitored, 0)
    )
    decision = policy.decide(
        run,
        _policy_thresholds(spec),
        now=now,
        history=carried["history"],
        consecutive_drift_runs=carried["consecutiveDriftRuns"],
        last_retrain_recommendation=_parse_time(carried["lastRetrainRecommendationTime"]),
    )
    share = round(run.drift_share, 4) if enough else 0.0
    rid = run_id(now)
    report_path, report_uri = None, None
    if (
        report_dir is not None
        and enough
        and (force_report or decision.verdict in ("Drift", "DataQualityIssue"))
    ):
        report_path, report_uri = _write_report(report_dir, rid, reference, current, results, seed)
    status: dict[str, Any] = {
        "verdict": decision.verdict,
        "recommendation": decision.recommendation,
        "reason": decision.reason,
        "runId": rid,
        "driftShare": share,
        "driftedColumns": drifted if enough else 0,
        "monitoredColumns": max(monitored, 0),
        "rows": {"reference": len(reference), "current": len(current), "labelled": labelled},
        "window": None if window is None else {"start": _iso(window.start), "end": _iso(window.end)},
        "thresholds": spec.drift.thresholds,
        "columns": [r.to_status() for r in results],
        "predictionDrift": prediction_drift,
        "targetDrift": target_drift,
        "dataQuality": dq.to_status(),
        **_bookkeeping(carried, decision.verdict, decision.recommendation, share if enough else None, now),
        "lastSuccessfulRunTime": _iso(now),
        "consecutiveDriftRuns": decision.consecutive_drift_runs,
        "lastRetrainRecommendationTime": _iso(decision.last_retrain_recommendation),
        "report": None if report_uri is None else {"uri": report_uri},
    }
    drifted_status = "True" if decision.verdict == "Drift" else "False"
    retrain = "True" if decision.recommendation == "Retrain" else "False"
    status["conditions"] = _merge_conditions(
        carried["conditions"],
        [
            {
                "type": "Drifted",
                "status": drifted_status,
                "reason": decision.verdict,
                "message": decision.reason,
            },
            {
                "type": "RetrainRecommended",
                "status": retrain,
                "reason": decision.recommendation,
                "message": decision.reason,
            },
        ],
        now,
    )
    log.info("check %s: %s / %s: %s", run_name, decision.verdict, decision.recommendation, decision.reason)
    return CheckOutcome(status=status, columns=results, report_path=report_path)


def _write_report(
    report_dir: str | Path,
    rid: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    results: Sequence[ColumnResult],
    seed: int,
) -> tuple[Path | None, str | None]:
    """Write Evidently's HTML report; returns the local file (if local) and the report's URI."""
    target = str(report_dir).rstrip("/")
    remote = "://" in target and not target.startswith("file://")
    directory = (
        Path(tempfile.mkdtemp(prefix="driftwatch-report-"))
        if remote
        else Path(target.removeprefix("file://"))
    )
    path = directory / f"{rid}.html"
    numerical = [r.name for r in results if r.type == "numerical"]
    categorical = [r.name for r in results if r.type == "categorical"]
    columns = numerical + categorical
    if not columns:
        return None, None

    def sample(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[columns]
        if len(frame) > REPORT_SAMPLE_ROWS:
            frame = frame.sample(REPORT_SAMPLE_ROWS, random_state=seed)
        frame = frame.copy()
        for name in numerical:
            frame[name] = datasets.as_float(frame[name])
        for name in categorical:
            frame[name] = frame[name].astype(object)
        return frame.reset_index(drop=True)

    from driftwatch_controller import evidently_adapter  # lazy: importing Evidently costs seconds

    try:
        evidently_adapter.write_html_report(
            sample(reference),
            sample(current),
            numerical,
            categorical,
            {r.name: r.method for r in results},
            {r.name: r.threshold for r in results},
            path,
        )
        if remote:
            uri = f"{target}/{rid}.html"
            fs, remote_path = fsspec.core.url_to_fs(uri)
            fs.put_file(str(path), remote_path)
            shutil.rmtree(directory, ignore_errors=True)
            return None, uri
    except Exception as exc:  # the verdict must survive a report failure; say why in the log
        log.warning("HTML report not written to %s: %s", target, exc)
        return None, None
    return path, path.resolve().as_uri()
