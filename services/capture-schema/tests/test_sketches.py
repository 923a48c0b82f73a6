"""The capture's sketch sidecar: what a file's summary holds, its bytes, and merging summaries."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from driftwatch_capture import sketches
from driftwatch_capture.sketches import FileSketch
from fsspec.implementations.local import LocalFileSystem

pytestmark = pytest.mark.unit

T0 = 1_764_000_000_000_000  # microseconds since the epoch


def capture_table(
    n: int, seed: int, *, shift: float = 0.0, labels: tuple[str, ...] = ("a", "b", "c")
) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[:3] = [math.nan, math.inf, -math.inf]
    return pa.table(
        {
            "request_id": pa.array([f"{seed}-{i}" for i in range(n)]),
            "ts": pa.array(T0 + seed * 10**9 + np.arange(n), pa.timestamp("us", tz="UTC")),
            "x": x,
            "tenure": pa.array(rng.integers(0, 12, n)),
            "region": pa.array([labels[i % len(labels)] if i % 50 else None for i in range(n)]),
        }
    )


def exact_rank(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    ordered = np.sort(values)
    return np.searchsorted(ordered, points, "right") / ordered.size


def test_a_file_summary_counts_rows_missing_non_finite_and_range() -> None:
    table = capture_table(5_000, 1)
    summary = sketches.summarize(table)
    assert summary.rows == 5_000
    assert (summary.ts_min, summary.ts_max) == (T0 + 10**9, T0 + 10**9 + 4_999)
    assert "request_id" not in summary.columns
    assert "ts" not in summary.columns
    x = summary.columns["x"]
    finite = table.column("x").to_numpy()[3:]
    assert (x.rows, x.missing, x.non_finite, x.finite) == (5_000, 0, 3, 4_997)
    assert (x.minimum, x.maximum) == (finite.min(), finite.max())
    assert x.total == pytest.approx(finite.sum())
    assert x.values is None  # continuous: served by its KLL sketch
    region = summary.columns["region"]
    assert region.missing == 100
    assert region.values == dict(Counter(v for v in table.column("region").to_pylist() if v is not None))
    assert region.exact_values


def test_the_sidecar_bytes_read_back_to_the_same_summary() -> None:
    summary = sketches.summarize(capture_table(3_000, 2))
    back = FileSketch.from_bytes(summary.to_bytes())
    assert (back.rows, back.ts_min, back.ts_max, back.k) == (
        summary.rows,
        summary.ts_min,
        summary.ts_max,
        400,
    )
    for name, column in summary.columns.items():
        other = back.columns[name]
        assert (other.family, other.rows, other.missing, other.non_finite, other.values) == (
            column.family,
            column.rows,
            column.missing,
            column.non_finite,
            column.values,
        )
    probes = [-1.0, 0.0, 1.0]
    assert back.columns["x"].quantiles().get_cdf(probes) == summary.columns["x"].quantiles().get_cdf(probes)


def test_a_damaged_sidecar_is_refused() -> None:
    data = sketches.summarize(capture_table(1_000, 3)).to_bytes()
    with pytest.raises(ValueError, match="not a driftwatch sketch"):
        FileSketch.from_bytes(b"PAR1" + data[4:])
    with pytest.raises(ValueError, match="cut short"):
        FileSketch.from_bytes(data[: len(data) - 10])


def test_merged_quantiles_are_within_the_kll_rank_error_of_the_exact_ones() -> None:
    tables = [capture_table(20_000, seed, shift=seed / 10) for seed in range(10)]
    merged = FileSketch(files=0)
    for table in tables:
        merged.merge(FileSketch.from_bytes(sketches.summarize(table).to_bytes()))
    values = np.concatenate([t.column("x").to_numpy() for t in tables])
    values = values[np.isfinite(values)]
    kll = merged.columns["x"].quantiles()
    assert kll.n == values.size == merged.columns["x"].finite
    points = np.quantile(values, np.linspace(0.01, 0.99, 99))
    error = np.abs(np.asarray(kll.get_cdf(points.tolist())[:-1]) - exact_rank(values, points))
    assert error.max() <= sketches.rank_error(sketches.KLL_K)
    # The weighted items the check integrates over stand for every row, and give the same ranks.
    items, weights = sketches.weighted_items(kll)
    assert weights.sum() == values.size
    item_rank = np.cumsum(weights)[np.searchsorted(items, points, "right") - 1] / values.size
    assert np.abs(item_rank - exact_rank(values, points)).max() <= sketches.rank_error(sketches.KLL_K)
    assert merged.columns["x"].minimum == values.min()
    assert merged.columns["x"].maximum == values.max()


def test_merged_categorical_counts_are_exact() -> None:
    tables = [capture_table(2_000, seed, labels=("a", "b", "c", "d")[: 2 + seed % 3]) for seed in range(6)]
    merged = FileSketch(files=0)
    for table in tables:
        merged.merge(sketches.summarize(table))
    expected: dict[str, int] = {}
    for table in tables:
        for value in table.column("region").to_pylist():
            if value is not None:
                expected[value] = expected.get(value, 0) + 1
    assert merged.columns["region"].values == expected
    assert merged.columns["region"].exact_values
    assert merged.files == 6
    assert merged.rows == 12_000
    tenure = merged.columns["tenure"]  # a discrete numeric column is counted too, by its text label
    assert tenure.exact_values
    assert sum(tenure.values.values()) == 12_000
    assert "11" in tenure.values


def test_values_past_the_cap_go_to_the_other_bucket() -> None:
    labels = [f"v{i:03d}" for i in range(300)]
    column = pa.array([labels[i % 300] if i < 3_000 else "v000" for i in range(3_100)])
    summary = sketches.summarize_column(column, value_cap=100)
    assert summary.values is not None
    assert len(summary.values) == 100
    assert summary.values["v000"] == 110  # the most frequent are kept
    assert summary.other == 3_100 - sum(summary.values.values())
    assert not summary.exact_values
    merged = sketches.summarize_column(column, value_cap=100)
    merged.merge(summary, value_cap=50)
    assert len(merged.values or {}) == 50
    assert sum((merged.values or {}).values()) + merged.other == 6_200


def test_a_column_that_changes_type_between_files_does_not_merge() -> None:
    merged = sketches.summarize(pa.table({"x": pa.array([1.0, 2.0])}))
    with pytest.raises(ValueError, match="string column into a number"):
        merged.merge(sketches.summarize(pa.table({"x": pa.array(["1", "2"])})))


def test_a_column_absent_from_a_file_counts_as_missing_there() -> None:
    merged = sketches.summarize(pa.table({"x": pa.array([1.0, 2.0])}))
    merged.merge(sketches.summarize(pa.table({"x": pa.array([3.0]), "y": pa.array(["a"])})))
    assert (merged.columns["y"].rows, merged.columns["y"].missing) == (3, 2)
    assert (merged.columns["x"].rows, merged.columns["x"].missing) == (3, 0)


def test_the_sidecar_is_published_beside_its_file_where_parquet_readers_skip_it(tmp_path) -> None:
    parquet = tmp_path / "date=2026-12-01" / "hour=10" / "pod-a-0123.parquet"
    parquet.parent.mkdir(parents=True)
    path = sketches.write_sidecar(LocalFileSystem(), str(parquet), sketches.summarize(capture_table(100, 4)))
    assert path == str(parquet.parent / "_pod-a-0123.parquet.sketch")
    assert sorted(p.name for p in parquet.parent.iterdir()) == ["_pod-a-0123.parquet.sketch"]  # no .partial
    assert sketches.read_sidecar(LocalFileSystem(), path).rows == 100
