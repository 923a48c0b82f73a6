"""`make demo`: the whole driftwatch loop on 127.0.0.1, no cluster.

Trains the churn model into .demo/model (once), serves it with capture under .demo/capture, sends
normal traffic and runs `driftwatch check` on that phase's window (expect NoDrift), then sends drifted
traffic and checks again (expect Drift). Prints both tables and where the report and capture are, and
stops the service it started, also on Ctrl-C or error. Idempotent: a rerun starts a fresh capture.
Exit status 0 when both verdicts are the expected ones.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MANIFEST = ROOT / "manifests" / "driftchecks" / "churn-demo.yaml"
# Capture flush interval of the demo's service; the check waits this long after each phase.
FLUSH_S = 1.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def train(model_dir: Path) -> None:
    if (model_dir / "model-card.json").is_file() and (model_dir / "reference.parquet").is_file():
        _say(f"model already trained in {model_dir.relative_to(ROOT)}")
        return
    _say("training the churn model")
    shutil.rmtree(model_dir, ignore_errors=True)
    subprocess.run(
        [str(BIN / "driftwatch-demo"), "train", "--out", str(model_dir), "--seed", "42"], check=True
    )


def start_service(model_dir: Path, capture: Path, log_path: Path, port: int) -> subprocess.Popen[bytes]:
    _say(f"serving on http://127.0.0.1:{port} (log {log_path.relative_to(ROOT)})")
    command = [
        str(BIN / "driftwatch-inference"), "serve", "--host", "127.0.0.1", "--port", str(port),
        "--model-dir", str(model_dir), "--capture-uri", capture.as_uri(),
        "--capture-flush-interval-s", str(FLUSH_S), "--no-access-log",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode}; see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the service was not ready after 90 s; see {log_path}")


def stop_service(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # graceful: the service flushes its capture
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def traffic(port: int, scenario: str, rate: float, duration: float, seed: int) -> tuple[datetime, datetime]:
    _say(f"sending {int(rate * duration)} requests, scenario {scenario}")
    start = datetime.now(UTC)
    command = [
        str(BIN / "driftwatch-demo"), "traffic", "--url", f"http://127.0.0.1:{port}",
        "--rate", str(rate), "--duration", str(duration), "--scenario", scenario,
        "--feedback-delay", "0.5", "--seed", str(seed), "--quiet",
    ]  # fmt: skip
    subprocess.run(command, check=True)
    time.sleep(2 * FLUSH_S + 0.5)  # let the capture writer flush the last batch
    return start, datetime.now(UTC)


def check(
    model_dir: Path, capture: Path, reports: Path, window: tuple[datetime, datetime]
) -> dict[str, object]:
    start, end = window
    seconds = max(1, math.ceil((end - start) / timedelta(seconds=1)))
    _say(f"driftwatch check over [{start:%H:%M:%S}, {end:%H:%M:%S}) UTC")
    command = [
        str(BIN / "driftwatch"), "check", "-f", str(MANIFEST),
        "--reference", (model_dir / "reference.parquet").as_uri(), "--current", (capture / "churn").as_uri(),
        "--now", end.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "--window", f"{seconds}s",
        "--report-dir", str(reports), "-o", "json",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"driftwatch check failed ({result.returncode}): {result.stderr.strip()}")
    from driftwatch_controller.engine.report import to_table

    status: dict[str, object] = json.loads(result.stdout)
    print(to_table(status), flush=True)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/demo.py",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="environment: none read; it runs the commands next to its Python (.venv/bin). "
        "exit codes: 0 both verdicts as expected (NoDrift, then Drift), 1 otherwise or when a step "
        "failed, 130 interrupted.",
    )
    parser.add_argument("--workdir", type=Path, default=ROOT / ".demo", help="model, capture, reports, log")
    parser.add_argument("--rate", type=float, default=60.0, help="requests per second in each phase")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of traffic in each phase")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    model_dir, capture, reports = workdir / "model", workdir / "capture", workdir / "reports"
    workdir.mkdir(parents=True, exist_ok=True)
    # A fresh capture and reports each run, so reruns do not mix phases; the model is kept.
    shutil.rmtree(capture, ignore_errors=True)
    shutil.rmtree(reports, ignore_errors=True)
    train(model_dir)
    process = None
    port = _free_port()
    try:
        process = start_service(model_dir, capture, workdir / "inference.log", port)
        normal = traffic(port, "none", args.rate, args.duration, seed=101)
        first = check(model_dir, capture, reports, normal)
        drifted = traffic(port, "covariate", args.rate, args.duration, seed=202)
        second = check(model_dir, capture, reports, drifted)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        stop_service(process)
    ok = first["verdict"] == "NoDrift" and second["verdict"] == "Drift"
    _say("summary")
    print(f"normal phase:  {first['verdict']} / {first['recommendation']} (expected NoDrift)")
    print(f"drifted phase: {second['verdict']} / {second['recommendation']} (expected Drift)")
    report = second.get("report") or {}
    print(f"HTML report:   {report.get('uri') if isinstance(report, dict) else '-'}")
    print(f"capture:       {capture / 'churn'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
