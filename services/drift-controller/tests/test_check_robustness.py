"""`driftwatch check` on bad capture files and bad input (issue 12): skipped and named, or one line and
exit 2; an unexpected exception has an exit code of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from drift_fixtures import current_frame, reference_frame, write_capture, write_parquet
from driftwatch_controller.api import contracts
from driftwatch_controller.cli import main
from driftwatch_controller.controller.drift_metrics import StatusStore, build_registry
from driftwatch_controller.engine import check as engine_check
from driftwatch_controller.engine.check import MIN_REFERENCE_ROWS

pytestmark = pytest.mark.unit

NOW = "2026-11-27T10:00:00Z"
START = pd.Timestamp("2026-11-27T09:05:00Z")
HOUR = Path("date=2026-11-27") / "hour=09"


@pytest.fixture(autouse=True)
def calibration_cache(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv(
        "DRIFTWATCH_CALIBRATION_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "robust-cache")
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    return write_parquet(reference_frame(2000), tmp_path_factory.mktemp("ref") / "reference.parquet")


def _capture(root: Path) -> Path:
    """Two good files of 300 rows each in the window's hour."""
    write_capture(root, current_frame(300, 1), START, 600, "a")
    write_capture(root, current_frame(300, 2), START, 600, "b")
    return root


def _run(capsys, *args: str) -> tuple[int, dict, str]:
    code = main(["check", *args, "--now", NOW, "-o", "json", "--target", "churned"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else {}), err


def test_a_corrupt_and_a_truncated_file_are_skipped_counted_and_named(
    reference, tmp_path, capsys, caplog
) -> None:
    root = _capture(tmp_path / "churn")
    good = (root / HOUR / "test-a.parquet").read_bytes()
    (root / HOUR / "corrupt.parquet").write_bytes(b"PAR1 not really parquet")
    (root / HOUR / "truncated.parquet").write_bytes(good[: len(good) // 2])
    code, status, err = _run(capsys, "--reference", reference, "--current", str(root))
    assert code == 0
    assert status["verdict"] == "NoDrift"
    assert status["rows"]["current"] == 600  # both good files read
    assert status["skippedFiles"]["count"] == 2
    names = {f["name"]: f["reason"] for f in status["skippedFiles"]["files"]}
    assert set(names) == {f"{HOUR.as_posix()}/corrupt.parquet", f"{HOUR.as_posix()}/truncated.parquet"}
    assert all(reason.startswith("unreadable: ") for reason in names.values())
    assert status["reason"].endswith("(2 capture files skipped, see status.skippedFiles)")
    assert "capture file date=2026-11-27/hour=09/corrupt.parquet skipped: unreadable" in caplog.text
    assert "Traceback" not in err


def test_a_file_with_a_column_of_another_type_is_skipped_naming_the_column(
    reference, tmp_path, capsys
) -> None:
    root = _capture(tmp_path / "churn")
    odd = current_frame(200, 3)
    odd["age"] = odd["age"].astype(str)
    write_capture(root, odd, START, 600, "c")
    code, status, _ = _run(capsys, "--reference", reference, "--current", str(root))
    assert code == 0
    assert status["rows"]["current"] == 600
    [skipped] = status["skippedFiles"]["files"]
    assert skipped["name"] == f"{HOUR.as_posix()}/test-c.parquet"
    assert skipped["reason"].startswith("column age is ")
    assert "the other files' int64" in skipped["reason"]


def test_an_int_column_beside_a_float_one_is_coerced_and_said_so(reference, tmp_path, capsys, caplog) -> None:
    root = _capture(tmp_path / "churn")
    path = root / HOUR / "test-b.parquet"
    table = pq.read_table(path)
    index = table.schema.get_field_index("age")
    pq.write_table(table.set_column(index, "age", table.column("age").cast(pa.float64())), path)
    code, status, _ = _run(capsys, "--reference", reference, "--current", str(root))
    assert code == 0
    assert status["rows"]["current"] == 600
    assert status["skippedFiles"] == {"count": 0, "files": []}
    assert "coerced: column age: double, int64 read as double" in caplog.text


def test_partial_and_hidden_files_are_ignored_not_skipped(reference, tmp_path, capsys) -> None:
    root = _capture(tmp_path / "churn")
    (root / HOUR / ".pod-1.parquet.partial").write_bytes(b"half")
    (root / HOUR / ".hidden.parquet").write_bytes(b"junk")
    (root / HOUR / "_probe.parquet").write_bytes(b"junk")
    code, status, _ = _run(capsys, "--reference", reference, "--current", str(root))
    assert (code, status["rows"]["current"]) == (0, 600)
    assert status["skippedFiles"] == {"count": 0, "files": []}


def test_a_window_of_only_bad_files_is_insufficient_data_saying_why(reference, tmp_path, capsys) -> None:
    root = tmp_path / "churn"
    (root / HOUR).mkdir(parents=True)
    for i in range(12):
        (root / HOUR / f"bad-{i:02d}.parquet").write_bytes(b"nope")
    code, status, _ = _run(capsys, "--reference", reference, "--current", str(root))
    assert code == 0
    assert status["verdict"] == "InsufficientData"
    assert status["skippedFiles"]["count"] == 12
    assert len(status["skippedFiles"]["files"]) == 10  # the first ten named, all counted
    assert "12 capture files skipped" in status["reason"]


def test_the_skipped_files_are_a_metric_of_the_controller() -> None:
    store = StatusStore()
    store.put("ml", "churn", None, {"skippedFiles": {"count": 3, "files": []}})
    registry = build_registry(store)
    labels = {"namespace": "ml", "driftcheck": "churn", "model": "churn"}
    assert registry.get_sample_value("driftwatch_drift_skipped_files", labels) == 3.0


@pytest.mark.parametrize("rows", [1, MIN_REFERENCE_ROWS - 1])
def test_a_reference_below_the_minimum_is_unusable_input(tmp_path, capsys, rows: int) -> None:
    """Issue 12: a 1-row reference gave a confident 'Drift 10 of 15'."""
    small = write_parquet(reference_frame(2000).head(rows), tmp_path / "small.parquet")
    current = write_parquet(current_frame(500, 1), tmp_path / "current.parquet")
    code, status, err = _run(capsys, "--reference", small, "--current", current)
    assert (code, status) == (contracts.EXIT_UNUSABLE, {})
    assert err.count("\n") == 1
    assert f"has {rows} row" in err
    assert f"fewer than the {MIN_REFERENCE_ROWS}" in err


def test_a_reference_at_the_minimum_is_checked(tmp_path, capsys) -> None:
    ref = write_parquet(reference_frame(2000).head(MIN_REFERENCE_ROWS), tmp_path / "ref.parquet")
    current = write_parquet(current_frame(500, 1), tmp_path / "current.parquet")
    code, status, _ = _run(capsys, "--reference", ref, "--current", current)
    assert code == 0
    assert status["rows"]["reference"] == MIN_REFERENCE_ROWS


def test_a_manifest_that_is_not_utf8_exits_2_with_one_line(tmp_path, capsys) -> None:
    manifest = tmp_path / "dc.yaml"
    manifest.write_bytes(b"spec:\n  reference: {uri: \xff\xfe.parquet}\n")
    code = main(["check", "-f", str(manifest)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == f"driftwatch check: {manifest} is not UTF-8 text (invalid start byte at byte 25)\n"


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_a_seed_out_of_range_exits_2_with_one_line(reference, capsys, seed: str) -> None:
    code = main(["check", "--reference", reference, "--current", reference, "--seed", seed])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == f"driftwatch check: --seed {seed}: must be between 0 and 4294967295\n"


def test_an_unexpected_exception_exits_4_never_a_verdicts_code(reference, capsys, monkeypatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(engine_check, "run_check", broken)
    code = main(["check", "--reference", reference, "--current", reference, "--fail-on", "investigate"])
    out, err = capsys.readouterr()
    assert code == contracts.EXIT_INTERNAL == 4
    assert code not in (contracts.EXIT_OK, contracts.EXIT_FAIL_ON, contracts.EXIT_UNUSABLE)
    assert out == ""
    assert err.splitlines()[-1] == "driftwatch check: internal error: RuntimeError: boom"


def test_help_gives_each_exit_code_one_meaning(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "1 only with --fail-on" in text
    assert "2 unusable input" in text
    assert "4 internal error" in text
