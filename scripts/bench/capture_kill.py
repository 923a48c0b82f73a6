"""Capture durability under SIGKILL (issue 12, item 1): rows answered 2xx vs rows in Parquet, per kill.

For each mode, the default and `--capture-durable`: one server (`taskset -c 0`) gets steady single-row
/v1/predict load from this process (RATE req/s on 8 connections, 127.0.0.1), is SIGKILLed at a random
moment (seeded: 0.5 to 6 s after the load starts, so kills land anywhere in the 5 s flush cycle), and
is started again on the same capture and spool, which is the next trial's server (a crash loop, as a
Deployment would restart it). After TRIALS kills, a last start and a SIGTERM; then the Parquet is read
and, per kill, the rows answered 2xx that are not in it are counted, with how long before the kill the
earliest of them was answered, and every duplicated request id.
Then the price: req/s of both modes under wrk (16 connections, `taskset -c 1`), in alternating rounds.
BENCH_QUICK=1 is a smoke run (3 kills, 2 rounds of 2 s). Prints a Markdown table (docs/benchmarks.md);
raw numbers go to scripts/bench/out/capture_kill.json.
Needs: wrk and taskset (scripts/install_system.sh), `make install`. Uses the test support package
(tests/support: the seed-42 demo model, the load client) so the integration test and this script
measure the same way.
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(Path(__file__).resolve().parent)]

import inference as bench  # noqa: E402  (scripts/bench/inference.py: wrk and the pinned server)
from support.capture_load import Load, captured_ids, duplicates, run_until_killed  # noqa: E402
from support.inference_server import trained_model_dir  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
TRIALS = 3 if QUICK else 20
RATE = 300
SEED = 12
ROUNDS = 2 if QUICK else 6
ROUND_S = 2 if QUICK else 5
MODES = {"default": [], "durable": ["--capture-durable"]}
MODEL = "churn"  # the demo model's name: its capture folder


def serve_command(model_dir: Path, port: int, capture: Path, spool: Path, flags: list[str]) -> list[str]:
    command = bench.driftwatch_command(model_dir, port, capture, ["--capture-spool-dir", str(spool), *flags])
    return ["taskset", "-c", bench.SERVER_CPU, *command]


def start(command: list[str], url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
    bench.wait_http(f"{url}/readyz", process)
    return process


def kill_trials(
    mode: str, flags: list[str], model_dir: Path, workdir: Path, record: dict[str, Any], rng: random.Random
) -> dict[str, Any]:
    capture, spool = workdir / f"capture-{mode}", workdir / f"spool-{mode}"
    port = bench.free_port()
    url, log = f"http://127.0.0.1:{port}", workdir / f"{mode}.log"
    command = serve_command(model_dir, port, capture, spool, flags)
    loads: list[Load] = []
    startups = []
    for _ in range(TRIALS):
        began = time.monotonic()
        process = start(command, url, log)
        startups.append(time.monotonic() - began)
        loads.append(run_until_killed(url, process, record, rate=RATE, kill_after_s=rng.uniform(0.5, 6.0)))
    process = start(command, url, log)  # replays the last kill's spool
    _stop(process)
    ids = captured_ids(capture / MODEL)
    found = set(ids)
    trials = []
    for load in loads:
        lost = load.answered.keys() - found
        trials.append(
            {
                "answered": len(load.answered),
                "in_parquet": len(load.answered) - len(lost),
                "lost": len(lost),
                "lost_window_ms": round(load.lost_in_last(lost) * 1000, 1),
                "seconds": round(load.killed_at - load.started, 2),
                "rate": round(load.rate, 1),
                "non_2xx": load.non_2xx,
            }
        )
    return {
        "trials": trials,
        "duplicates": duplicates(ids),
        "rows_in_parquet": len(ids),
        "startup_s_median": round(median(startups), 2),
        "spool_left": len(list(spool.rglob("*.arrows"))),
    }


def _stop(process: subprocess.Popen[bytes]) -> None:
    import signal

    process.send_signal(signal.SIGTERM)
    process.wait(30)


def throughput(model_dir: Path, workdir: Path, record: dict[str, Any]) -> dict[str, Any]:
    """req/s of both modes, the same rows, rounds alternating (the 2 cores are shared with other work)."""
    servers, runs = {}, {mode: [] for mode in MODES}
    try:
        for mode, flags in MODES.items():
            port = bench.free_port()
            command = serve_command(
                model_dir, port, workdir / f"wrk-{mode}", workdir / f"wrk-spool-{mode}", flags
            )
            servers[mode] = (start(command, f"http://127.0.0.1:{port}", workdir / f"wrk-{mode}.log"), port)
        for i in range(ROUNDS):
            order = list(MODES) if i % 2 == 0 else list(reversed(MODES))
            for mode in order:
                process, port = servers[mode]
                url = f"http://127.0.0.1:{port}/v1/predict"
                warmup = 2 if i == 0 else 0
                result = bench.wrk(mode, url, record, workdir, server=process, seconds=ROUND_S, warmup=warmup)
                runs[mode].append(result)
    finally:
        for process, _ in servers.values():
            _stop(process)
    combined = {mode: bench.combine(results) for mode, results in runs.items()}
    pairs = zip(runs["durable"], runs["default"], strict=True)
    return {
        "results": {mode: vars(r) for mode, r in combined.items()},
        "durable_over_default_rounds": sorted(round(d.rps / b.rps, 3) for d, b in pairs),
    }


def table(report: dict[str, Any]) -> str:
    lines = [
        f"{report['date']}, {report['machine']}, load average {report['load_average']:.2f} at start;"
        f" {TRIALS} SIGKILLs per mode at {RATE} req/s, seed {SEED}",
        "",
        "| mode | kills | rows answered 2xx | rows lost | lost per kill: median / max | earliest lost row"
        " before its kill, max | duplicated rows | spool left |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode, entry in report["modes"].items():
        trials = entry["trials"]
        lost = [t["lost"] for t in trials]
        lines.append(
            f"| {mode} | {len(trials)} | {sum(t['answered'] for t in trials):,} | {sum(lost):,} |"
            f" {median(lost):.0f} / {max(lost)} | {max(t['lost_window_ms'] for t in trials):,.0f} ms |"
            f" {entry['duplicates']} | {entry['spool_left']} |"
        )
    cost = report["throughput"]
    lines += [
        "",
        "| mode | req/s | p50 ms | p99 ms | server CPU µs/req | non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode, r in cost["results"].items():
        lines.append(
            f"| {mode} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |"
            f" {r['server_cpu_us']:,.0f} | {r['non2xx']} |"
        )
    ratios = cost["durable_over_default_rounds"]
    lines += ["", f"durable / default req/s per round: {', '.join(f'{x:.2f}' for x in ratios)}"]
    return "\n".join(lines)


def main() -> int:
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: run scripts/install_system.sh", file=sys.stderr)
            return 2
    from driftwatch_demo import synthetic

    bench.OUT.mkdir(parents=True, exist_ok=True)
    record = synthetic.records(synthetic.generate(1, seed=123))[0]
    model_dir = trained_model_dir()
    rng = random.Random(SEED)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "load_average": os.getloadavg()[0],
        "modes": {},
    }
    with tempfile.TemporaryDirectory(prefix="driftwatch-capture-kill-") as tmp:
        workdir = Path(tmp)
        for mode, flags in MODES.items():
            report["modes"][mode] = kill_trials(mode, flags, model_dir, workdir, record, rng)
        report["throughput"] = throughput(model_dir, workdir, record)
    report["load_average_end"] = os.getloadavg()[0]
    (bench.OUT / "capture_kill.json").write_text(json.dumps(report, indent=2))
    print(table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
