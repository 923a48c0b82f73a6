"""Unit tests of the Spark engine's pure parts: scores from counts, sketched samples, session conf, spec."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from driftwatch_controller.api.spec import DriftCheckSpec, SparkSpec
from driftwatch_controller.engine import drift_stats, spark_engine, spark_stats
from driftwatch_controller.engine.measure import samples
from driftwatch_controller.engine.spark_stats import CountedSample
from pydantic import ValidationError

pytestmark = pytest.mark.unit


def _counted(values: np.ndarray) -> CountedSample:
    support, counts = np.unique(values, return_counts=True)
    return CountedSample.of_counts(support, counts)


@pytest.mark.parametrize("rows", [400, 30_000])  # scipy's exact KS below 10,000 rows, asymptotic above
@pytest.mark.parametrize("method", drift_stats.METHODS)
def test_scores_from_counts_equal_the_row_statistics(method: str, rows: int) -> None:
    rng = np.random.default_rng(rows)
    ref = np.round(rng.normal(0, 1, rows), 2)
    cur = np.round(rng.normal(0.1, 1.1, rows // 2), 2)
    want = drift_stats.statistic(method, ref, cur, "numerical")
    got = spark_stats.statistic(method, _counted(ref), _counted(cur), "numerical")
    assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("method", ["psi", "jensenshannon", "hellinger", "kl_div"])
def test_categorical_codes_and_scores_equal_the_row_paths(method: str) -> None:
    rng = np.random.default_rng(3)
    ref = pd.Series(rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2]))
    cur = pd.Series(rng.choice(["b", "c", "d"], 3000))
    want_ref, want_cur = samples(ref, cur, "categorical")
    got_ref, got_cur = spark_engine.categorical_samples(
        ref.value_counts().to_dict(), cur.value_counts().to_dict()
    )
    np.testing.assert_array_equal(got_ref.support, want_ref.support)
    np.testing.assert_array_equal(got_cur.counts, want_cur.counts)
    assert got_ref.support.dtype == want_ref.support.dtype  # the calibration cache digest hashes the bytes
    want = drift_stats.statistic(method, want_ref, want_cur, "categorical")
    assert math.isclose(spark_stats.statistic(method, got_ref, got_cur, "categorical"), want, rel_tol=1e-12)


def test_a_sketched_sample_keeps_rows_and_extremes() -> None:
    grid = spark_stats.rank_grid(64)
    values = np.random.default_rng(0).lognormal(0, 1, 10_000)
    quantiles = np.quantile(values, spark_stats.midpoints(grid))
    sample = spark_stats.from_quantiles(
        quantiles, grid, values.size, values.min(), values.max(), values.std()
    )
    assert sample.size == values.size == int(sample.counts.sum())
    assert (sample.support[0], sample.support[-1]) == (values.min(), values.max())
    assert np.all(np.diff(sample.support) > 0)
    assert not sample.exact
    # Dense ranks in the tails: the largest values are represented by more than one atom.
    assert np.sum(sample.support > np.quantile(values, 0.999)) > 3


def test_sketch_allowances_only_ever_make_drift_harder_to_call() -> None:
    rng = np.random.default_rng(1)
    ref, cur = (
        _counted(np.round(rng.normal(0, 1, 20_000), 3)),
        _counted(np.round(rng.normal(0, 1, 20_000), 3)),
    )
    assert spark_stats.sketch_allowance("wasserstein", 0.001, ref) == pytest.approx(
        0.001 * spark_stats.quantile_span(ref)
    )
    assert 5.0 < spark_stats.quantile_span(ref) < 5.4  # 0.5%-99.5% of a standard normal: 5.15
    assert spark_stats.sketch_allowance("psi", 0.001, ref) == 0.0
    assert spark_stats.conservative_ks_pvalue(ref, cur, 0.001) >= spark_stats.ks_pvalue(ref, cur)
    assert spark_stats.sketch_error_bound("ks_statistic", 0.001, ref, cur) == pytest.approx(
        2 * (0.001 + 1 / spark_stats.SKETCH_POINTS)
    )


def test_session_conf_in_local_and_kubernetes_modes() -> None:
    local = spark_engine.session_conf(SparkSpec(master="local[2]"), {"SPARK_LOCAL_IP": "127.0.0.1"})
    assert local["spark.driver.bindAddress"] == "127.0.0.1"
    assert local["spark.ui.enabled"] == "false"
    spec = SparkSpec(
        master="k8s://https://kubernetes.default.svc",
        conf={
            "spark.executor.instances": "4",
            "spark.ui.enabled": "true",
            "spark.kubernetes.namespace": "lake",
        },
    )
    env = {
        "HOSTNAME": "churn-check-29000-abcde",
        spark_engine.EXECUTOR_IMAGE_ENV: "driftwatch/drift-controller:dev",
        spark_engine.EXECUTOR_SERVICE_ACCOUNT_ENV: "driftwatch-spark-executor",
    }
    conf = spark_engine.session_conf(spec, env, pod_ip="10.0.0.7", namespace="models")
    assert conf["spark.submit.deployMode"] == "client"
    assert conf["spark.driver.host"] == "10.0.0.7"
    assert conf["spark.kubernetes.driver.pod.name"] == "churn-check-29000-abcde"
    assert conf["spark.kubernetes.container.image"] == "driftwatch/drift-controller:dev"
    assert conf["spark.kubernetes.authenticate.executor.serviceAccountName"] == "driftwatch-spark-executor"
    assert conf["spark.executor.instances"] == "4"
    assert conf["spark.kubernetes.namespace"] == "lake"  # the spec wins over the pod's namespace
    assert conf["spark.ui.enabled"] == "false"  # but never over a check's fixed settings
    assert "spark.driver.bindAddress" not in conf


def test_paths_as_hadoop_names_them() -> None:
    assert spark_engine.spark_path("s3://bucket/capture/x.parquet") == "s3a://bucket/capture/x.parquet"
    assert spark_engine.spark_path("file:///data/ref.parquet") == "file:///data/ref.parquet"
    assert spark_engine.spark_path("/data/ref.parquet") == "file:///data/ref.parquet"


def test_the_spec_defaults_to_numpy_and_refuses_an_unknown_master() -> None:
    base = {"reference": {"uri": "file:///r.parquet"}, "current": {"uri": "file:///c"}}
    spec = DriftCheckSpec.model_validate(base)
    assert (spec.engine, spec.spark.master, spec.spark.kll_k) == ("numpy", "local[*]", 4096)
    with pytest.raises(ValidationError, match=r"spark\.master"):
        DriftCheckSpec.model_validate({**base, "engine": "spark", "spark": {"master": "yarn"}})
    with pytest.raises(ValidationError, match="engine"):
        DriftCheckSpec.model_validate({**base, "engine": "dask"})
