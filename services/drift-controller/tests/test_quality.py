"""Data quality: what Evidently misses is detected and reported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from driftwatch_controller.engine.quality import assess, dtype_name
from driftwatch_demo.synthetic import CATEGORICAL, NUMERICAL, generate

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return generate(5000, 3)


def test_quality_scenario_reports_every_break(reference) -> None:
    dq = assess(reference, generate(2000, 4, "quality"), NUMERICAL, CATEGORICAL)
    assert dq.missing_columns == ["call_minutes"]
    assert dq.type_mismatches == [{"column": "tenure_months", "expected": "int", "actual": "string"}]
    assert set(dq.missing_value_share) == {"monthly_charges", "data_usage_gb"}
    assert dq.missing_value_share["monthly_charges"] == pytest.approx(0.2, abs=0.03)
    [new] = dq.new_categories
    assert new["column"] == "internet_service"
    assert new["values"] == ["satellite"]
    assert new["share"] == pytest.approx(0.1, abs=0.03)
    assert dq.broken


def test_clean_window_has_no_problem(reference) -> None:
    dq = assess(reference, generate(2000, 5), NUMERICAL, CATEGORICAL)
    assert not dq.broken
    assert dq.missing_columns == []
    assert dq.type_mismatches == []
    assert dq.new_categories == []


def test_one_percent_new_category_and_inf_and_nullable_int_are_reported(reference) -> None:
    current = generate(2000, 6)
    current.loc[:19, "region"] = "atlantis"
    current["monthly_charges"] = current["monthly_charges"].astype(float)
    current.loc[:99, "monthly_charges"] = np.inf
    current["age"] = current["age"].astype("Int64")
    current.loc[:9, "age"] = pd.NA
    dq = assess(reference, current, NUMERICAL, CATEGORICAL)
    assert dq.new_categories == [{"column": "region", "values": ["atlantis"], "share": 0.01}]
    assert dq.missing_value_share["monthly_charges"] == 0.05
    assert dq.missing_value_share.get("age") is None  # 0.5% is within the noise allowance
    assert not dq.broken


def test_out_of_range_share_against_observed_range(reference) -> None:
    current = generate(1000, 7)
    current.loc[:49, "age"] = 150
    dq = assess(reference, current, NUMERICAL, CATEGORICAL)
    assert dq.out_of_range_share["age"] == 0.05


def test_new_column_is_reported_but_not_a_break(reference) -> None:
    current = generate(1000, 8).assign(extra=1)
    dq = assess(reference, current, NUMERICAL, CATEGORICAL)
    assert dq.new_columns == ["extra"]
    assert not dq.broken


def test_dtype_names() -> None:
    assert dtype_name(pd.Series([1, 2])) == "int"
    assert dtype_name(pd.Series([1, None], dtype="Int64")) == "int"
    assert dtype_name(pd.Series(["1", "2"])) == "string"
    assert dtype_name(pd.Series([1.5, None], dtype=object)) == "float"


def test_mixed_numbers_and_text_count_as_missing_not_a_crash(reference) -> None:
    current = generate(1000, 9)
    current["age"] = current["age"].astype(object)
    current.loc[800:, "age"] = "unknown"  # after the first 100 rows the type check samples
    dq = assess(reference, current, NUMERICAL, CATEGORICAL)
    assert dq.missing_value_share["age"] == 0.2
    assert dq.broken


def test_integer_category_is_not_new_when_a_missing_value_makes_it_float(reference) -> None:
    ref = reference.assign(num_lines=reference["num_lines"].astype(int))
    current = generate(1000, 10).assign(num_lines=lambda f: f["num_lines"].astype(float))
    current.loc[~current["num_lines"].isin(ref["num_lines"].unique()), "num_lines"] = 1.0  # only known values
    current.loc[:4, "num_lines"] = np.nan
    dq = assess(ref, current, [n for n in NUMERICAL if n != "num_lines"], [*CATEGORICAL, "num_lines"])
    assert dq.new_categories == []
