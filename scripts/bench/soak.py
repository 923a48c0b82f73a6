"""Soak of the inference service (issue 12, item 6): minutes at 70% of its 1-core peak, checked as it runs.

In one run, on 127.0.0.1 only: the demo model (`driftwatch-demo train --seed 42`) served with metrics and
capture on, the server pinned to core 0 (`taskset -c 0`), the load on core 1. First a short wrk burst
measures the peak (16 connections, as scripts/bench/inference.py); then wrk paces 70% of it for the soak's
duration, one wrk run per segment (a minute by default) so that each segment has its own p99, the pace
re-aimed between segments (wrk's Lua `delay()`, randomised to a fractional mean). Requests cycle through
20,000 generated churn records, so the capture looks like the reference. Every segment `driftwatch check`
runs on the last segment's captured rows (core 1, niced). The server's VmRSS is sampled every 5 s.

Criteria (each reported; exit 1 when one is not met): 0 non-2xx and 0 socket errors; 0 capture rows
dropped (`driftwatch_capture_rows_dropped_total`) and rows in Parquet after SIGTERM = rows predicted
(`driftwatch_predictions_total`);
RSS growth after the warm-up segment under 10%; p99 stable (the worst segment's p99 at most 2x the
median segment's, and the last third's median at most 1.5x the first third's, warm-up excluded); every
check exit 0 with a verdict.

SOAK_DURATION_S (or --duration) shortens it (default 600 s); SOAK_SEGMENT_S (or --segment) sets the
segment length (default 60 s). Prints a Markdown summary (copied into docs/benchmarks.md, "Soak"); the
raw figures go to scripts/bench/out/soak.json. Needs wrk and taskset (scripts/install_system.sh).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

import httpx
from host import machine  # scripts/bench/host.py, beside this script
from wrk import wrk_result  # scripts/bench/wrk.py, beside this script

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "scripts" / "bench" / "out"
BIN = ROOT / ".venv" / "bin"
MANIFEST = ROOT / "manifests" / "driftchecks" / "churn-demo.yaml"
SERVER_CPU, LOAD_CPU = "0", "1"
CONNECTIONS = 16  # the peak burst's, as scripts/bench/inference.py
# Paced segments: each connection waits ~20 ms between requests, so that the rate depends little on the
# latency (closed-loop wrk at 16 connections swung from half the target to 1.5 times it as the shared
# machine's load came and went).
PACED_CONNECTIONS = 64
RECORDS = 20_000
FLUSH_S = 2.0  # the capture's flush interval here: a segment's rows are in Parquet 2 flushes after it
RSS_EVERY_S = 5.0
MAX_RSS_GROWTH = 0.10

WRK_SCRIPT = """
local bodies = {}
for line in io.lines("{bodies}") do bodies[#bodies + 1] = line end
local i = 0
local pace = {delay_ms}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
delay = function()
  if pace <= 0 then return 0 end
  local whole = math.floor(pace)
  if math.random() < pace - whole then whole = whole + 1 end
  return whole
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d non2xx=%d socket_errors=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Segment:
    """One wrk run of the soak (or the peak burst), with what was measured beside it."""

    index: int
    connections: int
    delay_ms: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int
    rss_mb: float = 0.0
    # The service's own p99 over the segment: the upper bound of the latency bucket it falls in
    # (driftwatch_http_request_duration_seconds), time in the server only, none of wrk's or the kernel's.
    server_p99_ms: float = 0.0
    load_average: float = 0.0
    check: dict[str, Any] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """VmRSS of a process (the server: taskset execs it, so the Popen pid is the server's)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def predict_buckets(url: str) -> dict[float, float]:
    """Cumulative counts of /v1/predict's latency histogram by upper bound (seconds), every label summed."""
    counts: dict[float, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("driftwatch_http_request_duration_seconds_bucket{") and '"/v1/predict"' in line:
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            upper = float("inf") if bound == "+Inf" else float(bound)
            counts[upper] = counts.get(upper, 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


def bucket_p99_ms(before: dict[float, float], after: dict[float, float]) -> float:
    """The upper bound of the bucket holding the 99th percentile of what was observed between two scrapes."""
    bounds = sorted(after)
    total = after.get(float("inf"), 0.0) - before.get(float("inf"), 0.0)
    for bound in bounds:
        if after[bound] - before.get(bound, 0.0) >= 0.99 * total:
            return bound * 1000
    return float("inf")


def metric_sum(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


@contextmanager
def pinned_server(model_dir: Path, capture: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        "taskset",
        "-c",
        SERVER_CPU,
        str(BIN / "driftwatch-inference"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--model-dir",
        str(model_dir),
        "--capture-uri",
        capture.as_uri(),
        "--capture-flush-interval-s",
        str(FLUSH_S),
        "--metrics",
        "--capture",
        "--no-access-log",
        "--log-level",
        "WARNING",
    ]
    with log.open("wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not become ready in 120 s")
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # graceful: the capture flushes what it holds
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def run_wrk(
    url: str, workdir: Path, bodies: Path, *, seconds: float, delay_ms: float, index: int, connections: int
) -> Segment:
    script = workdir / f"soak-{index}.lua"
    script.write_text(WRK_SCRIPT.replace("{bodies}", str(bodies)).replace("{delay_ms}", f"{delay_ms:.4f}"))
    command = [
        "taskset",
        "-c",
        LOAD_CPU,
        "wrk",
        "-t1",
        f"-c{connections}",
        "--timeout",
        "2s",
        "-s",
        str(script),
        f"-d{max(1, round(seconds))}s",
        url,
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 60)
    fields = wrk_result(done)
    return Segment(
        index=index,
        connections=connections,
        delay_ms=delay_ms,
        requests=fields["requests"],
        rps=fields["requests"] / (fields["duration_us"] / 1e6),
        p50_ms=fields["p50_us"] / 1000,
        p99_ms=fields["p99_us"] / 1000,
        max_ms=fields["max_us"] / 1000,
        non2xx=fields["non2xx"],
        socket_errors=fields["socket_errors"],
    )


def next_delay(segment: Segment, target_rps: float) -> float:
    """The pace that would have given `target_rps`: a connection's cycle is its latency plus the delay."""
    cycle_ms = segment.connections * 1000 / max(segment.rps, 1.0)
    latency_ms = max(cycle_ms - segment.delay_ms, 0.0)
    return max(segment.connections * 1000 / target_rps - latency_ms, 0.0)


def run_check(
    model_dir: Path, capture: Path, start: datetime, end: datetime, reports: Path
) -> dict[str, Any]:
    """`driftwatch check` of the demo's DriftCheck over [start, end) of the capture, on the load's core."""
    seconds = max(1, round((end - start).total_seconds()))
    command = [
        "taskset",
        "-c",
        LOAD_CPU,
        "nice",
        "-n",
        "10",
        str(BIN / "driftwatch"),
        "check",
        "-f",
        str(MANIFEST),
        "--reference",
        (model_dir / "reference.parquet").as_uri(),
        "--current",
        (capture / "churn").as_uri(),
        "--now",
        end.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "--window",
        f"{seconds}s",
        "-o",
        "json",
        "--report-dir",
        str(reports),
    ]
    began = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    outcome: dict[str, Any] = {"exit": result.returncode, "seconds": round(time.monotonic() - began, 1)}
    try:
        status = json.loads(result.stdout)
        outcome.update(
            verdict=status.get("verdict"),
            recommendation=status.get("recommendation"),
            rows=(status.get("rows") or {}).get("current"),
            drift_share=status.get("driftShare"),
        )
    except json.JSONDecodeError:
        outcome["stderr"] = result.stderr[-1500:]
    if "Traceback" in result.stderr:
        outcome["traceback"] = result.stderr[-1500:]
    return outcome


def parquet_rows(folder: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(path).metadata.num_rows for path in folder.rglob("*.parquet"))


def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from driftwatch_demo import synthetic

    model_dir, capture, reports = workdir / "model", workdir / "capture", workdir / "reports"
    subprocess.run(
        [str(BIN / "driftwatch-demo"), "train", "--out", str(model_dir), "--seed", "42"],
        check=True,
        capture_output=True,
    )
    bodies = workdir / "bodies.jsonl"
    records = synthetic.records(synthetic.generate(RECORDS, seed=123))
    bodies.write_text("".join(json.dumps(r) + "\n" for r in records))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    report: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_start": Path("/proc/loadavg").read_text().split()[:3],
        "duration_s": args.duration,
        "segment_s": args.segment,
        "fraction": args.fraction,
    }
    rss: list[tuple[float, float]] = []
    stop = threading.Event()
    with pinned_server(model_dir, capture, port, workdir / "server.log") as server:

        def sample() -> None:
            began = time.monotonic()
            while not stop.is_set():
                rss.append((round(time.monotonic() - began, 1), rss_mb(server.pid)))
                stop.wait(RSS_EVERY_S)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        predict = f"{url}/v1/predict"
        peak = run_wrk(
            predict, workdir, bodies, seconds=args.peak_seconds, delay_ms=0, index=0, connections=CONNECTIONS
        )
        target = peak.rps * args.fraction
        report.update(peak=asdict(peak), target_rps=round(target, 1))
        print(
            f"peak {peak.rps:,.0f} req/s (p99 {peak.p99_ms:.1f} ms); target {target:,.0f} req/s", flush=True
        )
        # A short first pace, so the first segment starts near the target rather than re-aiming through it.
        paced = functools.partial(run_wrk, predict, workdir, bodies, connections=PACED_CONNECTIONS)
        pace = paced(seconds=5, delay_ms=PACED_CONNECTIONS * 1000 / target, index=-1)
        delay = next_delay(pace, target)
        report["pace"] = asdict(pace)
        segments: list[Segment] = []
        checks: list[threading.Thread] = []
        count = max(1, round(args.duration / args.segment))
        for index in range(1, count + 1):
            start, buckets = datetime.now(UTC), predict_buckets(url)
            segment = paced(seconds=args.segment, delay_ms=delay, index=index)
            end = datetime.now(UTC)
            segment.rss_mb, segment.load_average = rss_mb(server.pid), load_average()
            segment.server_p99_ms = bucket_p99_ms(buckets, predict_buckets(url))
            segments.append(segment)
            print(
                f"segment {index}/{count}: {segment.rps:,.0f} req/s, p99 {segment.p99_ms:.2f} ms "
                f"(server <= {segment.server_p99_ms:g} ms), "
                f"non-2xx {segment.non2xx}, RSS {segment.rss_mb:.1f} MB, load {segment.load_average:.2f}",
                flush=True,
            )
            delay = next_delay(segment, target)

            def check(segment: Segment = segment, start: datetime = start, end: datetime = end) -> None:
                time.sleep(2 * FLUSH_S + 0.5)  # the segment's last rows flushed
                segment.check = run_check(model_dir, capture, start, end, reports)

            thread = threading.Thread(target=check, daemon=True)
            thread.start()
            checks.append(thread)
        for thread in checks:
            thread.join(660)
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        stop.set()
        sampler.join(10)
        report["dropped_rows"] = metric_sum(metrics, "driftwatch_capture_rows_dropped_total")
        # Rows predicted by the server's own count: wrk leaves out what was in flight when each run ended.
        report["rows_predicted"] = metric_sum(metrics, "driftwatch_predictions_total")
    report["rows_in_parquet"] = parquet_rows(capture)
    report["rows_answered"] = sum(s.requests - s.non2xx for s in [peak, pace, *segments])
    report["segments"] = [asdict(s) for s in segments]
    report["rss_samples"] = rss
    report["load_average_end"] = Path("/proc/loadavg").read_text().split()[:3]
    return report


def verdicts(report: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    segments = report["segments"]
    after = segments[1:] if len(segments) > 1 else segments
    p99 = [s["p99_ms"] for s in after]
    third = max(1, len(p99) // 3)
    warm_rss = segments[0]["rss_mb"]
    later_rss = [s["rss_mb"] for s in after]
    growth = (max(later_rss) - warm_rss) / warm_rss
    final_growth = (later_rss[-1] - warm_rss) / warm_rss
    runs = [report["peak"], report["pace"], *segments]
    non2xx = sum(s["non2xx"] for s in runs)
    errors = sum(s["socket_errors"] for s in runs)
    predicted = int(report["rows_predicted"])
    checks = [s["check"] for s in segments]
    bad_checks = [c for c in checks if c.get("exit") != 0 or not c.get("verdict") or "traceback" in c]
    return {
        "0 non-2xx, 0 socket errors": (
            non2xx == 0 and errors == 0,
            f"{non2xx} non-2xx, {errors} socket errors",
        ),
        "0 capture rows dropped": (
            report["dropped_rows"] == 0 and report["rows_in_parquet"] == predicted,
            f"{report['dropped_rows']:.0f} dropped; {report['rows_in_parquet']:,} rows in Parquet after "
            f"SIGTERM for {predicted:,} predicted ({report['rows_answered']:,} answered within wrk's runs)",
        ),
        "RSS growth < 10% after warm-up": (
            growth < MAX_RSS_GROWTH,
            f"{warm_rss:.1f} MB after warm-up -> max {max(later_rss):.1f} MB ({growth:+.1%}), "
            f"end {later_rss[-1]:.1f} MB ({final_growth:+.1%})",
        ),
        "p99 stable": (
            max(p99) <= 2 * median(p99) and median(p99[-third:]) <= 1.5 * median(p99[:third]),
            f"per segment {min(p99):.2f}-{max(p99):.2f} ms, median {median(p99):.2f} ms; first third "
            f"{median(p99[:third]):.2f} ms, last third {median(p99[-third:]):.2f} ms",
        ),
        "every check exit 0 with a verdict": (
            not bad_checks and len(checks) == len(segments),
            f"{len(checks) - len(bad_checks)} of {len(segments)}: "
            + ", ".join(sorted({f"{c.get('verdict')}" for c in checks})),
        ),
    }


def markdown(report: dict[str, Any], results: dict[str, tuple[bool, str]]) -> str:
    peak = report["peak"]
    lines = [
        f"Soak, started {report['started']} on {report['machine']}; load average at start "
        f"{' '.join(report['load_average_start'])}, at end {' '.join(report['load_average_end'])}.",
        f"Peak (wrk -t1 -c{CONNECTIONS}, {report['peak_seconds']} s burst): {peak['rps']:,.0f} req/s, p99 "
        f"{peak['p99_ms']:.2f} ms; target {report['fraction']:.0%} = {report['target_rps']:,.0f} req/s for "
        f"{report['duration_s']} s in segments of {report['segment_s']} s ({PACED_CONNECTIONS} connections, "
        "segment 1 is the warm-up).",
        "",
        "| segment | req/s | p50 ms | p99 ms | server p99 | max ms | non-2xx | RSS MB | load | check s "
        "| check |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in report["segments"]:
        check = s["check"]
        lines.append(
            f"| {s['index']} | {s['rps']:,.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
            f"<= {s['server_p99_ms']:g} | {s['max_ms']:.1f} | {s['non2xx']} | {s['rss_mb']:.1f} | "
            f"{s['load_average']:.2f} | {check.get('seconds', '-')} | "
            f"{check.get('verdict', 'exit ' + str(check.get('exit')))} ({check.get('rows') or 0:,} rows) |"
        )
    lines += ["", "| criterion | met | measured |", "| --- | --- | --- |"]
    lines += [f"| {name} | {'yes' if ok else '**no**'} | {text} |" for name, (ok, text) in results.items()]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=float(os.environ.get("SOAK_DURATION_S", "600")))
    parser.add_argument("--segment", type=float, default=float(os.environ.get("SOAK_SEGMENT_S", "60")))
    parser.add_argument(
        "--fraction", type=float, default=0.7, help="share of the measured peak (default 0.7)"
    )
    parser.add_argument("--peak-seconds", type=float, default=10.0, help="length of the peak burst")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (model, capture, logs)")
    args = parser.parse_args()
    for tool in ("wrk", "taskset", "nice"):
        if shutil.which(tool) is None:
            print(f"soak: {tool} not found (scripts/install_system.sh installs it)", file=sys.stderr)
            return 2
    workdir = Path(tempfile.mkdtemp(prefix="driftwatch-soak-"))
    try:
        report = soak(args, workdir)
        report["peak_seconds"] = args.peak_seconds
        results = verdicts(report)
        report["criteria"] = {k: {"met": ok, "measured": text} for k, (ok, text) in results.items()}
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "soak.json").write_text(json.dumps(report, indent=2))
        print(markdown(report, results))
        return 0 if all(ok for ok, _ in results.values()) else 1
    finally:
        if args.keep:
            print(f"work directory: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
