"""Instructions per /v1/predict request, counted by valgrind (issue 10): a measure that does not move.

`inference.py` measures CPU time under wrk, and on this machine one server process's CPU per request
moves by ±5% from the next one's (its memory layout and hash seed), more than the few microseconds a
change to the request path saves. This counts instead: each case runs the ASGI app in one process,
without uvicorn, under `valgrind --tool=callgrind`, with instrumentation switched on only around
`--requests` single-row requests after a warm-up, and off again after the lifespan's close. The capture
writes once in the counted window, at that close: the warm-up's rows are written before it, and the
flush interval and row count are set beyond the run, so the flusher's share is one file of `--requests`
rows whatever the run's wall-clock time (a served process writes a file every 5 s: more rows a file,
so a little less a row). Two runs of the same case agree to about 0.2%.

Cases (the service's own settings; everything else default):
  off      metrics and capture off            metrics  metrics on, capture off
  capture  capture on (sketches on), metrics off   all      both on, as `serve` runs by default
Each line gives instructions per request and the difference from `off`; with `--threads` the
capture's flusher threads are counted apart from the event loop thread; with `--split` the requests
apart from the close (the capture's one write of the counted rows, its sketch sidecar included).

Counts are not time: memory stalls and cache misses are not in them, and a count can fall while the
time does not. Use it to see what a change costs or saves on the request path, then confirm with
`inference.py`. A case takes 1 to 3 minutes (valgrind runs about 50 times slower), two at a time on 2 cores.

Usage: .venv/bin/python scripts/bench/request_cost.py [--model-dir DIR] [--requests N] [--threads]
       [--split] [CASE ...]
Settings not given here come from the environment as `serve` reads them, e.g.
DRIFTWATCH_CAPTURE_SKETCHES=false for the capture without its sketch sidecars.
Needs: valgrind (apt-get install valgrind), `make install`. Without --model-dir it trains the demo model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
CASES = {"off": (False, False), "metrics": (True, False), "capture": (False, True), "all": (True, True)}
WARMUP_REQUESTS = 500


def _callgrind_control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True, capture_output=True)


def run_case(case: str, model_dir: Path, requests: int) -> None:
    """In the process valgrind runs: build the app, warm it up, count `requests` requests and the close."""
    import logging

    from driftwatch_demo import synthetic
    from driftwatch_inference.app import create_app
    from driftwatch_inference.settings import Settings
    from prometheus_client import CollectorRegistry

    metrics, capture = CASES[case]
    body = json.dumps(synthetic.records(synthetic.generate(1, seed=123))[0]).encode()
    with tempfile.TemporaryDirectory(prefix="driftwatch-cost-") as tmp:
        settings = Settings(
            model_dir=model_dir, capture_uri=Path(tmp).as_uri(), metrics_enabled=metrics,
            capture_enabled=capture, log_level="WARNING", capture_flush_interval_s=86_400.0,
            capture_flush_rows=10 * requests, capture_queue_size=10 * (requests + WARMUP_REQUESTS),
        )  # fmt: skip
        app = create_app(settings, registry=CollectorRegistry())
        logging.disable(logging.WARNING)
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/v1/predict", "raw_path": b"/v1/predict", "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
        }  # fmt: skip

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"/v1/predict answered {message['status']}")

        async def serve() -> None:
            lifespan = app.router.lifespan_context(app)
            await lifespan.__aenter__()
            for _ in range(WARMUP_REQUESTS):
                await app(dict(scope), receive, send)
            service = app.state.service
            for writer in (service.predictions, service.feedback):
                if writer is not None:
                    writer.flush()  # the warm-up's rows, before counting
            _callgrind_control("--instr=on")
            for _ in range(requests):
                await app(dict(scope), receive, send)
            _callgrind_control("--dump")  # part 1: the requests; part 2: the close
            await lifespan.__aexit__(None, None, None)
            _callgrind_control("--dump")
            _callgrind_control("--instr=off")

        asyncio.run(serve())


def count(case: str, model_dir: Path, requests: int, out: Path) -> dict[str, float]:
    """Instructions per request of one case, by part (`requests`, `close`) and thread: `loop` (the event
    loop's) / `capture` (the flushers')."""
    prefix = out / f"{case}.callgrind"
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
        f"--callgrind-out-file={prefix}.%p", str(PYTHON), __file__, "--run-case", case,
        "--model-dir", str(model_dir), "--requests", str(requests),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{case}: valgrind exited {done.returncode}: {done.stderr[-2000:]}")
    parts = {f"{part} {thread}": 0.0 for part in ("requests", "close") for thread in ("loop", "capture")}
    # Two dumps, one file per thread each: `<prefix>.<pid>.<part>-<thread>`, part 1 after the counted
    # requests, part 2 after the close; thread 01 is the main thread (the event loop's), the others are
    # the capture's flushers and library pools.
    for path in out.glob(f"{case}.callgrind.*.*-*"):
        name = re.search(r"\.([12])-(\d+)$", path.name)
        totals = re.search(r"^totals: (\d+)", path.read_text(errors="replace"), re.MULTILINE)
        if name is None or totals is None:
            continue
        part = "requests" if name.group(1) == "1" else "close"
        thread = "loop" if name.group(2) == "01" else "capture"
        parts[f"{part} {thread}"] += int(totals.group(1)) / requests
    return parts


def _columns(*, threads: bool, split: bool) -> dict[str, tuple[str, ...]]:
    """The extra columns printed: their heading → the parts of `count` they add up."""
    parts = ("requests", "close") if split else ()
    kinds = ("loop", "capture") if threads else ()
    names = {"loop": "event loop", "capture": "capture threads", "requests": "requests", "close": "close"}
    if split and threads:
        return {f"{names[p]}, {names[k]}": (f"{p} {k}",) for p in parts for k in kinds}
    if split:
        return {names[p]: (f"{p} loop", f"{p} capture") for p in parts}
    return {names[k]: (f"requests {k}", f"close {k}") for k in kinds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", metavar="CASE", help=f"any of {', '.join(CASES)} (default: all)")
    parser.add_argument("--model-dir", type=Path, help="a model directory (default: the demo model)")
    parser.add_argument("--requests", type=int, default=6000, help="counted requests per case")
    parser.add_argument("--threads", action="store_true", help="the flusher threads apart")
    parser.add_argument("--split", action="store_true", help="the requests apart from the close's write")
    parser.add_argument("--run-case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_case:
        run_case(args.run_case, args.model_dir, args.requests)
        return 0
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}: choose from {', '.join(CASES)}")
    args.cases = args.cases or list(CASES)
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: apt-get install valgrind", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="driftwatch-cost-") as tmp:
        out = Path(tmp)
        model_dir = args.model_dir
        if model_dir is None:
            model_dir = out / "model"
            subprocess.run(
                [str(ROOT / ".venv" / "bin" / "driftwatch-demo"), "train", "--out", str(model_dir)],
                check=True, capture_output=True, env={**os.environ, "SOURCE_DATE_EPOCH": "1767225600"},
            )  # fmt: skip
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {c: pool.submit(count, c, model_dir.resolve(), args.requests, out) for c in args.cases}
            results = {c: f.result() for c, f in futures.items()}
    base = sum(results["off"].values()) if "off" in results else None
    print(
        f"{args.requests} requests a case after {WARMUP_REQUESTS} warm-up, {time.monotonic() - started:.0f} s"
    )
    columns = _columns(threads=args.threads, split=args.split)
    print("| case | instructions / request | vs off |" + "".join(f" {c} |" for c in columns))
    print("| --- | ---: | ---: |" + " ---: |" * len(columns))
    for case, parts in results.items():
        total = sum(parts.values())
        versus = f"{total - base:+,.0f} ({total / base - 1:+.1%})" if base else "—"
        cells = "".join(f" {sum(parts[k] for k in keys):,.0f} |" for keys in columns.values())
        print(f"| {case} | {total:,.0f} | {versus} |{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
