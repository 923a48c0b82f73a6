"""Cost of multivariate drift (issue 13): the same `driftwatch check` with and without it.

The churn features of scripts/bench/drift.py (10 numerical, 5 categorical), reference = current = N rows
(two seeds, no drift). Each run is a fresh process (the check runs as a fresh pod, no calibration
cache), the two cases interleaved `--repeat` times so the shared machine's load falls on both alike;
the ratio of the medians is the cost. Also the multivariate measurement alone, in this process
(`engine.multivariate.measure`: encode, fit, project, band). Prints a Markdown table, the machine line
and the load average.

    .venv/bin/python scripts/bench/multivariate.py [--sizes 100000,1000000] [--repeat 3]
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

# Child processes get compiled bytecode like an image has, in a private cache (as scripts/bench/drift.py).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
CHILD_ENV["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "driftwatch-bench-pycache")
CHILD_ENV.pop("DRIFTWATCH_CALIBRATION_CACHE_DIR", None)


def _generate(n: int, directory: Path) -> tuple[Path, Path]:
    from driftwatch_demo.synthetic import generate

    paths = directory / f"ref-{n}.parquet", directory / f"cur-{n}.parquet"
    for seed, path in zip((1, 2), paths, strict=True):
        generate(n, seed).drop(columns=["churned"]).to_parquet(path, index=False)
    return paths


def _spec(directory: Path, ref: Path, cur: Path, enabled: bool) -> Path:
    spec = {
        "reference": {"uri": str(ref)},
        "current": {"uri": str(cur)},
        "drift": {"multivariate": {"enabled": enabled}},
    }
    path = directory / f"spec-{'on' if enabled else 'off'}-{ref.stem}.yaml"
    manifest = {"apiVersion": "driftwatch.io/v1alpha1", "kind": "DriftCheck", "metadata": {"name": "bench"}}
    path.write_text(yaml.safe_dump({**manifest, "spec": spec}))
    return path


def _check(spec: Path) -> tuple[float, dict]:
    """Wall seconds of one fresh `driftwatch check -f` process, and the status it printed."""
    command = [str(Path(sys.executable).parent / "driftwatch"), "check", "-f", str(spec), "-o", "json"]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=CHILD_ENV, check=False, timeout=900)
    wall = time.perf_counter() - start
    if result.returncode not in (0, 1):  # 1: a verdict asked to fail; anything else is a broken run
        raise RuntimeError(f"check failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return wall, json.loads(result.stdout)


def _alone(ref: Path, cur: Path) -> float:
    """Seconds of the multivariate measurement by itself on frames already read."""
    import pandas as pd
    from driftwatch_controller.engine import multivariate
    from driftwatch_demo.synthetic import CATEGORICAL, NUMERICAL

    reference, current = pd.read_parquet(ref), pd.read_parquet(cur)
    start = time.perf_counter()
    multivariate.measure(reference, current, NUMERICAL, CATEGORICAL, multivariate.MultivariateConfig())
    return time.perf_counter() - start


def _measure(n: int, directory: Path, repeat: int) -> dict:
    ref, cur = _generate(n, directory)
    off, on = _spec(directory, ref, cur, False), _spec(directory, ref, cur, True)
    walls: dict[str, list[float]] = {"off": [], "on": []}
    status: dict = {}
    for _ in range(repeat):
        for name, spec in (("off", off), ("on", on)):
            wall, printed = _check(spec)
            walls[name].append(wall)
            status[name] = printed
    joint = status["on"].get("multivariate") or {}
    same = status["off"]["verdict"] == status["on"]["verdict"]
    return {
        "n": n,
        "off": statistics.median(walls["off"]),
        "on": statistics.median(walls["on"]),
        "alone": _alone(ref, cur),
        "verdicts": f"{status['off']['verdict']} / {status['on']['verdict']}" + ("" if same else " (differ)"),
        "joint": joint,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}; load average before: {os.getloadavg()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="mv-bench-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(_measure(n, Path(tmp), args.repeat))
    print(f"load average after: {os.getloadavg()}")
    print(
        "| N rows (ref = cur) | check, multivariate off (s) | check, on (s) | ratio | multivariate alone (s) "
        "| verdict off / on | error [band] |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for r in rows:
        band = r["joint"].get("band") or {}
        print(
            f"| {r['n']:,} | {r['off']:.2f} | {r['on']:.2f} | {r['on'] / r['off']:.2f}x | {r['alone']:.2f} "
            f"| {r['verdicts']} | {r['joint'].get('value')} [{band.get('lower')}, {band.get('upper')}] |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
