"""The Spark engine (local[2]) against the numpy engine on the same 1M-row windows (issue 15, part 4).

Exact counts: every statistic's score and calibrated threshold equal the numpy engine's to 1e-9 for
every method and column kind, with and without drift. KLL sketches (a low exactDistinctLimit): the
Wasserstein score within spark_stats.sketch_error_bound, KS's D within twice the rank error, and the
same drift decisions. A whole `driftwatch check` with `engine: spark` writes the numpy engine's status
but for `engine`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from driftwatch_controller.api.spec import DriftCheckSpec
from driftwatch_controller.engine import check, spark_engine, spark_stats
from driftwatch_controller.engine.calibration import CalibrationConfig, Calibrator
from driftwatch_controller.engine.columns import resolve_columns
from driftwatch_controller.engine.measure import Measurer
from support.spark_data import NOW, Data

pytestmark = pytest.mark.integration

NUMERICAL = ["monthly_charges", "data_usage_gb", "tenure_months", "support_calls", "probability"]
CATEGORICAL = ["plan", "region"]
# About 1M distinct values each: sketched under a low exactDistinctLimit.
CONTINUOUS = ["data_usage_gb", "monthly_charges", "probability"]
METHODS = {
    "numerical": ["auto", "wasserstein", "ks", "psi", "jensenshannon", "hellinger", "kl_div"],
    "categorical": ["auto", "psi", "jensenshannon", "hellinger", "kl_div"],
}
# scipy's KS on 1M x 1M rows costs seconds per column on a loaded machine: one continuous column and
# one of few integer values (ties) cover both shapes of the empirical CDFs.
KS_COLUMNS = {"monthly_charges", "support_calls"}
# Fewer bootstrap replicates than a check's 400: the thresholds are compared, not judged, here.
CALIBRATION = CalibrationConfig(replicates=50)


def _spec(
    data: Data, scenario: str, method: str = "auto", numerical: list[str] = NUMERICAL, **spark: Any
) -> DriftCheckSpec:
    categorical = CATEGORICAL if numerical == NUMERICAL else []
    return DriftCheckSpec.model_validate(
        {
            "reference": {"uri": str(data.reference)},
            "current": {"uri": str(data.current_file[scenario])},
            "columns": {"numerical": numerical, "categorical": categorical},
            "drift": {"method": method},
            "engine": "spark",
            "spark": {"master": "local[2]", **spark},
        }
    )


def _summaries(spark: Any, data: Data, scenario: str, spec: DriftCheckSpec) -> spark_engine.Summaries:
    reference = pd.read_parquet(data.reference)
    columns = spark_engine.measured_columns(resolve_columns(spec, reference))
    return spark_engine.summarise(
        spark,
        spark_engine.Source((spark_engine.spark_path(str(data.reference)),)),
        spark_engine.Source((spark_engine.spark_path(str(data.current_file[scenario])),)),
        columns,
        spec.spark,
    )


@pytest.fixture(scope="module")
def frames(spark_data: Data) -> dict[str, pd.DataFrame]:
    return {
        "reference": pd.read_parquet(spark_data.reference),
        **{s: pd.read_parquet(p) for s, p in spark_data.current_file.items()},
    }


@pytest.mark.parametrize("scenario", ["none", "drift"])
def test_exact_scores_and_thresholds_equal_the_numpy_engines(
    spark: Any,
    spark_data: Data,
    frames: dict[str, pd.DataFrame],
    expected_calibration_cache: Path,
    scenario: str,
) -> None:
    spec = _spec(spark_data, scenario)
    summaries = _summaries(spark, spark_data, scenario, spec)
    assert summaries.sketched == []
    cols = resolve_columns(spec, frames["reference"])
    reference, current = frames["reference"], frames[scenario]
    numpy_cal = Calibrator(CALIBRATION, expected_calibration_cache)
    spark_cal = Calibrator(CALIBRATION)  # no cache: computed from Spark's own counts
    compared, drifted = 0, 0
    for kind, names in (("numerical", NUMERICAL), ("categorical", CATEGORICAL)):
        for method in METHODS[kind]:
            spec_m = _spec(spark_data, scenario, method)
            rows = Measurer(spec_m, numpy_cal)
            sparks = spark_engine.SparkMeasurer(
                spec_m, spark_cal, cols, *([spark_engine.Source(())] * 2), summaries=summaries
            )
            for name in names:
                if method == "ks" and name not in KS_COLUMNS:
                    continue
                want = rows.measure(name, kind, reference[name], current[name])
                got = sparks.measure(name, kind, reference[name].iloc[:0], current[name].iloc[:0])
                assert want is not None
                assert got is not None
                assert (got.method, got.type) == (want.method, want.type)
                assert math.isclose(got.score, want.score, rel_tol=1e-9, abs_tol=1e-9), (name, method)
                assert got.threshold == want.threshold, (name, method)
                assert got.drifted == want.drifted, (name, method)
                compared += 1
                drifted += got.drifted
    assert compared == len(NUMERICAL) * 6 + len(KS_COLUMNS) + len(CATEGORICAL) * 5
    # The planted drift is seen, and the undrifted window is not called drifted everywhere.
    assert (drifted > compared // 2) if scenario == "drift" else (drifted < compared // 4)


@pytest.mark.parametrize("scenario", ["none", "drift"])
def test_sketched_columns_stay_within_the_documented_bound(
    spark: Any,
    spark_data: Data,
    frames: dict[str, pd.DataFrame],
    expected_calibration_cache: Path,
    scenario: str,
) -> None:
    # 100k distinct values: the three continuous columns (about 1M distinct) are sketched, the rest counted.
    spec = _spec(spark_data, scenario, numerical=[*CONTINUOUS, "support_calls"], exactDistinctLimit=100_000)
    summaries = _summaries(spark, spark_data, scenario, spec)
    assert sorted(summaries.sketched) == sorted(CONTINUOUS)
    assert summaries.samples[("support_calls", "numerical")][0].exact
    assert 0 < summaries.rank_error < 0.001  # KLL at k=4096
    cols = resolve_columns(spec, frames["reference"])
    reference, current = frames["reference"], frames[scenario]
    # The exact side: the same columns' exact counts, scored by the same code as the sketches (the test
    # above holds that code equal to the numpy engine's; scipy's KS on the rows would cost minutes).
    exact = spark_engine.Summaries(
        {
            (n, "numerical"): (
                spark_stats.CountedSample.of_counts(*_counts(reference[n])),
                spark_stats.CountedSample.of_counts(*_counts(current[n])),
            )
            for n in CONTINUOUS
        }
    )
    for method in ("wasserstein", "ks"):
        spec_m = _spec(spark_data, scenario, method, CONTINUOUS, exactDistinctLimit=100_000)
        sources = [spark_engine.Source(())] * 2
        rows = spark_engine.SparkMeasurer(
            spec_m, Calibrator(CALIBRATION, expected_calibration_cache), cols, *sources, summaries=exact
        )
        sparks = spark_engine.SparkMeasurer(
            spec_m, Calibrator(CALIBRATION), cols, *sources, summaries=summaries
        )
        for name in summaries.sketched:
            ref_s, cur_s = summaries.samples[(name, "numerical")]
            assert not ref_s.exact
            assert ref_s.size == len(reference)
            empty = reference[name].iloc[:0]
            want = rows.measure(name, "numerical", empty, empty)
            got = sparks.measure(name, "numerical", empty, empty)
            assert want is not None
            assert got is not None
            assert got.drifted == want.drifted, (name, method, got, want)
            if method == "wasserstein":
                bound = spark_stats.sketch_error_bound("wasserstein", summaries.rank_error, ref_s, cur_s)
                assert abs(got.score - want.score) <= bound, name
                assert got.threshold > want.threshold  # the allowance for the sketch's error
            else:
                d_exact = spark_stats.ks_statistic(*exact.samples[(name, "numerical")])
                d_sketch = spark_stats.ks_statistic(ref_s, cur_s)
                bound = spark_stats.sketch_error_bound("ks_statistic", summaries.rank_error, ref_s, cur_s)
                assert abs(d_sketch - d_exact) <= bound, name
                assert got.score >= want.score  # the conservative p-value


def _counts(values: pd.Series) -> tuple[Any, Any]:
    counts = values.value_counts().sort_index()
    return counts.index.to_numpy(dtype="float64"), counts.to_numpy(dtype="int64")


# The drift window holds drifted and undrifted columns (region is drawn alike): one run covers both.
@pytest.mark.parametrize("scenario", ["drift"])
def test_a_whole_check_writes_the_numpy_engines_status(
    spark: Any, spark_data: Data, expected_calibration_cache: Path, scenario: str
) -> None:
    body = {
        "reference": {"uri": str(spark_data.reference)},
        "current": {"uri": f"file://{spark_data.capture[scenario]}", "window": "1h"},
        "columns": {"prediction": "probability"},
        "spark": {"master": "local[2]"},
    }
    # The numpy run (the expected status) reads the thresholds the tests above computed; the Spark run
    # computes its own.
    cached = check.EngineSettings(
        calibration_replicates=100, calibration_cache_dir=expected_calibration_cache
    )
    numpy_run = check.run_check(DriftCheckSpec.model_validate(body), now=NOW, settings=cached)
    spark_spec = DriftCheckSpec.model_validate({**body, "engine": "spark"})
    spark_run = check.run_check(
        spark_spec, now=NOW, settings=check.EngineSettings(calibration_replicates=100)
    )
    want, got = numpy_run.status, spark_run.status
    assert (want.pop("engine"), got.pop("engine")) == ("numpy", "spark")
    assert got == want
    assert got["rows"]["current"] == 1_000_000  # the rows before the window left out by both engines
    assert len(got["columns"]) == len(NUMERICAL) - 1 + len(CATEGORICAL)
    assert got["predictionDrift"]["column"] == "probability"
    assert got["verdict"] == ("Drift" if scenario == "drift" else "NoDrift")
    assert {c["name"] for c in got["columns"] if not c["drifted"]} == {"region"}
