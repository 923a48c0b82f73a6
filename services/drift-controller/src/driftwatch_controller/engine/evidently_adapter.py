"""The only module that imports Evidently (0.7.23): its stattests, its `DataDriftPreset` and its HTML page.

Evidently's API moves between minor versions and `import evidently` costs several seconds, so every
import here is lazy and callers get plain floats, dicts and files back.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from driftwatch_controller.engine.drift_stats import Kind


def _import(module: str) -> Any:
    # Evidently 0.7.23 ships docstrings with invalid escape sequences; compiling them warns, and a
    # process running with warnings as errors (our tests) would fail to import it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module(module)


def evidently_statistic(method: str, ref: pd.Series, cur: pd.Series, kind: Kind) -> float:
    """Score of Evidently's own registered stattest `method` (the oracle the numpy ports are held to)."""
    get_registered_stattest = _import(
        "evidently.legacy.calculations.stattests.registry"
    ).get_registered_stattest
    column_type_enum = _import("evidently.legacy.core").ColumnType

    column_type = column_type_enum.Numerical if kind == "numerical" else column_type_enum.Categorical
    stattest = get_registered_stattest(method, column_type)
    # hellinger drops NaN in place: hand it copies so the caller's data is untouched.
    result = stattest(ref.copy(), cur.copy(), column_type, None)
    return float(result.drift_score)


def _datasets(
    reference: pd.DataFrame, current: pd.DataFrame, numerical: Sequence[str], categorical: Sequence[str]
) -> tuple[Any, Any]:
    evidently = _import("evidently")
    definition = evidently.DataDefinition(
        numerical_columns=list(numerical), categorical_columns=list(categorical)
    )
    columns = [*numerical, *categorical]
    return (
        evidently.Dataset.from_pandas(reference[columns], data_definition=definition),
        evidently.Dataset.from_pandas(current[columns], data_definition=definition),
    )


def _run_preset(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    methods: Mapping[str, str],
    thresholds: Mapping[str, float] | None,
    drift_share: float = 0.5,
) -> Any:
    report_class = _import("evidently").Report
    preset_class = _import("evidently.presets").DataDriftPreset
    ref_ds, cur_ds = _datasets(reference, current, numerical, categorical)
    preset = preset_class(
        columns=[*numerical, *categorical],
        drift_share=drift_share,
        per_column_method=dict(methods),
        per_column_threshold=dict(thresholds) if thresholds else None,
    )
    return report_class([preset]).run(current_data=cur_ds, reference_data=ref_ds)


def _run_value_drifts(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    methods: Mapping[str, str],
    thresholds: Mapping[str, float],
) -> Any:
    """One `ValueDrift` per column: the per-column distributions without a dataset-level verdict."""
    report_class = _import("evidently").Report
    value_drift = _import("evidently.metrics").ValueDrift
    ref_ds, cur_ds = _datasets(reference, current, numerical, categorical)
    metrics = [
        value_drift(column=name, method=methods[name], threshold=thresholds[name])
        for name in [*numerical, *categorical]
    ]
    return report_class(metrics).run(current_data=cur_ds, reference_data=ref_ds)


def _value_drift_scores(snapshot: Any) -> dict[str, float]:
    scores: dict[str, float] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            scores[str(config["column"])] = float(metric["value"])
    return scores


def preset_scores(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    methods: Mapping[str, str],
) -> dict[str, float]:
    """Per-column scores of Evidently's `DataDriftPreset` with the given methods (benchmark baseline)."""
    return _value_drift_scores(_run_preset(reference, current, numerical, categorical, methods, None))


@dataclass(frozen=True)
class DriftReportHtml:
    """Evidently's drift report of a run as one HTML page, and what Evidently itself concluded in it."""

    html: str
    scores: dict[str, float]  # Evidently's per-column score on the sample it was given
    drifted_columns: int
    drift_share: float  # the share of drifted columns (Evidently's `DriftedColumnsCount`)
    dataset_drift: bool  # share >= the dataset drift share it was given, as Evidently decides it
    dataset_verdict_shown: bool  # False when the page was rendered without Evidently's dataset verdict


def drift_report_html(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    methods: Mapping[str, str],
    thresholds: Mapping[str, float],
    drift_share: float,
    expected_dataset_drift: bool | None = None,
) -> DriftReportHtml:
    """Evidently's `DataDriftPreset` with our methods, (calibrated) thresholds and dataset drift share.

    When Evidently's own dataset verdict ("Dataset Drift is [NOT] detected") disagrees with
    `expected_dataset_drift` (it sees a sample, and the check may decide on more than features), the
    page is rendered from one `ValueDrift` per column instead, so it never contradicts the status.
    """
    snapshot = _run_preset(reference, current, numerical, categorical, methods, thresholds, drift_share)
    count: dict[str, float] = {}
    for metric in snapshot.dict()["metrics"]:
        if metric.get("config", {}).get("type", "").endswith("DriftedColumnsCount"):
            count = metric["value"]
    drifted, share = int(count.get("count", 0)), float(count.get("share", 0.0))
    # Evidently's rule (legacy.calculations.data_drift.get_dataset_drift): share >= drift_share.
    dataset_drift = share >= drift_share
    shown = expected_dataset_drift is None or expected_dataset_drift == dataset_drift
    if not shown:
        snapshot = _run_value_drifts(reference, current, numerical, categorical, methods, thresholds)
    return DriftReportHtml(
        html=snapshot.get_html_str(as_iframe=False),
        scores=_value_drift_scores(snapshot),
        drifted_columns=drifted,
        drift_share=share,
        dataset_drift=dataset_drift,
        dataset_verdict_shown=shown,
    )
