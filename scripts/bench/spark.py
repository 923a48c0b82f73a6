"""Benchmark: a whole `driftwatch check` with `engine: spark` (local[N]) against the numpy engine, same run.

Generates a 1M-row reference and a 1M-row capture window (several files in one hour partition, as the
capture writer lays them out; five numerical and two categorical features and the prediction), then
times `run_check` with each engine on it (best of --repeat runs each, after one warm-up run that starts
the SparkSession, whose start-up is reported on its own), and again with `exactDistinctLimit` low
enough that the continuous columns are sketched. Prints one table and the machine line.

    .venv/bin/python scripts/bench/spark.py [--rows 1000000] [--repeat 2] [--master local[2]]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host import machine

NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def frame(rng: np.random.Generator, rows: int, shift: float) -> pd.DataFrame:
    """Churn-like rows; `shift` moves every feature but `region`."""
    plans = np.array(["basic", "plus", "pro", "family", "student"])
    return pd.DataFrame(
        {
            "monthly_charges": rng.normal(70.0 + 10 * shift, 20.0, rows),
            "data_usage_gb": rng.lognormal(2.0 + shift, 0.8, rows),
            "tenure_months": np.round(rng.gamma(2.0, 12.0 * (1 + shift), rows)).astype(np.int64),
            "support_calls": rng.poisson(1.5 + 2 * shift, rows).astype(np.int64),
            "plan": rng.choice(plans, rows),
            "region": rng.integers(0, 12, rows).astype(np.int64),
            "probability": rng.beta(2.0, 5.0 - 3 * shift, rows),
        }
    )


def write_window(df: pd.DataFrame, root: Path, files: int, rng: np.random.Generator) -> None:
    hour = NOW.replace(minute=0)
    directory = root / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    directory.mkdir(parents=True)
    seconds = rng.uniform(0, (NOW - hour).total_seconds() - 1, len(df))
    df = df.assign(
        request_id=[f"r{i}" for i in range(len(df))],
        ts=(pd.to_datetime(hour) + pd.to_timedelta(seconds, unit="s")).astype("datetime64[us, UTC]"),
        model_version="v1",
    )
    for i, part in enumerate(np.array_split(np.arange(len(df)), files)):
        df.iloc[part].to_parquet(directory / f"pod-a-{i:04d}.parquet", index=False)


def timed(fn: object, repeat: int) -> tuple[float, float, object]:
    """Best wall and CPU seconds (this process only: Spark's JVM is a child, its CPU is not counted)."""
    best_wall, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()  # type: ignore[operator]
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

    from driftwatch_controller.api.spec import DriftCheckSpec
    from driftwatch_controller.engine import check

    rng = np.random.default_rng(15)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        frame(rng, args.rows, 0.0).to_parquet(root / "reference.parquet", index=False)
        write_window(frame(rng, args.rows, 0.15), root / "capture", 6, rng)
        body = {
            "reference": {"uri": str(root / "reference.parquet")},
            "current": {"uri": f"file://{root / 'capture'}", "window": "1h"},
            "columns": {"prediction": "probability"},
            "spark": {"master": args.master, "conf": {"spark.sql.shuffle.partitions": "4"}},
        }
        # Thresholds cached across runs as a check pod with a calibration cache would have them.
        settings = check.EngineSettings(calibration_cache_dir=root / "cache")

        def run(**extra: object) -> dict[str, object]:
            spec = DriftCheckSpec.model_validate({**body, **extra})
            return check.run_check(spec, now=NOW, settings=settings).status

        start = time.perf_counter()
        run(engine="spark")  # starts the SparkSession, fills the threshold cache
        warm_up = time.perf_counter() - start
        results = {}
        results["numpy"] = timed(lambda: run(), args.repeat)
        results["spark (exact counts)"] = timed(lambda: run(engine="spark"), args.repeat)
        sketched = {"engine": "spark", "spark": {**body["spark"], "exactDistinctLimit": 100_000}}  # type: ignore[dict-item]
        results["spark (continuous columns sketched)"] = timed(lambda: run(**sketched), args.repeat)

    base_wall = results["numpy"][0]
    print(f"rows: reference {args.rows:,}, window {args.rows:,}; master {args.master}; best of {args.repeat}")
    print(f"first Spark run (session start-up + calibration): {warm_up:.1f} s")
    print(f"{'engine':40} {'wall s':>8} {'x numpy':>8} {'driver CPU s':>13}  verdict / drifted")
    for name, (wall, cpu, status) in results.items():
        st = status  # type: ignore[assignment]
        verdict = f"{st['verdict']} / {st['driftedColumns']} of {st['monitoredColumns']}"  # type: ignore[index]
        print(f"{name:40} {wall:8.2f} {wall / base_wall:8.2f} {cpu:13.2f}  {verdict}")
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
