"""Drift per segment (issue 13): six regions, a drift planted in one; status, policy and metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from drift_fixtures import settings, write_parquet
from driftwatch_controller.api.spec import DriftCheckSpec, SpecError
from driftwatch_controller.controller.drift_metrics import StatusStore, build_registry
from driftwatch_controller.engine import drift_stats, segments
from driftwatch_controller.engine.calibration import Calibrator, ReferenceColumn
from driftwatch_controller.engine.check import EngineSettings, run_check
from driftwatch_controller.engine.columns import resolve_columns
from driftwatch_controller.engine.measure import Measurer, samples

pytestmark = pytest.mark.unit

REGIONS = ("north", "south", "east", "west", "central", "coastal")
# `east` holds 15% of the rows (the Done-when of issue 13).
SHARES = (0.20, 0.18, 0.15, 0.17, 0.16, 0.14)
NUMERICAL = tuple(f"x{i}" for i in range(8))
PLANTED = NUMERICAL[:4]
INVESTIGATE_SHARE = 0.2
SEGMENT_SHARE = 0.3


def frame(n: int, seed: int, drifted: str | None = None, shift: float = 0.0) -> pd.DataFrame:
    """Each region has its own level of every numerical feature; `shift` moves PLANTED in `drifted` only."""
    rng = np.random.default_rng(seed)
    region = rng.choice(len(REGIONS), size=n, p=SHARES)
    out: dict[str, np.ndarray] = {"region": np.array(REGIONS, dtype=object)[region]}
    for j, name in enumerate(NUMERICAL):
        values = ((region + j) % len(REGIONS)) * 3.0 + rng.normal(size=n)
        if drifted is not None and name in PLANTED:
            values = values + shift * (region == REGIONS.index(drifted))
        out[name] = values
    out["plan"] = rng.choice(np.array(["basic", "plus", "pro"], dtype=object), size=n, p=(0.5, 0.3, 0.2))
    out["channel"] = rng.choice(np.array(["web", "app", "store", "phone"], dtype=object), size=n)
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("segments")


@pytest.fixture(scope="module")
def reference(workdir) -> str:
    return write_parquet(frame(30_000, 1), workdir / "reference.parquet")


def spec_of(
    reference: str, current: str, segments_spec: dict | None = None, **policy: object
) -> DriftCheckSpec:
    body: dict[str, object] = {
        "reference": {"uri": reference},
        "current": {"uri": current},
        "segments": segments_spec or {"columns": ["region"]},
        "policy": {"investigateShare": INVESTIGATE_SHARE, "segmentShare": SEGMENT_SHARE, **policy},
    }
    return DriftCheckSpec.from_manifest(body)


def check(workdir: Path, reference: str, current: pd.DataFrame, name: str, **spec: object) -> dict:
    path = write_parquet(current, workdir / f"{name}.parquet")
    return run_check(spec_of(reference, path, **spec), settings=settings(workdir / "cache")).status  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_a_drift_in_one_region_of_six_is_reported_first_and_investigated(workdir, reference, seed) -> None:
    current = frame(20_000, seed, drifted="east", shift=0.4)
    share = float((current["region"] == "east").mean())
    assert 0.14 < share < 0.16  # the planted region is 15% of the window
    status = check(workdir, reference, current, f"east-{seed}")
    # The global measurement does not see it: its share stays under investigateShare ...
    assert status["driftShare"] < INVESTIGATE_SHARE
    # ... the segment does, first in the list, with exactly the planted columns drifted.
    worst = status["segments"][0]
    assert worst["segment"] == "region=east"
    assert worst["values"] == {"region": "east"}
    assert set(worst["driftedColumns"]) == set(PLANTED)
    assert worst["rows"]["current"] == int((current["region"] == "east").sum())
    assert (status["verdict"], status["recommendation"]) == ("Drift", "Investigate")
    assert "segment region=east: 4 of 10 columns drifted" in status["reason"]
    assert status["segmentCounts"] == {"total": 6, "evaluated": 6, "skipped": 0}
    assert all(s["driftShare"] < SEGMENT_SHARE for s in status["segments"][1:])


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_undrifted_data_gives_no_segment_alarm(workdir, reference, seed) -> None:
    status = check(workdir, reference, frame(20_000, seed), f"none-{seed}")
    assert (status["verdict"], status["recommendation"]) == ("NoDrift", "None")
    assert len(status["segments"]) == 6
    assert max(s["driftShare"] for s in status["segments"]) < SEGMENT_SHARE
    assert "segment" not in status["reason"]


def test_without_segment_share_a_segment_drift_is_reported_and_changes_nothing(workdir, reference) -> None:
    current = frame(20_000, 8, drifted="east", shift=0.4)
    status = check(workdir, reference, current, "east-off", segmentShare=None)
    assert status["segments"][0]["segment"] == "region=east"
    assert status["segments"][0]["driftShare"] >= SEGMENT_SHARE
    assert (status["verdict"], status["recommendation"]) == ("NoDrift", "None")


def test_segments_with_too_few_rows_are_skipped_and_counted(workdir, reference) -> None:
    current = frame(20_000, 9)
    per_region = current["region"].value_counts()
    min_rows = 3_300
    small = set(per_region[per_region < min_rows].index)
    assert 0 < len(small) < 6
    status = check(
        workdir, reference, current, "small", segments_spec={"columns": ["region"], "minRows": min_rows}
    )
    assert status["segmentCounts"] == {"total": 6, "evaluated": 6 - len(small), "skipped": len(small)}
    skipped = [s for s in status["segments"] if not s["measured"]]
    assert {s["values"]["region"] for s in skipped} == small
    assert all(s["driftShare"] is None and s["driftedColumns"] == [] for s in skipped)
    # Measured ones come first, skipped ones after them, by their rows.
    assert [s["measured"] for s in status["segments"]] == [True] * (6 - len(small)) + [False] * len(small)
    assert [s["rows"]["current"] for s in skipped] == sorted((per_region[list(small)]).tolist(), reverse=True)


def test_the_rest_beyond_max_segments_is_one_other_segment(workdir, reference) -> None:
    current = frame(20_000, 10)
    current.loc[:99, "region"] = "arctic"  # a region the reference never had: pooled as `other`
    status = check(
        workdir, reference, current, "other", segments_spec={"columns": ["region"], "maxSegments": 3}
    )
    by_name = {s["segment"]: s for s in status["segments"]}
    kept = ["region=north", "region=south", "region=west"]  # the reference's three most frequent
    assert set(by_name) == {*kept, "other"}
    ref = pd.read_parquet(reference)
    rest = ~ref["region"].isin(["north", "south", "west"])
    assert by_name["other"]["rows"] == {
        "reference": int(rest.sum()),
        "current": int((~current["region"].isin(["north", "south", "west"])).sum()),
    }
    assert by_name["other"]["values"] == {}
    assert sum(s["rows"]["current"] for s in status["segments"]) == len(current)


def test_two_columns_name_a_segment_by_both_values(workdir, reference) -> None:
    current = write_parquet(frame(20_000, 11), workdir / "two.parquet")
    spec = spec_of(reference, current, segments_spec={"columns": ["region", "plan"]})
    # Naming and bounds, not thresholds: a smaller bootstrap keeps 11 segments' calibration quick.
    quick = EngineSettings(calibration_cache_dir=workdir / "cache-quick", calibration_replicates=100)
    status = run_check(spec, settings=quick).status
    names = [s["segment"] for s in status["segments"]]
    # 18 combinations: the reference's 10 most frequent and `other`; the status lists the 10 worst.
    assert status["segmentCounts"]["total"] == 11
    assert len(names) == segments.STATUS_LIMIT
    first = next(s for s in status["segments"] if s["segment"] != "other")
    assert first["segment"] == f"region={first['values']['region']},plan={first['values']['plan']}"
    # Neither segmenting column is measured within a segment: 8 numerical + channel.
    assert {s["monitoredColumns"] for s in status["segments"] if s["segment"] != "other"} == {9}


def test_each_segment_is_scored_and_calibrated_on_its_own_rows(workdir, reference) -> None:
    """Scores and thresholds of a segment equal the statistic and the calibration of its rows alone."""
    ref = pd.read_parquet(reference)
    cur = frame(20_000, 12, drifted="east", shift=0.4)
    spec = spec_of(reference, reference)
    cols = resolve_columns(spec, ref)
    calibrator = Calibrator()
    outcome = segments.measure(Measurer(spec, calibrator), cols, ref, cur, spec.segments, set())  # type: ignore[arg-type]
    east = next(r for r in outcome.results if r.segment.name == "region=east")
    ref_east, cur_east = ref[ref["region"] == "east"], cur[cur["region"] == "east"]
    fresh = Calibrator()
    for column in east.columns:
        kind = column.type
        r, c = samples(ref_east[column.name], cur_east[column.name], kind)  # type: ignore[arg-type]
        assert column.score == pytest.approx(drift_stats.statistic(column.method, r, c, kind), rel=1e-12)  # type: ignore[arg-type]
        expected = fresh.threshold(
            column.method, ReferenceColumn.from_counts(r.support, r.counts, kind), c.size
        )  # type: ignore[arg-type]
        assert column.threshold == pytest.approx(expected, rel=1e-12)
    # Its own size: the whole window's threshold of the same column is another (smaller) one.
    whole_r, whole_c = samples(ref["x0"], cur["x0"], "numerical")
    whole = fresh.threshold(
        "wasserstein", ReferenceColumn.from_counts(whole_r.support, whole_r.counts, "numerical"), whole_c.size
    )
    assert next(c.threshold for c in east.columns if c.name == "x0") > whole


@pytest.mark.parametrize(
    ("segments_spec", "columns", "message"),
    [
        (
            {"columns": ["x0"]},
            {"numerical": ["x0"], "categorical": ["region"]},
            "spec.segments.columns: ['x0'] are numerical",
        ),
        ({"columns": ["region", "region"]}, None, "spec.segments.columns: ['region'] are named twice"),
        ({"columns": []}, None, "spec.segments.columns: Tuple should have at least 1 item"),
        (
            {"columns": ["region"], "maxSegments": 51},
            None,
            "spec.segments.maxSegments: Input should be less than or equal to 50",
        ),
        ({"maxSegments": 5}, None, "spec.segments.columns: Field required"),
    ],
)
def test_a_bad_segments_spec_is_refused_naming_the_field(segments_spec, columns, message) -> None:
    body: dict = {
        "reference": {"uri": "r.parquet"},
        "current": {"uri": "c.parquet"},
        "segments": segments_spec,
    }
    if columns:
        body["columns"] = columns
    with pytest.raises(SpecError) as raised:
        DriftCheckSpec.from_manifest(body)
    assert any(p.startswith(message) for p in raised.value.problems), raised.value.problems


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("x0", "spec.segments.columns: column x0 is monitored as numerical; segments need categories"),
        ("altitude", "spec.segments.columns: column altitude is not in the reference dataset"),
    ],
)
def test_a_segment_column_the_reference_cannot_segment_by_is_a_check_error(
    workdir, reference, column, message
) -> None:
    path = write_parquet(frame(1_000, 13), workdir / "bad.parquet")
    spec = spec_of(reference, path, segments_spec={"columns": [column]})
    with pytest.raises(SpecError) as raised:
        run_check(spec, settings=settings(workdir / "cache"))
    assert raised.value.problems == [message]


def test_a_numeric_column_listed_as_categorical_can_segment(workdir, reference) -> None:
    ref = pd.read_parquet(reference)
    ref["zone"] = (ref.index % 3).astype("int64")
    ref_path = write_parquet(ref, workdir / "reference-zone.parquet")
    cur = frame(6_000, 14)
    cur["zone"] = (cur.index % 3).astype("int64")
    spec = DriftCheckSpec.from_manifest(
        {
            "reference": {"uri": ref_path},
            "current": {"uri": write_parquet(cur, workdir / "zone.parquet")},
            "columns": {"numerical": list(NUMERICAL), "categorical": ["region", "plan", "channel", "zone"]},
            "segments": {"columns": ["zone"]},
        }
    )
    status = run_check(spec, settings=settings(workdir / "cache")).status
    assert sorted(s["segment"] for s in status["segments"]) == ["zone=0", "zone=1", "zone=2"]
    # Inferred from the reference, the same int column is numerical: the check refuses to segment by it.
    inferred = spec.model_copy(update={"columns": type(spec.columns)()})
    with pytest.raises(SpecError, match="column zone is monitored as numerical"):
        run_check(inferred, settings=settings(workdir / "cache"))


def test_segment_metrics_come_from_the_status_list(workdir, reference) -> None:
    status = check(workdir, reference, frame(20_000, 15, drifted="east", shift=0.4), "metrics")
    store = StatusStore()
    store.put("ns", "regions", None, status)
    registry = build_registry(store)
    labels = {"namespace": "ns", "driftcheck": "regions", "model": "regions"}
    for entry in status["segments"]:
        got = registry.get_sample_value(
            "driftwatch_segment_drift_share", {**labels, "segment": entry["segment"]}
        )
        assert got == entry["driftShare"]
        rows = registry.get_sample_value(
            "driftwatch_segment_current_rows", {**labels, "segment": entry["segment"]}
        )
        assert rows == entry["rows"]["current"]
    assert registry.get_sample_value("driftwatch_segments", {**labels, "state": "evaluated"}) == 6
    assert registry.get_sample_value("driftwatch_segments", {**labels, "state": "skipped"}) == 0


def test_segment_series_are_bounded_by_the_status_list() -> None:
    many = [
        {"segment": f"region=r{i}", "measured": True, "driftShare": 0.1, "rows": {"current": 300}}
        for i in range(40)
    ]
    store = StatusStore()
    store.put("ns", "wide", None, {"segments": many})
    registry = build_registry(store)
    series = [s for m in registry.collect() if m.name == "driftwatch_segment_drift_share" for s in m.samples]
    assert len(series) == 10


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (np.random.default_rng(0).integers(18, 90, 5_000).astype(np.float64), "numerical"),
        (np.random.default_rng(1).normal(size=5_000), "numerical"),
        (np.array([np.nan, 2.0, -3.0, 2.0, np.inf, 0.5]), "numerical"),
        (np.array([0.0, 1e9, 3.0]), "numerical"),
        (np.random.default_rng(2).integers(-1, 7, 5_000), "categorical"),
        (np.array([-1, -1]), "categorical"),
    ],
    ids=["whole-numbers", "continuous", "missing-and-fractions", "wide-span", "codes", "all-missing"],
)
def test_a_counted_sample_equals_the_sorted_one(values: np.ndarray, kind) -> None:
    present = values[np.isfinite(values)] if kind == "numerical" else values[values >= 0]
    counted, sorted_ = segments.sample(values, kind), drift_stats.Sample.of(present)
    assert counted.support.dtype == sorted_.support.dtype
    assert counted.counts.dtype == sorted_.counts.dtype
    assert counted.support.tolist() == sorted_.support.tolist()
    assert counted.counts.tolist() == sorted_.counts.tolist()
    assert counted.size == sorted_.size


def test_the_table_output_lists_the_segments_worst_first() -> None:
    from driftwatch_controller.engine.report import to_table

    status = {
        "verdict": "Drift",
        "segments": [
            {
                "segment": "region=east",
                "rows": {"reference": 4458, "current": 2971},
                "measured": True,
                "driftShare": 0.4,
                "driftedColumns": ["x0", "x1"],
            },
            {
                "segment": "region=north",
                "rows": {"reference": 90, "current": 50},
                "measured": False,
                "driftShare": None,
                "driftedColumns": [],
            },
        ],
    }
    lines = to_table(status).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("SEGMENT"))
    assert lines[header + 1].split() == ["region=east", "4458", "2971", "0.4", "x0,", "x1"]
    assert lines[header + 2].split() == ["region=north", "90", "50", "skipped", "(few", "rows)", "-"]
