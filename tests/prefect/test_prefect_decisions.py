"""The Prefect flow's pure parts: what is retried, what is carried, the retrain gate, the manifest's
retrain deployment and the Markdown artefact (no Prefect, no process)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from driftwatch_controller import check_command
from driftwatch_controller.api.spec import SpecError
from driftwatch_controller.api.status import Carried
from driftwatch_controller.engine import check, datasets
from driftwatch_controller.prefect_flow import decisions, render
from driftwatch_controller.prefect_flow.manifest import RETRAIN_DEPLOYMENT_ANNOTATION, parse_manifest

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
JOB = {
    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "t", "image": "x"}]}}}
}


def _wrapped(cause: BaseException) -> check.UnusableInput:
    """The engine's way: a one-line UnusableInput raised `from None` while handling the I/O error."""
    try:
        try:
            raise cause
        except OSError:
            raise check.UnusableInput("reference: cannot read s3://bucket/ref.parquet") from None
    except check.UnusableInput as exc:
        return exc


def test_transient_io_is_retried_a_bad_input_never(tmp_path: Path) -> None:
    assert decisions.is_transient(_wrapped(TimeoutError("read timed out")))
    assert decisions.is_transient(_wrapped(ConnectionResetError("reset by peer")))
    assert decisions.is_transient(_wrapped(OSError(5, "Input/output error")))
    assert not decisions.is_transient(_wrapped(PermissionError("denied")))
    with pytest.raises(datasets.DataError) as missing:
        datasets.read_table(str(tmp_path / "absent.parquet"))
    assert not decisions.is_transient(missing.value)
    assert not decisions.is_transient(SpecError("spec.current.window: not a duration"))
    assert not decisions.is_transient(check.UnusableInput("no monitored column is present in both"))


def test_fail_on_is_the_clis() -> None:
    for recommendation in ("None", "Investigate", "Retrain"):
        for fail_on in (None, "investigate", "retrain"):
            assert decisions.fails(recommendation, fail_on) == check_command._fails(recommendation, fail_on)
    assert decisions.fails("Investigate", "investigate")
    assert not decisions.fails("Investigate", "retrain")


def test_the_carried_part_carries_what_the_full_status_does() -> None:
    status = {
        "verdict": "Drift",
        "columns": [{"name": "age"}],
        "runs": 3,
        "runsByVerdict": {"Drift": 2, "NoDrift": 1},
        "history": [{"runId": "20260101T120000Z", "verdict": "Drift", "driftShare": 0.6}],
        "conditions": [{"type": "Drifted", "status": "True"}],
        "consecutiveDriftRuns": 2,
        "lastRetrainRecommendationTime": "2026-01-01T12:00:00Z",
        "lastSuccessfulRunTime": "2026-01-01T12:00:00Z",
    }
    carried = decisions.carried_state(status)
    assert "columns" not in carried
    assert "verdict" not in carried
    assert Carried.from_status(carried) == Carried.from_status(status)


@pytest.mark.parametrize(
    ("mode", "recommendation", "last", "expected"),
    [
        ("Off", "Retrain", None, "none"),
        ("Manual", "Investigate", None, "none"),
        ("Manual", "Retrain", None, "await_approval"),
        ("Automatic", "Retrain", None, "run"),
        ("Automatic", "Retrain", NOW - dt.timedelta(hours=1), "cooling_down"),
        ("Automatic", "Retrain", NOW - dt.timedelta(hours=25), "run"),
    ],
)
def test_retrain_gate(mode: str, recommendation: str, last: dt.datetime | None, expected: str) -> None:
    action = decisions.retrain_action(
        mode,
        recommendation,
        run_id="20260101T120000Z",
        deployment="retrain/churn",
        now=NOW,
        cooldown=dt.timedelta(hours=24),
        last_retrain_start=last,
    )
    assert action.kind == expected
    assert "20260101T120000Z" in action.message


def _manifest(**metadata: object) -> dict[str, object]:
    spec = {
        "reference": {"uri": "/data/ref.parquet"},
        "current": {"uri": "/data/capture"},
        "retrain": {"mode": "Manual", "jobTemplate": JOB},
    }
    return {"kind": "DriftCheck", "metadata": {"name": "Churn.Hourly", **metadata}, "spec": spec}


def test_the_manifest_names_its_retrain_deployment() -> None:
    parsed = parse_manifest(_manifest(annotations={RETRAIN_DEPLOYMENT_ANNOTATION: "retrain/churn"}))
    assert (parsed.name, parsed.retrain_deployment) == ("Churn.Hourly", "retrain/churn")
    assert parsed.state_variable == "driftwatch_status_churn_hourly"
    overridden = parse_manifest(_manifest(), retrain_deployment="train/nightly")
    assert overridden.retrain_deployment == "train/nightly"
    with pytest.raises(
        SpecError, match=re.escape(f"metadata.annotations.{RETRAIN_DEPLOYMENT_ANNOTATION}: 'churn'")
    ):
        parse_manifest(_manifest(annotations={RETRAIN_DEPLOYMENT_ANNOTATION: "churn"}))
    with pytest.raises(
        SpecError, match=re.escape("spec.retrain.mode is Manual: name the retrain deployment")
    ):
        parse_manifest(_manifest())


def test_a_manifest_file_that_is_not_yaml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("spec: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError, match=re.escape("bad.yaml is not valid YAML")) as raised:
        parse_manifest(str(path))
    assert "\n" not in str(raised.value)


def test_the_markdown_artefact_holds_the_verdict_and_every_column() -> None:
    status = {
        "verdict": "Drift",
        "recommendation": "Investigate",
        "reason": "2 of 3 monitored columns drifted | share 0.67",
        "runId": "20260101T120000Z",
        "driftShare": 0.6667,
        "driftedColumns": 2,
        "monitoredColumns": 3,
        "rows": {"reference": 3000, "current": 600},
        "window": {"start": "2026-01-01T11:00:00Z", "end": "2026-01-01T12:00:00Z"},
        "thresholds": "calibrated",
        "columns": [
            {
                "name": "age",
                "type": "num",
                "method": "wasserstein",
                "score": 0.31,
                "threshold": 0.1,
                "drifted": True,
            },
            {
                "name": "region",
                "type": "cat",
                "method": "jensenshannon",
                "score": 0.01,
                "threshold": 0.1,
                "drifted": False,
            },
        ],
    }
    text = render.verdict_markdown("churn", status)
    assert "| Verdict | Drift |" in text
    assert "| Reason | 2 of 3 monitored columns drifted \\| share 0.67 |" in text
    assert "| age | num | wasserstein | 0.31 | 0.1 | True |" in text
    assert "| region | cat | jensenshannon | 0.01 | 0.1 | False |" in text
    assert render.verdict_line("churn", status) == f"check churn: Drift / Investigate: {status['reason']}"
