"""Checks on capture sketches against checks on rows (issue 15): time, peak RSS, agreement.

Windows of 1M, 10M and 100M rows of the churn model's predictions (15 features, `prediction`,
`probability`) are written as the inference service writes them: the service's CaptureWriter
publishes each file (`_write_segment`, one Parquet file per hour a file spans, named like a segment
of the durable mode) with its `.sketch` sidecar, `--file-rows` rows a file (the service's default
flush). Rows come from the demo's generator in 1M-row chunks; past 10M the chunks are published
again with new request ids and times (generating 100M rows would take longer than all the rest).

Each check is `run_check` in a fresh process (as the check pod is): wall time of the check inside
it, and the process's peak RSS (VmHWM: ru_maxrss is inherited across exec, see _peak_rss_mb).
Once with a cold calibration cache, then warm (what a
scheduled DriftCheck sees after its first run). The row path runs only where it fits: up to
`--rows-max` rows. Agreement: per monitored column (features and outputs), drifted or not on both
paths, over the no-drift and drift scenarios; the largest score difference per method.

    .venv/bin/python scripts/bench/sketches.py [--sizes 1000000,10000000,100000000] [--rows-max 10000000]

Data goes to --workdir (default tmp/artifacts/sketch-bench, never committed), removed at the end
unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "bench"))

from host import machine  # noqa: E402 - the benchmarks' shared machine line

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(hours=6)
CHUNK_ROWS = 1_000_000
SCENARIOS = {
    "none": {"kind": "none"},
    "covariate": {"kind": "covariate"},  # 1 standard deviation on four features (the demo's)
    "covariate-small": {"kind": "covariate", "magnitude": 0.05},  # near the calibrated thresholds
}


def _schema():
    import pyarrow as pa
    from driftwatch_capture.schema import prediction_schema
    from driftwatch_demo import synthetic

    schema = prediction_schema([(f.name, f.dtype) for f in synthetic.FEATURES], "binary", (0, 1))
    assert schema.field("prediction").type == pa.int64()
    return schema


def _chunk(scenario: str, index: int):
    import numpy as np
    import pandas as pd
    from driftwatch_demo import synthetic

    params = SCENARIOS[scenario]
    kind = synthetic.Scenario.named(params["kind"])
    if "magnitude" in params:
        kind = synthetic.Scenario(kind="covariate", features=kind.features, magnitude=params["magnitude"])
    frame = synthetic.generate(CHUNK_ROWS, 1000 + 100 * list(SCENARIOS).index(scenario) + index, kind)
    frame = frame.drop(columns=[synthetic.TARGET])
    probability = 1.0 / (1.0 + np.exp(-synthetic.churn_logit(frame)))
    frame["prediction"] = (probability >= 0.5).astype(np.int64)
    frame["probability"] = probability
    return pd.DataFrame(frame)


def _reference(path: Path, rows: int) -> None:
    import numpy as np
    from driftwatch_demo import synthetic

    frame = synthetic.generate(rows, 1234).drop(columns=[synthetic.TARGET])
    probability = 1.0 / (1.0 + np.exp(-synthetic.churn_logit(frame)))
    frame["prediction"] = (probability >= 0.5).astype(np.int64)
    frame["probability"] = probability
    frame.to_parquet(path, index=False)


def write_window(root: Path, scenario: str, rows: int, file_rows: int, pool: list) -> dict[str, float]:
    """`rows` rows over the window, published by the CaptureWriter; CPU seconds of each part."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    from driftwatch_capture import sketches
    from driftwatch_inference.capture import CaptureWriter
    from driftwatch_inference.capture_spool import new_segment_id

    schema = _schema()
    writer = CaptureWriter(
        root.as_uri(),
        "churn",
        schema,
        host="bench-0",
        queue_size=1,
        flush_rows=1,
        flush_interval_s=60.0,
        write_sketches=True,
    )
    start = int((NOW - WINDOW).timestamp() * 1_000_000)
    step = int(WINDOW / timedelta(microseconds=1)) // rows
    written = 0
    cpu = {"publish_s": 0.0, "sketch_s": 0.0}
    while written < rows:
        chunk = pool[(written // CHUNK_ROWS) % len(pool)]
        base = pa.Table.from_pandas(chunk, preserve_index=False)
        for offset in range(0, min(CHUNK_ROWS, rows - written), file_rows):
            part = base.slice(offset, min(file_rows, rows - written - offset))
            n = part.num_rows
            first = written
            ids = pc.binary_join_element_wise(
                pa.scalar(f"{first:016x}"), pa.array(np.char.mod("%016x", np.arange(n))), ""
            )
            ts = pa.array(start + (first + np.arange(n)) * step, type=pa.timestamp("us", tz="UTC"))
            model = pa.array(["1.0.0"] * n)
            added = {"request_id": ids, "ts": ts, "model_version": model}
            arrays = [added[f.name] if f.name in added else part.column(f.name) for f in schema]
            table = pa.table(arrays, schema=schema)
            began = time.process_time()
            writer._write_segment(new_segment_id(), table)  # what a flush publishes: Parquet + sidecar
            cpu["publish_s"] += time.process_time() - began
            if written % (10 * file_rows) == 0:  # the sidecar's share, sampled on every tenth file
                began = time.process_time()
                sketches.summarize(table)
                cpu["sketch_s"] += (time.process_time() - began) * 10
            written += n
    return cpu


def _peak_rss_mb() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux carries it across exec from the forking parent,
    so every worker reported the generator's peak; VmHWM belongs to the process's own memory map."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _worker(args: argparse.Namespace) -> None:
    from driftwatch_controller.api.spec import DriftCheckSpec
    from driftwatch_controller.engine.check import EngineSettings, run_check
    from driftwatch_demo import synthetic

    spec = DriftCheckSpec.from_manifest(
        {
            "reference": {"uri": args.reference},
            "current": {"uri": args.current, "window": "6h", "minRows": 200},
            "columns": {
                "numerical": list(synthetic.NUMERICAL),
                "categorical": list(synthetic.CATEGORICAL),
                "prediction": "probability",
                "predictionClass": "prediction",
            },
            "drift": {"data": args.data},
        }
    )
    began = time.perf_counter()
    status = run_check(spec, now=NOW, settings=EngineSettings(calibration_cache_dir=Path(args.cache))).status
    seconds = time.perf_counter() - began
    columns = list(status["columns"])
    drift = status["predictionDrift"] or {}
    columns.append(
        {k: drift.get(k) for k in ("score", "threshold", "drifted", "method")} | {"name": "probability"}
    )
    cls = drift.get("class") or {}
    columns.append(
        {k: cls.get(k) for k in ("score", "threshold", "drifted", "method")} | {"name": "prediction"}
    )
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mb": _peak_rss_mb(),
                "rows": status["rows"]["current"],
                "dataPath": status["dataPath"],
                "reason": status["dataPathReason"],
                "verdict": status["verdict"],
                "columns": columns,
            }
        )
    )


def _check(data: str, reference: Path, current: Path, cache: Path) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--data",
        data,
        "--reference",
        str(reference),
        "--current",
        (current / "churn").as_uri(),
        "--cache",
        str(cache),
    ]
    began = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=3600)
    if result.returncode != 0:
        raise RuntimeError(f"{data} check failed: {result.stderr.strip()[-2000:]}")
    out = json.loads(result.stdout.strip().splitlines()[-1])
    out["process_s"] = time.perf_counter() - began
    return out


def _directory_mb(path: Path, suffix: str) -> float:
    return sum(p.stat().st_size for p in path.rglob(f"*{suffix}")) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000,100000000")
    parser.add_argument("--rows-max", type=int, default=10_000_000, help="largest window the row path reads")
    parser.add_argument("--file-rows", type=int, default=20_000, help="rows per capture file (a flush)")
    parser.add_argument("--reference-rows", type=int, default=20_000)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--workdir", default=str(ROOT / "tmp" / "artifacts" / "sketch-bench"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--reference", help=argparse.SUPPRESS)
    parser.add_argument("--current", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    reference = workdir / "reference.parquet"
    _reference(reference, args.reference_rows)
    print(f"machine: {machine()}; load average at start {os.getloadavg()[0]:.2f}", flush=True)
    results = []
    for scenario in args.scenarios.split(","):
        # Windows past 10M rows repeat the 10 chunks: one scenario (no drift) is enough for their cost.
        scenario_sizes = [s for s in sizes if s <= args.rows_max or scenario == "none"]
        chunks = min(max(scenario_sizes) // CHUNK_ROWS, 10) if scenario_sizes else 0
        began = time.perf_counter()
        pool = [_chunk(scenario, i) for i in range(max(chunks, 1))]
        print(f"{scenario}: generated {len(pool)} chunks in {time.perf_counter() - began:.0f} s", flush=True)
        for size in scenario_sizes:
            current = workdir / f"{scenario}-{size}"
            began = time.perf_counter()
            cpu = write_window(current, scenario, size, args.file_rows, pool)
            files = len(list(current.rglob("*.parquet")))
            entry = {
                "scenario": scenario,
                "rows": size,
                "files": files,
                "write_s": time.perf_counter() - began,
                "sketch_ns_per_row": cpu["sketch_s"] / size * 1e9,
                "publish_ns_per_row": cpu["publish_s"] / size * 1e9,
                "parquet_mb": _directory_mb(current, ".parquet"),
                "sketch_mb": _directory_mb(current, ".sketch"),
                "load": os.getloadavg()[0],
            }
            cache = workdir / f"cache-{scenario}-{size}"
            entry["sketch_cold"] = _check("sketches", reference, current, cache)
            entry["sketch_warm"] = _check("sketches", reference, current, cache)
            if size <= args.rows_max:
                entry["rows_cold"] = _check("rows", reference, current, cache)
                entry["rows_warm"] = _check("rows", reference, current, cache)
            results.append(entry)
            print(json.dumps(_summary(entry)), flush=True)
            if not args.keep:
                shutil.rmtree(current, ignore_errors=True)
    _report(results)
    (workdir / "results.json").write_text(json.dumps(results, indent=1))
    if not args.keep:
        for cache in workdir.glob("cache-*"):
            shutil.rmtree(cache, ignore_errors=True)


def _summary(entry: dict) -> dict:
    out = {
        k: (round(v, 3) if isinstance(v, float) else v) for k, v in entry.items() if not isinstance(v, dict)
    }
    for key in ("sketch_cold", "sketch_warm", "rows_cold", "rows_warm"):
        if key in entry:
            out[key] = {k: round(entry[key][k], 3) for k in ("seconds", "process_s", "peak_rss_mb")}
            out[key]["path"] = entry[key]["dataPath"]
    return out


def _report(results: list[dict]) -> None:
    print(
        "\n| scenario | rows | files | sketch check s (cold / warm) | sketch peak RSS MB "
        "| rows check s (cold / warm) | rows peak RSS MB | columns agreeing | largest score difference |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    agree = total = 0
    for e in results:
        sk, row = e["sketch_warm"], e.get("rows_warm")
        cells = [
            e["scenario"],
            f"{e['rows']:,}",
            str(e["files"]),
            f"{e['sketch_cold']['seconds']:.2f} / {sk['seconds']:.2f}",
            f"{sk['peak_rss_mb']:.0f}",
        ]
        if row is None:
            cells += ["not run (does not fit)", "", "", ""]
        else:
            pairs = list(zip(sk["columns"], row["columns"], strict=True))
            same = sum(a["drifted"] == b["drifted"] for a, b in pairs)
            agree, total = agree + same, total + len(pairs)
            worst: dict[str, float] = {}
            for a, b in pairs:
                if a["score"] is not None and b["score"] is not None:
                    worst[a["method"]] = max(worst.get(a["method"], 0.0), abs(a["score"] - b["score"]))
            diffs = ", ".join(f"{m} {v:.4f}" for m, v in sorted(worst.items()))
            cells += [
                f"{e['rows_cold']['seconds']:.2f} / {row['seconds']:.2f}",
                f"{row['peak_rss_mb']:.0f}",
                f"{same}/{len(pairs)}",
                diffs,
            ]
        print("| " + " | ".join(cells) + " |")
    if total:
        print(f"\nagreement: {agree}/{total} column decisions ({100 * agree / total:.1f}%)")
    for e in results:
        print(
            f"{e['scenario']} {e['rows']:,}: write {e['write_s']:.0f} s, "
            f"sketch {e['sketch_ns_per_row']:.0f} ns/row of {e['publish_ns_per_row']:.0f} ns/row "
            "publishing (Parquet + sidecar, CPU), "
            f"Parquet {e['parquet_mb']:.0f} MB, sidecars {e['sketch_mb']:.1f} MB, load {e['load']:.2f}"
        )


if __name__ == "__main__":
    main()
