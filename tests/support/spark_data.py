"""Generated data of the Spark engine tests (tests/spark): churn-like rows, as files and as a capture tree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 1_000_000
# Every capture file of a window sits in this hour (the check's window ends at NOW).
NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def frame(rng: np.random.Generator, rows: int, *, drift: bool) -> pd.DataFrame:
    """Churn-like rows: continuous, integer-valued and categorical features, and a probability."""
    shift = 0.15 if drift else 0.0
    plans = np.array(["basic", "plus", "pro", "family", "student"])
    plan_p = [0.4, 0.25, 0.15, 0.12, 0.08] if not drift else [0.3, 0.25, 0.15, 0.12, 0.18]
    tenure = rng.gamma(2.0, 12.0, rows) * (1.1 if drift else 1.0)
    return pd.DataFrame(
        {
            "monthly_charges": rng.normal(70.0 + 10 * shift, 20.0, rows),
            "data_usage_gb": rng.lognormal(2.0 + shift, 0.8, rows),
            "tenure_months": np.round(tenure).astype(np.int64),
            "support_calls": rng.poisson(1.5 + 2 * shift, rows).astype(np.int64),
            "plan": rng.choice(plans, rows, p=plan_p),
            "region": rng.integers(0, 12, rows).astype(np.int64),
            "probability": rng.beta(2.0, 5.0 - 3 * shift, rows),
        }
    )


@dataclass(frozen=True)
class Data:
    """Paths of the generated Parquet data."""

    reference: Path
    current_file: dict[str, Path]
    capture: dict[str, Path]


def write_capture(df: pd.DataFrame, root: Path, files: int, rng: np.random.Generator) -> None:
    """The window as the capture writer lays it out: several files in the hour's partition, with ts."""
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    directory = root / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    directory.mkdir(parents=True)
    seconds = rng.uniform(0, (NOW - hour).total_seconds() - 1, len(df))
    df = df.assign(
        request_id=[f"r{i}" for i in range(len(df))],
        # Microseconds, as the capture writer stores ts (capture.TIMESTAMP).
        ts=(pd.to_datetime(hour) + pd.to_timedelta(seconds, unit="s")).astype("datetime64[us, UTC]"),
        model_version="v1",
    )
    for i, part in enumerate(np.array_split(np.arange(len(df)), files)):
        df.iloc[part].to_parquet(directory / f"pod-a-{i:04d}.parquet", index=False)
    # Rows of the partition before, older than the window's start: read by neither engine (ts filter).
    early_hour = hour - timedelta(hours=1)
    early = df.iloc[:1000].assign(ts=pd.Timestamp(early_hour + timedelta(minutes=15)).as_unit("us"))
    before = root / f"date={early_hour:%Y-%m-%d}" / f"hour={early_hour:%H}"
    before.mkdir(parents=True)
    early.to_parquet(before / "pod-a-early.parquet", index=False)
