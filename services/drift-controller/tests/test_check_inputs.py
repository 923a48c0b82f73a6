"""`load_inputs` then `run_check(inputs=...)`: the check the Prefect flow runs, reading its data once."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from drift_fixtures import current_frame, reference_frame, settings, spec_for, write_capture, write_parquet
from driftwatch_controller.engine import datasets
from driftwatch_controller.engine.check import UnusableInput, load_inputs, run_check

pytestmark = pytest.mark.unit

NOW = datetime.fromisoformat("2026-11-27T10:00:00+00:00")
START = pd.Timestamp("2026-11-27T09:05:00Z")


@pytest.fixture
def spec(tmp_path: Path):  # type: ignore[no-untyped-def]
    reference = write_parquet(reference_frame(3000), tmp_path / "reference.parquet")
    root = tmp_path / "capture"
    write_capture(root, current_frame(1500, 7, "covariate"), START, 1800, "current")
    return spec_for(reference, str(root))


def test_a_check_on_loaded_inputs_decides_as_the_check_that_reads_them(spec, tmp_path: Path) -> None:
    inputs = load_inputs(spec, now=NOW)
    assert len(inputs.reference) == 3000
    assert inputs.current_rows == 1500
    assert inputs.sketched is None
    loaded = run_check(spec, inputs=inputs, settings=settings(tmp_path / "cache")).status
    read = run_check(spec, now=NOW, settings=settings(tmp_path / "cache")).status
    assert loaded["verdict"] == read["verdict"] == "Drift"
    assert loaded == read


def test_a_check_on_loaded_inputs_reads_nothing_again(spec, tmp_path: Path, monkeypatch) -> None:
    inputs = load_inputs(spec, now=NOW)

    def unreachable(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("read again")

    for name in ("read_table", "read_capture_window", "read_card"):
        monkeypatch.setattr(datasets, name, unreachable)
    status = run_check(spec, inputs=inputs, settings=settings(tmp_path / "cache")).status
    assert status["rows"]["current"] == 1500
    assert status["lastRunTime"].startswith("2026-11-27T10:00:00")


def test_unusable_data_fails_the_load_with_the_engines_message(spec, tmp_path: Path) -> None:
    missing = spec.model_copy(
        update={"reference": spec.reference.model_copy(update={"uri": str(tmp_path / "none.parquet")})}
    )
    with pytest.raises(UnusableInput, match=r"^reference: .*none\.parquet does not exist"):
        load_inputs(missing, now=NOW)


def test_a_window_read_as_sketches_is_loaded_as_sketches_and_checked_as_such(tmp_path: Path) -> None:
    reference = write_parquet(reference_frame(3000), tmp_path / "reference.parquet")
    root = tmp_path / "capture"
    for part in range(4):  # several files, each with its sketch sidecar
        start = START + pd.Timedelta(minutes=12 * part)
        write_capture(root, current_frame(600, 20 + part), start, 600, f"part{part}", sketch=True)
    spec = spec_for(reference, str(root), drift={"data": "sketches"})
    inputs = load_inputs(spec, now=NOW)
    assert inputs.sketched is not None
    assert inputs.current_rows == 2400
    loaded = run_check(spec, inputs=inputs, settings=settings(tmp_path / "cache")).status
    read = run_check(spec, now=NOW, settings=settings(tmp_path / "cache")).status
    assert loaded["dataPath"] == "sketches"
    assert loaded == read
