"""Cost of drift per segment (issue 13): the same `driftwatch check` with and without 6 segments.

The churn features of scripts/bench/drift.py plus a categorical `zone` of 6 values (25% down to 10%
of the rows), reference = current = N rows (two seeds, no drift). Each run is a fresh process (the
check runs as a fresh pod, no calibration cache), the two cases interleaved `--repeat` times so the
shared machine's load falls on both alike; the ratio of the medians is the cost (target <= 2x at 1M).
Prints a Markdown table and the machine line.

    .venv/bin/python scripts/bench/segments.py [--sizes 100000,1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host import machine

ZONES = ("z1", "z2", "z3", "z4", "z5", "z6")
ZONE_SHARES = (0.25, 0.20, 0.17, 0.15, 0.13, 0.10)
# Child processes get compiled bytecode like an image has, in a private cache (as scripts/bench/drift.py).
CHILD_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE",)}
CHILD_ENV["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "driftwatch-bench-pycache")
CHILD_ENV.pop("DRIFTWATCH_CALIBRATION_CACHE_DIR", None)


def _generate(n: int, directory: Path) -> tuple[Path, Path]:
    import numpy as np
    from driftwatch_demo.synthetic import generate

    paths = directory / f"ref-{n}.parquet", directory / f"cur-{n}.parquet"
    for seed, path in zip((1, 2), paths, strict=True):
        frame = generate(n, seed).drop(columns=["churned"])
        rng = np.random.default_rng(seed + 500)
        frame["zone"] = np.array(ZONES, dtype=object)[rng.choice(len(ZONES), size=n, p=ZONE_SHARES)]
        frame.to_parquet(path, index=False)
    return paths


def _spec(directory: Path, ref: Path, cur: Path, segments: bool) -> Path:
    spec: dict = {"reference": {"uri": str(ref)}, "current": {"uri": str(cur)}}
    if segments:
        spec["segments"] = {"columns": ["zone"]}
    path = directory / f"spec-{'segments' if segments else 'plain'}-{ref.stem}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "driftwatch.io/v1alpha1",
                "kind": "DriftCheck",
                "metadata": {"name": "bench"},
                "spec": spec,
            }
        )
    )
    return path


def _check(spec: Path, cache: Path | None = None) -> tuple[float, dict]:
    """Wall seconds of one fresh `driftwatch check -f` process, and the status it printed."""
    command = [str(Path(sys.executable).parent / "driftwatch"), "check", "-f", str(spec), "-o", "json"]
    env = dict(CHILD_ENV, **({"DRIFTWATCH_CALIBRATION_CACHE_DIR": str(cache)} if cache else {}))
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=900)
    wall = time.perf_counter() - start
    if result.returncode not in (0, 1):  # 1: a verdict asked to fail; anything else is a broken run
        raise RuntimeError(f"check failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return wall, json.loads(result.stdout)


def _measure(n: int, directory: Path, repeat: int, cache: Path | None) -> dict:
    """Both cases `repeat` times, interleaved; with `cache`, after one unmeasured run that fills it."""
    ref, cur = _generate(n, directory)
    specs = {"plain": _spec(directory, ref, cur, False), "segments": _spec(directory, ref, cur, True)}
    if cache is not None:
        for spec in specs.values():
            _check(spec, cache)
    times: dict[str, list[float]] = {"plain": [], "segments": []}
    status: dict = {}
    load = os.getloadavg()[0]
    for _ in range(repeat):
        times["plain"].append(_check(specs["plain"], cache)[0])
        wall, status = _check(specs["segments"], cache)
        times["segments"].append(wall)
    counts = status.get("segmentCounts") or {}
    return {
        "n": n,
        "cache": "warm" if cache else "none",
        "plain": statistics.median(times["plain"]),
        "segments": statistics.median(times["segments"]),
        "evaluated": counts.get("evaluated"),
        "verdict": status.get("verdict"),
        "load": max(load, os.getloadavg()[0]),
        "all": times,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-cache-case", action="store_true", help="skip the warm calibration cache case")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="driftwatch-bench-segments-") as tmp:
        directory = Path(tmp)
        warm_ref, warm_cur = _generate(2000, directory)
        _check(_spec(directory, warm_ref, warm_cur, True))  # writes the bytecode cache, not measured
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(_measure(n, directory, args.repeat, None))
            if not args.no_cache_case:
                rows.append(_measure(n, directory, args.repeat, directory / f"calibration-{n}"))
    headers = [
        "N rows (ref = cur)",
        "calibration cache",
        "check (s, median)",
        "with 6 segments (s, median)",
        "ratio",
        "segments measured",
        "verdict",
        "load average (1 min, max)",
    ]
    print("| " + " | ".join(headers) + " |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for r in rows:
        print(
            f"| {r['n']:,} | {r['cache']} | {r['plain']:.2f} | {r['segments']:.2f} "
            f"| {r['segments'] / r['plain']:.2f}x | {r['evaluated']} | {r['verdict']} | {r['load']:.2f} |"
        )
    print()
    for r in rows:
        runs = {k: [round(v, 2) for v in t] for k, t in r["all"].items()}
        print(f"{r['n']:,} rows, cache {r['cache']}, every run (s): {json.dumps(runs)}")
    print(f"Machine: {machine()}; {args.repeat} runs of each case, interleaved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
