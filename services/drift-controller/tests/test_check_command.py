"""`driftwatch check` in-process: outputs, exit codes, flags."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from drift_fixtures import current_frame, reference_frame, write_capture, write_parquet
from driftwatch_controller.cli import main
from driftwatch_demo.synthetic import Scenario

pytestmark = pytest.mark.unit

EIGHT = ("tenure_months", "monthly_charges", "support_calls_90d", "data_usage_gb", "age",
         "contract", "region", "plan_tier")  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("cli")
    return {
        "reference": write_parquet(reference_frame(), root / "reference.parquet"),
        "none": write_parquet(current_frame(1000, 1), root / "none.parquet"),
        "drift": write_parquet(
            current_frame(1000, 2, Scenario(kind="covariate", features=EIGHT)), root / "drift.parquet"
        ),
        "other": write_parquet(
            current_frame(300, 3)[["churned"]].rename(columns={"churned": "x"}), root / "other.parquet"
        ),
        "root": str(root),
    }


@pytest.fixture(autouse=True)
def calibration_cache(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("DRIFTWATCH_CALIBRATION_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cli-cache"))


def test_default_table_shows_verdict_then_one_row_per_column(files, capsys) -> None:
    code = main(
        [
            "check",
            "--reference",
            files["reference"],
            "--current",
            files["none"],
            "--now",
            "2026-11-27T10:00:00Z",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["verdict:", "NoDrift"]
    assert lines[1].split() == ["recommendation:", "None"]
    assert lines[2].startswith("drift share:")
    header = next(line for line in lines if line.startswith("COLUMN"))
    assert header.split() == ["COLUMN", "TYPE", "METHOD", "SCORE", "THRESHOLD", "DRIFTED"]
    assert any(line.split()[:3] == ["age", "numerical", "wasserstein"] for line in lines)
    assert any(line.split()[:3] == ["contract", "categorical", "jensenshannon"] for line in lines)


def test_json_output_is_the_status(files, capsys) -> None:
    code = main(["check", "--reference", files["reference"], "--current", files["drift"], "-o", "json",
                 "--now", "2026-11-27T10:00:00Z", "--target", "churned"])  # fmt: skip
    status = json.loads(capsys.readouterr().out)
    assert code == 0
    assert status["verdict"] == "Drift"
    assert status["recommendation"] == "Investigate"
    assert status["runId"] == "20261127T100000Z"
    assert status["monitoredColumns"] == 15  # inferred from the reference, target excluded
    assert status["targetDrift"]["column"] == "churned"


@pytest.mark.parametrize(
    ("current", "fail_on", "code"),
    [("drift", "investigate", 1), ("drift", "retrain", 0), ("none", "investigate", 0)],
)
def test_fail_on_exits_1_only_at_or_above_the_recommendation(
    files, capsys, current: str, fail_on: str, code: int
) -> None:
    args = ["check", "--reference", files["reference"], "--current", files[current], "--fail-on", fail_on]
    assert main(args) == code
    assert capsys.readouterr().out.startswith("verdict:")


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("missing file", "does not exist"),
        ("corrupt parquet", "cannot read"),
        ("directory without parquet", "no Parquet files"),
        ("csv without common columns", "no monitored column"),
        ("unknown numerical column", "columns nope are not in the reference"),
        ("unknown target column", "columns nope are not in the reference"),
        ("unknown prediction column", "columns nope are not in the reference"),
        ("broken yaml", "is not valid YAML"),
    ],
)
def test_unusable_input_exits_2_with_one_line(files, tmp_path, capsys, case: str, words: str) -> None:
    reference, current = files["reference"], files["none"]
    extra: list[str] = []
    if case == "missing file":
        current = files["root"] + "/nope.parquet"
    elif case == "corrupt parquet":
        current = str(tmp_path / "corrupt.parquet")
        (tmp_path / "corrupt.parquet").write_text("not parquet")
    elif case == "directory without parquet":
        (tmp_path / "empty").mkdir()
        reference = str(tmp_path / "empty")
    elif case == "csv without common columns":
        current = str(tmp_path / "other.csv")
        (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    elif case.startswith("unknown"):
        extra = ["--" + case.split()[1], "nope"]
    sources = ["--reference", reference, "--current", current, *extra]
    if case == "broken yaml":
        (tmp_path / "dc.yaml").write_text("spec: [\n")
        sources = ["-f", str(tmp_path / "dc.yaml")]
    code = main(["check", *sources])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert words in err


def test_manifest_with_yaml_output_and_column_flags(files, tmp_path, capsys) -> None:
    manifest = tmp_path / "dc.yaml"
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "driftwatch.io/v1alpha1", "kind": "DriftCheck", "metadata": {"name": "t"},
        "spec": {"reference": {"uri": files["reference"]}, "current": {"uri": files["none"], "minRows": 10}},
    }))  # fmt: skip
    code = main(
        [
            "check",
            "-f",
            str(manifest),
            "-o",
            "yaml",
            "--numerical",
            "age,tenure_months",
            "--categorical",
            "region",
        ]
    )
    status = yaml.safe_load(capsys.readouterr().out)
    assert code == 0
    assert [c["name"] for c in status["columns"]] == ["age", "tenure_months", "region"]


def test_bad_manifest_exits_2_naming_the_field(tmp_path, capsys) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(
        "spec:\n  reference: {uri: a.parquet}\n  current: {uri: b.parquet, window: soon}\nkind: DriftCheck\n"
    )
    assert main(["check", "-f", str(manifest)]) == 2
    assert "spec.current.window" in capsys.readouterr().err


def test_missing_inputs_exit_2(capsys) -> None:
    assert main(["check", "--reference", "a.parquet"]) == 2
    assert "--current" in capsys.readouterr().err


def test_report_path_always_gets_the_html_report(files, tmp_path, capsys) -> None:
    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()
    args = ["--reference", files["reference"], "--current", files["none"], "--target", "churned"]
    code = main(["check", *args, "--report", str(target), "-o", "json"])
    status = json.loads(capsys.readouterr().out)
    assert code == 0
    assert status["verdict"] == "NoDrift"
    assert status["report"] == {"uri": target.as_uri()}
    assert "<html" in target.read_text(encoding="utf-8")[:3000].lower()
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_report_asked_for_on_too_few_rows_says_none_was_written(files, tmp_path, capsys) -> None:
    target = tmp_path / "report.html"
    args = ["--reference", files["reference"], "--current", files["none"], "--min-rows", "5000"]
    code = main(["check", *args, "--report", str(target)])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith("verdict:        InsufficientData")
    assert err == f"driftwatch check: no HTML report written to {target}\n"
    assert not target.exists()


def test_min_rows_flag_is_validated_like_the_manifest_field(files, tmp_path, capsys) -> None:
    """Issue 9: `--min-rows 0` was applied without validation; it is refused as minRows 0 would be."""
    manifest = tmp_path / "dc.yaml"
    manifest.write_text(yaml.safe_dump({
        "kind": "DriftCheck", "metadata": {"name": "t"},
        "spec": {"reference": {"uri": files["reference"]}, "current": {"uri": files["none"]}},
    }))  # fmt: skip
    code = main(["check", "-f", str(manifest), "--min-rows", "0"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "minRows" in err


def test_manifest_with_an_unknown_field_exits_2_naming_it(files, tmp_path, capsys) -> None:
    """A typo is not silently ignored: `minRow` would otherwise leave minRows at its default."""
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(yaml.safe_dump({
        "kind": "DriftCheck", "metadata": {"name": "t"},
        "spec": {"reference": {"uri": files["reference"]}, "current": {"uri": files["none"], "minRow": 10}},
    }))  # fmt: skip
    assert main(["check", "-f", str(manifest)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "driftwatch check: spec.current.minRow: unknown field (not in the DriftCheck CRD)\n"


def test_data_flag_reads_the_window_as_sketches(files, tmp_path, capsys) -> None:
    write_capture(
        tmp_path / "capture", current_frame(1000, 4), pd.Timestamp("2026-11-27T09:10:00Z"), 600, "a"
    )
    sources = ["--reference", files["reference"], "--current", (tmp_path / "capture").as_uri()]
    args = ["check", *sources, "-o", "json", "--now", "2026-11-27T10:00:00Z", "--target", "churned"]
    assert main([*args, "--data", "sketches"]) == 0
    sketched = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert (sketched["dataPath"], rows["dataPath"]) == ("sketches", "rows")
    # Files written without a sidecar are sketched from their rows: the same rows, counted once.
    assert sketched["dataPathReason"] == "1 of 1 capture files had no readable sketch: sketched from rows"
    assert sketched["rows"]["current"] == rows["rows"]["current"] == 1000
