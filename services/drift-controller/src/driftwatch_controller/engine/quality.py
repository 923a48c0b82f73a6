"""Data quality, checked before any drift test, in our own code.

Evidently 0.7.23 silently drops NaN/inf, raises on a missing column, crashes on nullable Int64 and
on numbers stored as strings, and does not flag a new category (issue 3). So this module compares the
current window with the reference column by column and says what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from driftwatch_controller.engine.datasets import as_float, category_label

# A rise of the missing/non-finite share this large is a broken pipeline, not drift.
BROKEN_MISSING_SHARE = 0.1
# Smaller rises than this are sampling noise and are not reported.
REPORTED_MISSING_RISE = 0.005


def dtype_name(series: pd.Series) -> str:
    """`int`, `float`, `bool`, `string`, `datetime` or `other`: the level at which types are compared."""
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return "bool"
    if ptypes.is_integer_dtype(dtype):
        return "int"
    if ptypes.is_float_dtype(dtype):
        return "float"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    if ptypes.is_string_dtype(dtype) or ptypes.is_object_dtype(dtype):
        non_null = series.dropna()
        if len(non_null) and all(isinstance(v, bool) for v in non_null.head(100)):
            return "bool"
        if len(non_null) and all(isinstance(v, int | float | np.number) for v in non_null.head(100)):
            return "float"
        return "string"
    return "other"


def _numeric(name: str) -> bool:
    return name in ("int", "float", "bool")


@dataclass
class DataQuality:
    """What is wrong with the current window, in the status' `dataQuality` shape."""

    missing_columns: list[str] = field(default_factory=list)
    new_columns: list[str] = field(default_factory=list)
    type_mismatches: list[dict[str, str]] = field(default_factory=list)
    missing_value_share: dict[str, float] = field(default_factory=dict)
    new_categories: list[dict[str, object]] = field(default_factory=list)
    out_of_range_share: dict[str, float] = field(default_factory=dict)
    # Features the capture leaves out or hashes (issue 13): not monitored, never flagged as missing.
    unmonitored_columns: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def broken(self) -> bool:
        """Schema or type breakage, or a large rise in missing values: verdict DataQualityIssue."""
        return bool(self.problems)

    def unusable_columns(self) -> set[str]:
        """Columns that cannot be drift-tested this run (absent or of the wrong type)."""
        return set(self.missing_columns) | {m["column"] for m in self.type_mismatches}

    def to_status(self) -> dict[str, object]:
        return {
            "missingColumns": list(self.missing_columns),
            "newColumns": list(self.new_columns),
            "typeMismatches": list(self.type_mismatches),
            "missingValueShare": dict(self.missing_value_share),
            "newCategories": list(self.new_categories),
            "outOfRangeShare": dict(self.out_of_range_share),
            "unmonitoredColumns": list(self.unmonitored_columns),
        }


def _missing_share(series: pd.Series, numeric: bool) -> float:
    if len(series) == 0:
        return 0.0
    if numeric:
        values = as_float(series)
        return float(np.mean(~np.isfinite(values)))
    return float(series.isna().mean())


def assess(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    ignored: Sequence[str] = (),
) -> DataQuality:
    """Compare `current` with `reference` for the monitored columns (shares rounded to 4 digits)."""
    dq = DataQuality()
    monitored = [*numerical, *categorical]
    dq.missing_columns = [c for c in monitored if c not in current.columns]
    known = set(reference.columns) | set(ignored)
    dq.new_columns = sorted(c for c in current.columns if c not in known)
    if dq.missing_columns:
        dq.problems.append(f"missing columns {', '.join(dq.missing_columns)}")
    for column in monitored:
        if column not in current.columns or column not in reference.columns:
            continue
        expected, actual = dtype_name(reference[column]), dtype_name(current[column])
        if column in numerical and not _numeric(actual) and len(current[column].dropna()):
            dq.type_mismatches.append({"column": column, "expected": expected, "actual": actual})
            dq.problems.append(f"{column} is {actual}, expected {expected}")
            continue
        numeric = column in numerical
        ref_missing = _missing_share(reference[column], numeric)
        cur_missing = _missing_share(current[column], numeric)
        if cur_missing > ref_missing + REPORTED_MISSING_RISE:
            dq.missing_value_share[column] = round(cur_missing, 4)
            if cur_missing - ref_missing >= BROKEN_MISSING_SHARE:
                dq.problems.append(
                    f"{column} missing in {cur_missing:.0%} of rows (reference {ref_missing:.0%})"
                )
        if numeric:
            ref_values = as_float(reference[column])
            ref_values = ref_values[np.isfinite(ref_values)]
            cur_values = as_float(current[column])
            cur_values = cur_values[np.isfinite(cur_values)]
            if ref_values.size and cur_values.size:
                outside = (cur_values < ref_values.min()) | (cur_values > ref_values.max())
                share = float(outside.mean())
                if share > 0:
                    dq.out_of_range_share[column] = round(share, 4)
        else:
            # Compared as text over the distinct values only (a few), not row by row.
            ref_cats = {category_label(v) for v in reference[column].dropna().unique()}
            cur = current[column].dropna()
            unseen = {v: category_label(v) for v in cur.unique() if category_label(v) not in ref_cats}
            if unseen:
                dq.new_categories.append(
                    {
                        "column": column,
                        "values": sorted(set(unseen.values()))[:20],
                        "share": round(int(cur.isin(list(unseen)).sum()) / max(len(current), 1), 4),
                    }
                )
    return dq
