"""One local[2] SparkSession for every Spark test (bound to 127.0.0.1, no UI), and the generated data.

Starting a session costs ~10 s on a loaded machine, so it is session-scoped; the engine's own
`spark_engine.session` reuses it (getOrCreate). The data: 1M reference rows and two 1M-row windows,
one drawn like the reference and one with planted drift, numerical and categorical columns.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.spark_data import ROWS, Data, frame, write_capture


@pytest.fixture(scope="session")
def spark_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Data]:
    root = tmp_path_factory.mktemp("spark-data")
    rng = np.random.default_rng(15)
    frame(rng, ROWS, drift=False).to_parquet(root / "reference.parquet", index=False)
    current_file, capture = {}, {}
    for scenario in ("none", "drift"):
        df = frame(rng, ROWS, drift=scenario == "drift")
        current_file[scenario] = root / f"current-{scenario}.parquet"
        df.to_parquet(current_file[scenario], index=False)
        capture[scenario] = root / f"capture-{scenario}"
        write_capture(df, capture[scenario], 6, rng)
    yield Data(root / "reference.parquet", current_file, capture)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def expected_calibration_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the numpy engine's (expected) thresholds are kept for the session: both scenarios and the
    whole check share the reference and the window size, so each is bootstrapped once. The Spark side
    never reads it: its thresholds are always computed from its own summaries and compared."""
    return tmp_path_factory.mktemp("expected-calibration")


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    if shutil.which("java") is None:
        pytest.fail("java is not installed: scripts/install_system.sh installs openjdk-17-jre-headless")
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    from driftwatch_controller.api.spec import SparkSpec
    from driftwatch_controller.engine import spark_engine

    session = spark_engine.session(SparkSpec(master="local[2]", conf={"spark.sql.shuffle.partitions": "4"}))
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
