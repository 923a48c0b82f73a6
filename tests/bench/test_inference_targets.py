"""The inference benchmark's verdict on issue 10's targets (scripts/bench/inference.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "bench"))
import inference  # scripts/bench is not a package

pytestmark = pytest.mark.unit


def _entry(*, over_c: float, side: list[float], lost: float, dropped: float = 0.0) -> dict[str, Any]:
    return {
        "ratios": {"a_over_c": over_c, "a_over_b_side_by_side_rounds": side},
        "capture": {"lost": lost, "dropped": dropped, "served_rows": 1000.0},
    }


def _a(p99_ms: float) -> inference.Result:
    return inference.Result(case="a", rps=1.0, p50_ms=1.0, p99_ms=p99_ms, non2xx=0, socket_errors=0)


def test_each_target_is_judged_on_its_own_measure() -> None:
    entry = _entry(over_c=33.2, side=[0.85, 0.91, 0.93], lost=0)
    verdicts = inference.target_verdicts(entry["ratios"], entry["capture"], _a(5.9))
    assert [met for _, met, _ in verdicts] == [True, True, True, True]
    assert [value for _, _, value in verdicts] == ["33.2x", "5.9 ms", "0.910", "0 of 1,000"]


def test_a_miss_on_any_target_is_not_met_and_says_by_how_much() -> None:
    entry = _entry(over_c=9.9, side=[0.88, 0.89, 0.95], lost=0, dropped=3)
    verdicts = inference.target_verdicts(entry["ratios"], entry["capture"], _a(20.5))
    assert [met for _, met, _ in verdicts] == [False, False, False, False]
    assert verdicts[2][2] == "0.890"  # the median of the side-by-side rounds, not the best round
    assert verdicts[3][2] == "3 of 1,000"  # dropped rows are lost rows too


def test_the_table_has_a_column_per_pipeline_and_marks_misses() -> None:
    report = {
        "pipelines": {
            "lr": _entry(over_c=30.0, side=[0.88], lost=0),
            "rf": _entry(over_c=38.0, side=[0.91], lost=0),
        }
    }
    results = {"lr": {"a": _a(6.0)}, "rf": {"a": _a(7.0)}}
    lines = inference.targets_table(report, results)
    assert lines[0] == "| target (issue 10) | LogisticRegression | RandomForest, 50 trees, depth 8 |"
    side_row = next(line for line in lines if "side by side" in line)
    assert side_row.endswith("| **not met** (0.880) | met (0.910) |")
