"""`make demo`: the whole driftwatch loop on 127.0.0.1, no cluster.

Trains the churn model into .demo/model (once), serves it with capture under .demo/capture, and runs
three phases of labelled traffic, each followed by `driftwatch check` on that phase's window: normal
(expect NoDrift), covariate drift (expect Drift), concept drift (expect the features NoDrift, the
realized ROC AUC fallen significantly and Retrain). Prints each table, a summary of the three phases
against their expectations and where the reports and capture are, and stops the service it started,
also on Ctrl-C or error. Idempotent: a rerun starts a fresh capture. Exit status 0 when every phase
is as expected.
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
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MANIFEST = ROOT / "manifests" / "driftchecks" / "churn-demo.yaml"
# Capture flush interval of the demo's service; the check waits this long after each phase.
FLUSH_S = 1.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _shown(path: Path) -> str:
    """`path` relative to the repository when inside it (a --workdir may be anywhere)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def train(model_dir: Path) -> None:
    if (model_dir / "model-card.json").is_file() and (model_dir / "reference.parquet").is_file():
        _say(f"model already trained in {_shown(model_dir)}")
        return
    _say("training the churn model")
    shutil.rmtree(model_dir, ignore_errors=True)
    subprocess.run(
        [str(BIN / "driftwatch-demo"), "train", "--out", str(model_dir), "--seed", "42"], check=True
    )


def start_service(model_dir: Path, capture: Path, log_path: Path, port: int) -> subprocess.Popen[bytes]:
    _say(f"serving on http://127.0.0.1:{port} (log {_shown(log_path)})")
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


def _investigate_share() -> float:
    policy = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["spec"].get("policy") or {}
    return float(policy.get("investigateShare", 0.2))


def _concept_outcome(status: Mapping[str, Any]) -> bool:
    """Concept drift: features undrifted (share < investigateShare), a significant realized drop, Retrain."""
    performance = status.get("performance") or {}
    drop = performance.get("drop") or {}
    return (
        float(status.get("driftShare") or 0.0) < _investigate_share()
        and performance.get("realized") is not None
        and drop.get("kind") == "realized"
        and bool(drop.get("significant"))
        and status.get("recommendation") == "Retrain"
    )


class Phase(NamedTuple):
    """One phase of the demo: the traffic it sends and the outcome the check is expected to give."""

    name: str
    scenario: str
    seed: int
    expected: str
    as_expected: Callable[[Mapping[str, Any]], bool]


PHASES = (
    Phase(
        "normal",
        "none",
        101,
        "NoDrift / None",
        lambda s: (s.get("verdict"), s.get("recommendation")) == ("NoDrift", "None"),
    ),
    Phase(
        "covariate", "covariate", 202, "Drift (Investigate or Retrain)", lambda s: s.get("verdict") == "Drift"
    ),
    Phase(
        "concept",
        "concept",
        303,
        "features NoDrift, realized roc_auc drop significant, Retrain",
        _concept_outcome,
    ),
)


def _outcome(status: Mapping[str, Any]) -> str:
    """One line: verdict / recommendation, drifted columns and the headline metric's reading."""
    line = (
        f"{status.get('verdict')} / {status.get('recommendation')}, "
        f"{status.get('driftedColumns', 0)} of {status.get('monitoredColumns', 0)} columns drifted"
    )
    performance = status.get("performance") or {}
    if performance.get("summary"):
        line += f"; {performance['summary']}"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/demo.py",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="environment: none read; it runs the commands next to its Python (.venv/bin). "
        "exit codes: 0 every phase as expected (normal NoDrift; covariate Drift; concept: features "
        "NoDrift, a significant realized drop, Retrain), 1 otherwise or when a step failed, 130 interrupted.",
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
    statuses: list[dict[str, object]] = []
    try:
        process = start_service(model_dir, capture, workdir / "inference.log", port)
        for phase in PHASES:
            window = traffic(port, phase.scenario, args.rate, args.duration, seed=phase.seed)
            statuses.append(check(model_dir, capture, reports, window))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        stop_service(process)
    _say("summary")
    ok = True
    for phase, status in zip(PHASES, statuses, strict=True):
        good = phase.as_expected(status)
        ok = ok and good
        print(f"{phase.name + ' phase:':17}{'ok  ' if good else 'FAIL'} {_outcome(status)}")
        print(f"{'':17}     expected {phase.expected}")
    for phase, status in zip(PHASES, statuses, strict=True):
        report = status.get("report") or {}
        if isinstance(report, dict) and report.get("uri"):
            print(f"HTML report ({phase.name}): {report['uri']}")
    print(f"capture:       {capture / 'churn'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
