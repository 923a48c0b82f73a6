"""The only module that imports Evidently (0.7.23): its stattests, its `DataDriftPreset` and its HTML report.

Evidently's API moves between minor versions and `import evidently` costs several seconds, so every
import here is lazy and callers get plain floats, dicts and files back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from driftwatch_controller.drift_stats import Kind


def evidently_statistic(method: str, ref: pd.Series, cur: pd.Series, kind: Kind) -> float:
    """Score of Evidently's own registered stattest `method` (the oracle the numpy ports are held to)."""
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if kind == "numerical" else ColumnType.Categorical
    stattest = get_registered_stattest(method, column_type)
    # hellinger drops NaN in place: hand it copies so the caller's data is untouched.
    result = stattest(ref.copy(), cur.copy(), column_type, None)
    return float(result.drift_score)


def _datasets(
    reference: pd.DataFrame, current: pd.DataFrame, numerical: Sequence[str], categorical: Sequence[str]
) -> tuple[Any, Any]:
    from evidently import DataDefinition, Dataset

    definition = DataDefinition(numerical_columns=list(numerical), categorical_columns=list(categorical))
    columns = [*numerical, *categorical]
    return (
        Dataset.from_pandas(reference[columns], data_definition=definition),
        Dataset.from_pandas(current[columns], data_definition=definition),
    )


def _run_preset(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    methods: Mapping[str, str],
    thresholds: Mapping[str, float] | None,
) -> Any:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref_ds, cur_ds = _datasets(reference, current, numerical, categorical)
    preset = DataDriftPreset(
        columns=[*numerical, *categorical],
        per_column_method=dict(methods),
        per_column_threshold=dict(thresholds) if thresholds else None,
    )
    return Report([preset]).run(current_data=cur_ds, reference_data=ref_ds)


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
