"""The only module that imports Evidently (0.7.23): its stattests, its `DataDriftPreset` and its HTML report.

Evidently's API moves between minor versions and `import evidently` costs several seconds, so every
import here is lazy and callers get plain floats, dicts and files back.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
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
) -> Any:
    report_class = _import("evidently").Report
    preset_class = _import("evidently.presets").DataDriftPreset
    ref_ds, cur_ds = _datasets(reference, current, numerical, categorical)
    preset = preset_class(
        columns=[*numerical, *categorical],
        per_column_method=dict(methods),
        per_column_threshold=dict(thresholds) if thresholds else None,
    )
    return report_class([preset]).run(current_data=cur_ds, reference_data=ref_ds)


def preset_scores(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    methods: Mapping[str, str],
) -> dict[str, float]:
    """Per-column scores of Evidently's `DataDriftPreset` with the given methods (benchmark baseline)."""
    snapshot = _run_preset(reference, current, numerical, categorical, methods, None)
    scores: dict[str, float] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            scores[str(config["column"])] = float(metric["value"])
    return scores


def write_html_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    methods: Mapping[str, str],
    thresholds: Mapping[str, float],
    path: Path,
) -> None:
    """Evidently's drift report, with our methods and (calibrated) thresholds, as one HTML file."""
    snapshot = _run_preset(reference, current, numerical, categorical, methods, thresholds)
    path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(path))
