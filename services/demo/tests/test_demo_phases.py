"""`make demo`'s three phases: which statuses each accepts, so the demo exits 1 on any other outcome."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_script", ROOT / "scripts" / "demo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dropped(**changes: Any) -> dict[str, Any]:
    """A performance block with a significant realized roc_auc drop, changed as given."""
    block: dict[str, Any] = {
        "summary": "roc_auc 0.632 realized (reference 0.795, drop 0.163, significant)",
        "realized": {"rows": 1200, "metrics": [{"name": "roc_auc", "value": 0.632}]},
        "drop": {"metric": "roc_auc", "kind": "realized", "value": 0.163, "significant": True},
    }
    return {**block, **changes}


def _status(
    verdict: str, recommendation: str, drifted: int = 0, performance: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "verdict": verdict,
        "recommendation": recommendation,
        "driftedColumns": drifted,
        "monitoredColumns": 15,
        "driftShare": round(drifted / 15, 4),
        "performance": performance,
    }


def test_the_demo_runs_normal_then_covariate_then_concept_traffic(demo) -> None:
    assert [(p.name, p.scenario) for p in demo.PHASES] == [
        ("normal", "none"),
        ("covariate", "covariate"),
        ("concept", "concept"),
    ]


@pytest.mark.parametrize(
    ("phase", "status", "accepted"),
    [
        ("normal", _status("NoDrift", "None"), True),
        ("normal", _status("Drift", "Investigate", 5), False),
        ("normal", _status("Drift", "Retrain", 0, _dropped()), False),  # a false performance alarm
        ("covariate", _status("Drift", "Investigate", 5), True),
        ("covariate", _status("Drift", "Retrain", 8), True),
        ("covariate", _status("NoDrift", "None"), False),
        ("concept", _status("Drift", "Retrain", 0, _dropped()), True),
        ("concept", _status("Drift", "Retrain", 2, _dropped()), True),  # 2 of 15 < investigateShare
        ("concept", _status("Drift", "Investigate", 0, _dropped()), False),  # not yet Retrain
        ("concept", _status("Drift", "Retrain", 5, _dropped()), False),  # features drifted
        ("concept", _status("NoDrift", "None"), False),  # no performance block at all
        ("concept", _status("Drift", "Retrain", 0, _dropped(realized=None)), False),  # too few labels
        (
            "concept",
            _status("Drift", "Retrain", 0, _dropped(drop={"kind": "estimated", "significant": True})),
            False,
        ),
        (
            "concept",
            _status("Drift", "Retrain", 0, _dropped(drop={"kind": "realized", "significant": False})),
            False,
        ),
    ],
)
def test_each_phase_accepts_only_its_expected_outcome(demo, phase: str, status, accepted: bool) -> None:
    (expectation,) = [p for p in demo.PHASES if p.name == phase]
    assert expectation.as_expected(status) is accepted


def test_the_one_line_outcome_names_the_performance_summary(demo) -> None:
    line = demo._outcome(_status("Drift", "Retrain", 0, _dropped()))
    assert line == (
        "Drift / Retrain, 0 of 15 columns drifted; roc_auc 0.632 realized (reference 0.795, drop 0.163, "
        "significant)"
    )
