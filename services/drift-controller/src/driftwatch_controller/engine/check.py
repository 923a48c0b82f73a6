"""One drift check: load, data quality, calibrated drift per column, decision, HTML report.

`run_check` returns what it measured and decided (`api.status.RunOutcome`); `api.status` renders
the status from it. `load_inputs` is its first step on its own, for a caller that reads the data
apart from measuring it (the Prefect flow's load task, retried on I/O errors) and hands what it read
to `run_check(inputs=...)`, so nothing is read twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from driftwatch_capture import schema as capture
from driftwatch_capture.schema import ClassLabel
from pydantic_settings import BaseSettings, SettingsConfigDict

from driftwatch_controller.api import status as dc_status
from driftwatch_controller.api.spec import DriftCheckSpec
from driftwatch_controller.api.times import run_id
from driftwatch_controller.engine import (
    datasets,
    html_report,
    multivariate,
    performance_policy,
    policy,
    quality,
    segments,
    sketch_check,
)
from driftwatch_controller.engine.calibration import CalibrationConfig, Calibrator
from driftwatch_controller.engine.columns import Columns, resolve_columns
from driftwatch_controller.engine.datasets import DataError, Window
from driftwatch_controller.engine.drift_stats import Kind
from driftwatch_controller.engine.measure import ColumnResult, Measurer
from driftwatch_controller.engine.performance import check_performance

log = logging.getLogger(__name__)

# Fewer labelled rows than this say nothing useful about the target's distribution.
MIN_LABELLED_ROWS = 30
# A smaller reference is unusable input (issue 12): a per-column statistic against a handful of rows,
# and a threshold calibrated on subsamples of them, call drift on noise (1 row gave "Drift 10 of 15").
MIN_REFERENCE_ROWS = 100


class UnusableInput(Exception):  # noqa: N818 - name fixed by the operator interface
    """The check cannot run on this input (unreadable file, no common columns, ...); one-line reason."""


class EngineSettings(BaseSettings):
    """Environment of a check process (env prefix DRIFTWATCH_)."""

    model_config = SettingsConfigDict(env_prefix="DRIFTWATCH_")

    calibration_cache_dir: Path | None = None
    calibration_replicates: int = 400
    calibration_quantile: float = 0.995


@dataclass
class CheckOutcome:
    """What a run decided (rendered as the status), plus what produced it (for the CLI and the report)."""

    run: dc_status.RunOutcome
    columns: list[ColumnResult] = field(default_factory=list)
    report_path: Path | None = None

    @property
    def status(self) -> dict[str, Any]:
        return dc_status.check_status(self.run)


def _load_reference(spec: DriftCheckSpec, reference_uri: str | None) -> pd.DataFrame:
    ref_uri = reference_uri or spec.reference.uri
    try:
        reference = datasets.read_table(ref_uri)
    except DataError as exc:
        raise UnusableInput(f"reference: {exc}") from None
    if reference.empty:
        raise UnusableInput(f"reference: {ref_uri} has no rows")
    if len(reference) < MIN_REFERENCE_ROWS:
        rows = f"{len(reference)} row" + ("" if len(reference) == 1 else "s")
        raise UnusableInput(
            f"reference: {ref_uri} has {rows}, fewer than the {MIN_REFERENCE_ROWS} a check needs to tell "
            "drift from noise"
        )
    return reference


def _load_current(
    spec: DriftCheckSpec, now: datetime, current_uri: str | None, reference: pd.DataFrame
) -> tuple[datasets.WindowRead, Window | None]:
    cur_uri = current_uri or spec.current.uri
    target = spec.columns.target
    try:
        if datasets.is_file_uri(cur_uri):
            current = datasets.read_table(cur_uri)
            read = datasets.WindowRead(
                current, datasets.labelled_rows(current, target), controls=datasets.file_controls(cur_uri)
            )
            return read, datasets.ts_bounds(current)
        window = datasets.window_of(now, spec.current.window_delta)
        expected = datasets.column_families(reference)
        read = datasets.read_capture_window(cur_uri, window, target=target, expected=expected)
    except DataError as exc:
        raise UnusableInput(f"current: {exc}") from None
    for note in read.coerced:
        log.warning("current: capture files disagree on a type, coerced: %s", note)
    for skipped in read.skipped:
        log.warning("current: capture file %s skipped: %s", skipped.name, skipped.reason)
    return read, window


@dataclass
class _Measured:
    features: list[ColumnResult] = field(default_factory=list)
    prediction: dict[str, Any] | None = None
    target: dict[str, Any] | None = None


def _prediction_drift(
    value: dict[str, Any] | None, predicted_class: dict[str, Any] | None, probabilities: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """`status.predictionDrift`: the numerical output on top (else the class), the rest nested in it."""
    out = value if value is not None else predicted_class
    if out is None and not probabilities:
        return None
    out = dict(out or {})
    if value is not None and predicted_class is not None:
        out["class"] = predicted_class
    if probabilities:
        out["classProbabilities"] = probabilities
    return out


def _measure_all(
    measurer: Measurer,
    cols: Columns,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    unusable: set[str],
    labelled: int,
) -> _Measured:
    out = _Measured()
    features: list[tuple[str, Kind]] = [(n, "numerical") for n in cols.numerical]
    features += [(n, "categorical") for n in cols.categorical]
    for name, kind in features:
        # A column that is absent, mistyped or empty is reported under dataQuality, not measured.
        if name not in unusable and (r := measurer.measure(name, kind, reference[name], current[name])):
            out.features.append(r)

    def side(name: str | None, kind: Kind, **extra: Any) -> dict[str, Any] | None:
        if not name or name not in reference.columns or name not in current.columns:
            return None
        result = measurer.measure(name, kind, reference[name], current[name])
        return None if result is None else result.side_status(**extra)

    probabilities = [p for name in cols.class_probabilities if (p := side(name, "numerical")) is not None]
    out.prediction = _prediction_drift(
        side(cols.prediction, cols.prediction_kind), side(cols.prediction_class, "categorical"), probabilities
    )
    if labelled >= MIN_LABELLED_ROWS:
        out.target = side(cols.target, cols.target_kind, labelledRows=labelled)
    return out


def _engine_measurer(
    spec: DriftCheckSpec,
    calibrator: Calibrator,
    cols: Columns,
    reference_uri: str | None,
    current_uri: str | None,
    window: Window | None,
    skipped: Sequence[datasets.SkippedFile],
) -> Measurer:
    """The numpy Measurer, or for `engine: spark` one whose distributions Spark computed (read here, so a
    Spark failure is the run's one-line Error)."""
    if spec.engine != "spark":
        return Measurer(spec, calibrator)
    from driftwatch_controller.engine import spark_engine  # pyspark is an optional extra

    measurer = spark_engine.measurer(
        spec,
        calibrator,
        cols,
        reference_uri or spec.reference.uri,
        current_uri or spec.current.uri,
        window,
        skipped,
    )
    try:
        measurer.summaries  # noqa: B018 - computed now, so its failure is reported as unusable input
    except (spark_engine.SparkError, ImportError) as exc:
        raise UnusableInput(f"spark: {exc}") from None
    return measurer


def _load_sketches(
    spec: DriftCheckSpec, now: datetime, current_uri: str | None
) -> tuple[sketch_check.SketchWindow | None, str | None]:
    """The window's merged sketch when `spec.drift.data` asks for it and it serves, else None; and why."""
    mode = spec.drift.data
    if mode == "rows":
        return None, None
    cur_uri = current_uri or spec.current.uri
    if datasets.is_file_uri(cur_uri):
        return None, f"{mode}: {cur_uri} is one file, not a capture tree: read as rows"
    if spec.engine != "numpy":
        return None, f"{mode}: engine {spec.engine} reads rows"
    if spec.segments is not None:
        return None, f"{mode}: drift per segment needs rows"
    if mode == "auto" and spec.policy.performance.active:
        return None, "auto: the performance policy needs labelled rows"
    try:
        loaded = sketch_check.load_window(cur_uri, datasets.window_of(now, spec.current.window_delta), mode)
    except DataError as exc:
        raise UnusableInput(f"current: {exc}") from None
    if isinstance(loaded, sketch_check.RowsInstead):
        log.info("current: read as rows: %s", loaded.reason)
        return None, loaded.reason
    notes = [n for n in (loaded.reason,) if n]
    if spec.policy.performance.active:
        notes.append("performance needs labelled rows: not measured")
    for skipped in loaded.skipped:
        log.warning("current: capture file %s skipped: %s", skipped.name, skipped.reason)
    return loaded, "; ".join(notes) or None


def card_output_defaults(task: str, classes: Sequence[ClassLabel]) -> dict[str, Any]:
    """The output columns a DriftCheck of a model of `task` watches (docs/architecture.md, table of tasks)."""
    if task == "binary":
        return {"prediction": capture.PROBABILITY, "prediction_class": capture.PREDICTION}
    if task == "multiclass":
        probabilities = tuple(capture.class_probability_column(c) for c in classes)
        return {"prediction_class": capture.PREDICTION, "class_probabilities": probabilities}
    if task == "regression":
        return {"prediction": capture.PREDICTION}
    return {}


def with_card_defaults(
    spec: DriftCheckSpec, card: datasets.Card | None, reference: pd.DataFrame
) -> DriftCheckSpec:
    """The spec with what it leaves unnamed taken from the model card next to the reference.

    The card names the label (without it the label would be monitored as a feature the capture
    never holds) and, by its task and classes, the outputs; an output is defaulted only when the
    reference holds it and the spec does not list it as a feature.
    """
    if card is None:
        return spec
    cols = spec.columns
    changes: dict[str, Any] = {}
    if cols.target is None and card.target:
        changes["target"] = card.target
    features = {*cols.numerical, *cols.categorical}
    present = set(reference.columns) - features
    for name, value in card_output_defaults(card.task or "", card.classes).items():
        if getattr(cols, name):
            continue  # the spec names it: the spec wins
        if isinstance(value, tuple):
            value = tuple(v for v in value if v in present)
        elif value not in present:
            value = None
        if value:
            changes[name] = value
    if not changes:
        return spec
    return spec.model_copy(update={"columns": cols.model_copy(update=changes)})


def unmonitored_features(
    cols: Columns, controls: capture.CaptureControls, spec: DriftCheckSpec
) -> dict[str, str]:
    """The monitored features the capture excludes or hashes, each with how (`excluded`, `hashed`).

    A segmenting column among them is unusable input: segments are the reference's values.
    """
    how = {name: "excluded" for name in controls.excluded} | {name: "hashed" for name in controls.hashed}
    if spec.segments is not None:
        for name in spec.segments.columns:
            if name in how:
                raise UnusableInput(
                    f"spec.segments: column {name} is {how[name]} in the capture, so its values cannot be "
                    "grouped as the reference's: segment by a captured column"
                )
    return {name: how[name] for name in [*cols.numerical, *cols.categorical] if name in how}


def rows_status(
    reference: int, current: int, labelled: int, controls: capture.CaptureControls
) -> dict[str, int | float]:
    """`status.rows`: what was read, and at a sample rate below 1 the predictions it stands for."""
    rate = controls.sample_rate
    return {
        "reference": reference,
        "current": current,
        "labelled": labelled,
        "sampleRate": rate,
        "estimatedCurrent": round(current / rate),
    }


def _with_skipped(reason: str, skipped: Sequence[datasets.SkippedFile]) -> str:
    if not skipped:
        return reason
    files = "file" if len(skipped) == 1 else "files"
    return f"{reason} ({len(skipped)} capture {files} skipped, see status.skippedFiles)"


@dataclass(frozen=True)
class Inputs:
    """What one check reads, at `now`: the reference and its card, the spec with the card's defaults,
    and the current data as rows or as the window's merged sketch (`sketched`, then `read` holds its
    summary frame)."""

    now: datetime
    spec: DriftCheckSpec
    reference: pd.DataFrame
    card: datasets.Card | None
    read: datasets.WindowRead
    window: Window | None
    sketched: sketch_check.SketchWindow | None
    path_reason: str | None

    @property
    def current_rows(self) -> int:
        return len(self.read.frame) if self.sketched is None else self.sketched.rows


def load_inputs(
    spec: DriftCheckSpec,
    *,
    now: datetime | None = None,
    reference_uri: str | None = None,
    current_uri: str | None = None,
) -> Inputs:
    """Read what a check of `spec` at `now` measures; UnusableInput when it cannot be read or used
    (its I/O cause kept as `__context__`)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    reference = _load_reference(spec, reference_uri)
    # A reference written by `package` or `train` sits next to its model card (docs/architecture.md).
    card = datasets.read_card(reference_uri or spec.reference.uri)
    spec = with_card_defaults(spec, card, reference)
    sketched, path_reason = _load_sketches(spec, now, current_uri)
    if sketched is None:
        read, window = _load_current(spec, now, current_uri, reference)
    else:
        read = datasets.WindowRead(sketched.frame(), 0, sketched.skipped, controls=sketched.controls)
        window = datasets.window_of(now, spec.current.window_delta)
    return Inputs(now, spec, reference, card, read, window, sketched, path_reason)


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
    inputs: Inputs | None = None,
) -> CheckOutcome:
    """Run one check against what `previous_status` carries forward (history, streaks, cooldown).

    With `inputs` (from `load_inputs` of the same spec and URIs) nothing is read again, and the check
    runs at `inputs.now`."""
    settings = settings or EngineSettings()
    if inputs is None:
        inputs = load_inputs(spec, now=now, reference_uri=reference_uri, current_uri=current_uri)
    now, spec, reference, card = inputs.now, inputs.spec, inputs.reference, inputs.card
    read, window, sketched, path_reason = inputs.read, inputs.window, inputs.sketched, inputs.path_reason
    current, labelled = read.frame, read.labelled
    current_rows = inputs.current_rows
    cols = resolve_columns(spec, reference, card.task if card else None)
    if spec.segments is not None:
        segments.validate(spec.segments, cols, reference)
    # Capture controls (issue 13): a feature the capture leaves out, or holds as a keyed hash, has
    # nothing to compare with the reference; it is reported as unmonitored, never as missing.
    unmonitored = unmonitored_features(cols, read.controls, spec)
    cols = cols.without(set(unmonitored))
    if not cols.monitored() & set(current.columns) and current_rows:
        raise UnusableInput("no monitored column is present in both the reference and the current data")
    carried = dc_status.Carried.from_status(previous_status)
    # An empty window has nothing to assess; reporting every column as missing would mislead.
    dq = (
        quality.DataQuality()
        if not current_rows
        else quality.assess(reference, current, cols.numerical, cols.categorical, cols.ignored())
        if sketched is None
        else sketch_check.assess_quality(
            reference, sketched, cols.numerical, cols.categorical, cols.ignored()
        )
    )
    dq.unmonitored_columns = [{"column": name, "capture": how} for name, how in unmonitored.items()]
    calibrator = Calibrator(
        CalibrationConfig(settings.calibration_replicates, settings.calibration_quantile, seed),
        settings.calibration_cache_dir,
    )
    # An empty window measures nothing, whatever minRows says (issue 9: it came out NoDrift).
    enough = current_rows > 0 and current_rows >= spec.current.min_rows
    measured = (
        _measure_all(
            _engine_measurer(spec, calibrator, cols, reference_uri, current_uri, window, read.skipped)
            if sketched is None
            else sketch_check.SketchMeasurer(
                spec, calibrator, sketched, sketch_check.SketchMargins(settings.calibration_cache_dir, seed)
            ),
            cols,
            reference,
            current,
            dq.unusable_columns(),
            labelled,
        )
        if enough
        else _Measured()
    )
    results = measured.features
    # Only columns actually measured count: absent or mistyped ones are reported under dataQuality.
    monitored = len(results) if enough else len(cols.numerical) + len(cols.categorical)
    drifted = sum(r.drifted for r in results)
    # Drift per segment (issue 13): the same statistics, thresholds calibrated per segment and size.
    by_segment = (
        segments.measure(
            Measurer(spec, calibrator), cols, reference, current, spec.segments, dq.unusable_columns()
        )
        # A segment is a set of rows: a window read as sketches has none to group (docs/drift-engine.md).
        if enough and spec.segments is not None and sketched is None
        else None
    )
    # Multivariate drift (issue 13): one dataset-level signal that sees features move together differently.
    joint = (
        multivariate.for_check(
            spec.drift.multivariate,
            reference,
            current,
            cols.numerical,
            cols.categorical,
            dq.unusable_columns(),
            rows_read=sketched is None,
            config=multivariate.MultivariateConfig(coverage=settings.calibration_quantile, seed=seed),
            cache=multivariate.BandCache(settings.calibration_cache_dir),
        )
        if enough
        else None
    )
    # status.performance (issue 11) and the policy's reading of it: the drop counted by the decision.
    performance = (
        check_performance(cols, card, reference, current, spec.policy.performance, seed)
        if sketched is None
        else None  # labels are joined to rows by request id: a sketch has none (docs/drift-engine.md, Scale)
    )
    drop = performance_policy.read_drop(performance, spec.policy.performance)
    if performance is not None:
        performance["drop"] = None if drop is None else drop.to_status()
    run = policy.RunResult(
        enough,
        current_rows,
        spec.current.min_rows,
        dq.problems,
        drifted,
        monitored,
        performance=drop,
        worst_segment=by_segment.worst() if by_segment else None,
        multivariate_alarm=joint.alarm() if joint else None,
        sample_rate=read.controls.sample_rate,
    )
    decision = policy.decide(
        run,
        policy.PolicyThresholds.of(spec.policy),
        now=now,
        history=carried.history,
        consecutive_drift_runs=carried.consecutive_drift_runs,
        last_retrain_recommendation=carried.last_retrain_recommendation,
    )
    outcome = dc_status.RunOutcome(
        now=now,
        carried=carried,
        verdict=decision.verdict,
        recommendation=decision.recommendation,
        reason=_with_skipped(decision.reason, read.skipped),
        measured=enough,
        drift_share=round(run.drift_share, 4) if enough else 0.0,
        drifted_columns=drifted if enough else 0,
        monitored_columns=monitored,
        rows=rows_status(len(reference), current_rows, labelled, read.controls),
        window=None if window is None else (window.start, window.end),
        thresholds=spec.drift.thresholds,
        columns=[r.to_status() for r in results],
        prediction_drift=measured.prediction,
        target_drift=measured.target,
        data_quality=dq.to_status(),
        consecutive_drift_runs=decision.consecutive_drift_runs,
        last_retrain_recommendation=decision.last_retrain_recommendation,
        performance=performance,
        performance_degraded=decision.performance_degraded,
        skipped_files=len(read.skipped),
        skipped_named=[f.to_status() for f in read.skipped[: datasets.SKIPPED_FILES_NAMED]],
        segments=by_segment.to_status() if by_segment else (),
        segment_counts=by_segment.counts_status() if by_segment else None,
        engine=spec.engine,
        data_path="rows" if sketched is None else "sketches",
        data_path_reason=path_reason,
        multivariate=joint.to_status() if joint else None,
    )
    report_path = None
    if (
        report_dir is not None
        and enough
        and sketched is None  # the report plots rows
        and (force_report or decision.verdict in ("Drift", "DataQualityIssue"))
    ):
        # Written from the status this run writes, so the report tells the same story (issue 11).
        report_path, report_uri = html_report.write_report(
            report_dir,
            run_id(now),
            reference,
            current,
            results,
            seed,
            dc_status.check_status(outcome),
            spec.policy,
        )
        outcome = replace(outcome, report_uri=report_uri)
    log.info("check %s: %s / %s: %s", run_name, decision.verdict, decision.recommendation, decision.reason)
    return CheckOutcome(run=outcome, columns=results, report_path=report_path)
