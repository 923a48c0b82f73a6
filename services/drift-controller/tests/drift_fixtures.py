"""Shared data for the drift-engine unit tests: a seeded reference and helpers to write datasets."""

from __future__ import annotations

import hashlib
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from driftwatch_capture import sketches
from driftwatch_capture.schema import CaptureControls
from driftwatch_controller.api.spec import DriftCheckSpec
from driftwatch_controller.engine.check import EngineSettings
from driftwatch_demo.synthetic import CATEGORICAL, NUMERICAL, Scenario, generate

REFERENCE_SEED = 1234
FEATURES = (*NUMERICAL, *CATEGORICAL)


def write_parquet(frame: pd.DataFrame, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return str(path)


def reference_frame(n: int = 10_000) -> pd.DataFrame:
    return generate(n, REFERENCE_SEED)


def current_frame(n: int, seed: int, scenario: Scenario | str = "none") -> pd.DataFrame:
    return generate(n, seed, scenario)


def spec_for(reference: str, current: str, **extra: object) -> DriftCheckSpec:
    body: dict[str, object] = {
        "reference": {"uri": reference},
        "current": {"uri": current, "window": "1h", "minRows": 200},
        "columns": {"numerical": list(NUMERICAL), "categorical": list(CATEGORICAL), "target": "churned"},
    }
    body.update(extra)
    return DriftCheckSpec.from_manifest(body)


def settings(cache: Path) -> EngineSettings:
    return EngineSettings(calibration_cache_dir=cache)


def write_capture(
    root: Path,
    frame: pd.DataFrame,
    start: pd.Timestamp,
    seconds: float,
    name: str,
    *,
    controls: CaptureControls | None = None,
    sketch: bool = False,
) -> None:
    """Write `frame` as capture rows spread over `seconds` from `start`, in the documented layout;
    with `controls`, as the writer does under them (features dropped or hashed, the metadata), and
    with `sketch`, each file's sketch sidecar beside it."""
    frame = frame.drop(columns=["churned"], errors="ignore").reset_index(drop=True)
    if controls is not None:
        frame = frame.drop(columns=list(controls.excluded))
        for column in controls.hashed:
            frame[column] = [hashlib.sha256(f"key:{v}".encode()).hexdigest() for v in frame[column]]
    ts = start + pd.to_timedelta(np.linspace(0, seconds, len(frame), endpoint=False), unit="s")
    frame.insert(0, "request_id", [f"{name}-{i}" for i in range(len(frame))])
    frame.insert(1, "ts", ts.tz_convert("UTC"))
    frame.insert(2, "model_version", "1.0.0-test")
    frame["prediction"] = 0
    frame["probability"] = 0.2
    frame["hour"] = frame["ts"].dt.floor("h")
    for hour, part in frame.groupby("hour"):
        part = part.drop(columns=["hour"])
        directory = root / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        directory.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(part, preserve_index=False)
        table = table.set_column(1, "ts", table.column("ts").cast(pa.timestamp("us", tz="UTC")))
        if controls is not None:
            table = table.replace_schema_metadata(controls.to_metadata())
        path = directory / f"test-{name}.parquet"
        pq.write_table(table, path)
        if sketch:
            sketches.write_sidecar(fsspec.filesystem("file"), str(path), sketches.summarize(table))


def write_feedback(
    root: Path, request_ids: list[str], labels: list[int], ts: pd.Timestamp, name: str
) -> None:
    directory = root / "feedback" / f"date={ts:%Y-%m-%d}" / f"hour={ts:%H}"
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "request_id": request_ids,
            "ts": pa.array([ts.to_pydatetime()] * len(request_ids), pa.timestamp("us", tz="UTC")),
            "event_time": pa.array([None] * len(request_ids), pa.timestamp("us", tz="UTC")),
            "label": pa.array(labels, pa.int64()),
        }
    )
    pq.write_table(table, directory / f"test-{name}.parquet")
