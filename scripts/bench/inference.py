"""Benchmark of the inference service (issues 2 and 10): single-row /v1/predict under wrk, server on core 0.

Three Pipelines on the churn features, each a ColumnTransformer (one-hot categoricals) then
LogisticRegression (numerics scaled), RandomForest (50 trees, depth 8) or HistGradientBoosting
(100 iterations); each fitted once, packaged with `driftwatch-inference package` (binary target
`churned`) and written as joblib for MLServer. Cases per Pipeline, on 127.0.0.1 (server
`taskset -c 0`, wrk `taskset -c 1`, 16 connections), the same rows for all:
  (a) driftwatch, metrics and capture on      (b) driftwatch, both off (--no-metrics --no-capture)
  (c) MLServer + mlserver-sklearn (parallel_workers 0, .venv-mlserver) serving the same fitted Pipeline
  (d) driftwatch as in (a), batches of 100 rows
(a) and (b) run as 4 pairs of fresh server processes, the rounds split between them: one process's
memory layout and hash seed move its CPU per request by about ±5% here, so one pair's ratio is not
the service's (docs/benchmarks.md, "Request path"). Each pair also runs side by side: both servers
under load at once on the same core, one wrk each, so that the host's speed, which moves by 10-15%
from one 2-s round to the next on this shared machine, weighs on (a) and (b) alike; the CPU per
request of each over the same seconds gives the (a)/(b) ratio with the smallest spread.
Also: the scoring engine the service chose (driftwatch_model_info) and its difference from
scikit-learn, and the capture's rows lost (rows predicted minus rows in Parquet after SIGTERM).
BENCH_DURATION_S sets the seconds per case (default 16); BENCH_QUICK=1 is a smoke run (2 s, 2 rounds);
BENCH_PIPELINES=lr,rf runs only those Pipelines (default all three).
Prints Markdown tables (copied into docs/benchmarks.md), the last one each target of issue 10 met or not
per Pipeline; raw numbers go to scripts/bench/out/.
Needs: wrk and taskset (scripts/install_system.sh), `make install`; builds .venv-mlserver from
requirements/mlserver.txt when absent.
"""

from __future__ import annotations

import json
import os
import re
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
from venvs import ensure_venv  # scripts/bench/venvs.py, beside this script
from wrk import (  # scripts/bench/wrk.py, beside this script
    PCTL_LUA,
    merged_percentile,
    wrk_percentiles,
    wrk_result,
)

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "scripts" / "bench" / "out"
VENV_BIN = ROOT / ".venv" / "bin"
MLSERVER_VENV = ROOT / ".venv-mlserver"
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
DURATION_S = int(os.environ.get("BENCH_DURATION_S", "2" if QUICK else "16"))
WARMUP_S = 1 if QUICK else 3
CONNECTIONS = 16
ROUNDS = 2 if QUICK else 8
# Fresh (a)+(b) server pairs the rounds are split over (one process's own luck weighs on one pair).
PAIRS = 1 if QUICK else 4
# Side-by-side rounds per pair ((a) and (b) under load at once, each with its own wrk).
SIDE_ROUNDS = 1 if QUICK else 3
TRAIN_ROWS = 10_000
PIPELINES = {
    "lr": "LogisticRegression",
    "rf": "RandomForest, 50 trees, depth 8",
    "hgb": "HistGradientBoosting, 100 iterations",
}
SELECTED = [p for p in os.environ.get("BENCH_PIPELINES", ",".join(PIPELINES)).split(",") if p]
SERVER_CPU, LOAD_CPU = "0", "1"

WRK_SCRIPT = (
    """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("{body}", "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
"""
    + PCTL_LUA
    + """end
"""
)


@dataclass
class Result:
    """One wrk run."""

    case: str
    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    rows_per_request: int = 1
    server_cpu_us: float = 0.0  # server CPU time (user + system, all threads) per request
    requests: int = 0
    # (percentile, latency µs) pairs of this run; for several rounds, of each round
    percentiles: list[list[tuple[float, float]]] = field(default_factory=list)
    worst_round_p99_ms: float = 0.0  # several rounds: the highest of their p99s

    @property
    def capacity_rps(self) -> float:
        """Requests per second one core could serve at this CPU cost: robust to other load on the box."""
        return 1e6 / self.server_cpu_us if self.server_cpu_us else 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rps * self.rows_per_request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


@contextmanager
def pinned_server(
    command: list[str], ready_url: str, log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as handle:
        process = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *command], stdout=handle, stderr=subprocess.STDOUT, cwd=cwd
        )
    try:
        wait_http(ready_url, process)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads included (taskset execs the server)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(
    case: str,
    url: str,
    body: dict[str, object],
    workdir: Path,
    *,
    server: subprocess.Popen[bytes],
    rows: int = 1,
    seconds: int,
    warmup: int,
) -> Result:
    body_path = workdir / f"{case}.json"
    body_path.write_text(json.dumps(body))
    script = workdir / f"{case}.lua"
    script.write_text(WRK_SCRIPT.replace("{body}", str(body_path)))
    base = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", "--timeout", "2s", "-s", str(script)]
    if warmup:
        subprocess.run([*base, f"-d{warmup}s", url], check=True, capture_output=True, timeout=warmup + 30)
    cpu_before = cpu_seconds(server.pid)
    done = subprocess.run(
        [*base, f"-d{seconds}s", url], check=True, capture_output=True, text=True, timeout=seconds + 30
    )
    cpu = cpu_seconds(server.pid) - cpu_before
    fields = wrk_result(done)
    return Result(
        case=case,
        rps=fields["requests"] / (fields["duration_us"] / 1e6),
        p50_ms=fields["p50_us"] / 1000,
        p99_ms=fields["p99_us"] / 1000,
        non2xx=fields["non2xx"],
        socket_errors=fields["socket_errors"],
        rows_per_request=rows,
        server_cpu_us=cpu * 1e6 / max(fields["requests"], 1),
        requests=fields["requests"],
        percentiles=[wrk_percentiles(done)],
        worst_round_p99_ms=fields["p99_us"] / 1000,
    )


def side_by_side(
    servers: dict[str, tuple[str, subprocess.Popen[bytes]]],
    record: Body,
    workdir: Path,
    seconds: int,
    first: str,
) -> float:
    """(b)'s CPU per request over (a)'s, both under load over the same seconds (one wrk each, started
    `first` then the other): the (a)/(b) capacity ratio with the host's speed the same for both."""
    results: dict[str, Result] = {}

    def load(case: str) -> None:
        url, server = servers[case]
        results[case] = wrk(f"{case}-side", f"{url}/v1/predict", record, workdir, server=server,
                            seconds=seconds, warmup=0)  # fmt: skip

    threads = [threading.Thread(target=load, args=(case,)) for case in (first, "b" if first == "a" else "a")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if set(results) != {"a", "b"}:
        raise RuntimeError("a side-by-side wrk run failed")
    return results["b"].server_cpu_us / results["a"].server_cpu_us


def metric_sum(metrics_text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines() if line.startswith(name + "{")
    )


def ensure_mlserver_venv() -> Path:
    """The python of .venv-mlserver, built from the hash-pinned requirements/mlserver.txt when absent."""
    return ensure_venv(MLSERVER_VENV, ROOT / "requirements" / "mlserver.txt")


def mlserver_body(record: dict[str, object]) -> dict[str, object]:
    """The V2 inference protocol request for one row, decoded by MLServer into a one-row DataFrame."""
    inputs = []
    for name, value in record.items():
        datatype = "BYTES" if isinstance(value, str) else ("INT64" if isinstance(value, int) else "FP64")
        inputs.append({"name": name, "shape": [1], "datatype": datatype, "data": [value]})
    return {"parameters": {"content_type": "pd"}, "inputs": inputs, "outputs": [{"name": "predict_proba"}]}


TO_JOBLIB = (
    "import joblib, skops.io as sio, sys; "
    "joblib.dump(sio.load(sys.argv[1], trusted=sio.get_untrusted_types(file=sys.argv[1])), sys.argv[2])"
)


def write_mlserver_repo(model_dir: Path, repo: Path, python: Path, port: int, name: str) -> None:
    """Convert the skops file to joblib with MLServer's venv (same scikit-learn) and write its settings.

    The benchmark fitted the model itself, so every type in it is trusted."""
    (repo / name).mkdir(parents=True)
    subprocess.run(
        [str(python), "-c", TO_JOBLIB, str(model_dir / "model.skops"), str(repo / name / "model.joblib")],
        check=True,
    )
    settings = {
        "parallel_workers": 0,
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "debug": False,
    }
    (repo / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": name,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }
    (repo / name / "model-settings.json").write_text(json.dumps(model_settings))


def combine(runs: list[Result]) -> Result:
    """Rounds of one case: mean throughput; the percentiles of all their requests together (each round's
    latency distribution from its percentile table, weighted by its requests), and the worst round's p99.
    """
    rounds = [(r.requests, table) for r in runs for table in r.percentiles]
    merged = all(n > 0 for n, _ in rounds) and len(rounds) == len(runs)
    return Result(
        case=runs[0].case,
        rps=sum(r.rps for r in runs) / len(runs),
        p50_ms=merged_percentile(rounds, 50) / 1000 if merged else max(r.p50_ms for r in runs),
        p99_ms=merged_percentile(rounds, 99) / 1000 if merged else max(r.p99_ms for r in runs),
        non2xx=sum(r.non2xx for r in runs),
        socket_errors=sum(r.socket_errors for r in runs),
        rows_per_request=runs[0].rows_per_request,
        server_cpu_us=sum(r.server_cpu_us for r in runs) / len(runs),
        requests=sum(r.requests for r in runs),
        percentiles=[table for r in runs for table in r.percentiles],
        worst_round_p99_ms=max(r.worst_round_p99_ms for r in runs),
    )


def driftwatch_command(model_dir: Path, port: int, capture: Path, flags: list[str]) -> list[str]:
    return [
        str(VENV_BIN / "driftwatch-inference"), "serve", "--host", "127.0.0.1", "--port", str(port),
        "--model-dir", str(model_dir), "--capture-uri", capture.as_uri(), "--log-level", "WARNING", *flags,
    ]  # fmt: skip


Body = dict[str, object]


def driftwatch_cases(
    model_dir: Path, workdir: Path, record: Body, batch: Body, name: str
) -> tuple[dict[str, Result], dict[str, Any]]:
    """(a), (b) and (d). (a) and (b) run as PAIRS pairs of fresh server processes, each pair alternating
    in ROUNDS // PAIRS rounds, so a change in background load (the 2 cores are shared) weighs on both
    rather than on whichever ran second, and one process's own luck (its memory layout and hash seed
    move a process's CPU per request by ±5% here) weighs on one pair's ratio, not on the result."""
    capture = workdir / "capture"
    round_s = max(1, DURATION_S // ROUNDS)
    runs: dict[str, list[Result]] = {"a": [], "b": []}
    pair_ratios: list[float] = []
    side_ratios: list[float] = []
    served = dropped = 0.0
    batch_result: Result | None = None
    metrics_text = ""
    for pair in range(PAIRS):
        on_port, off_port = free_port(), free_port()
        on_url, off_url = f"http://127.0.0.1:{on_port}", f"http://127.0.0.1:{off_port}"
        on_cmd = driftwatch_command(model_dir, on_port, capture, ["--metrics", "--capture"])
        off_flags = ["--no-metrics", "--no-capture"]
        off_cmd = driftwatch_command(model_dir, off_port, workdir / "unused", off_flags)
        pair_runs: dict[str, list[Result]] = {"a": [], "b": []}
        with (
            pinned_server(on_cmd, f"{on_url}/readyz", workdir / f"on-{pair}.log") as on,
            pinned_server(off_cmd, f"{off_url}/readyz", workdir / f"off-{pair}.log") as off,
        ):
            for i in range(max(1, ROUNDS // PAIRS)):
                # a-b, then b-a: neither case always runs right after the other.
                order = ("a", "b") if (pair + i) % 2 == 0 else ("b", "a")
                for case in order:
                    server, url = (on, on_url) if case == "a" else (off, off_url)
                    pair_runs[case].append(
                        wrk(case, f"{url}/v1/predict", record, workdir, server=server, seconds=round_s,
                            warmup=WARMUP_S if i == 0 else 0)
                    )  # fmt: skip
            servers = {"a": (on_url, on), "b": (off_url, off)}
            for i in range(SIDE_ROUNDS):
                first = "a" if (pair + i) % 2 == 0 else "b"
                side_ratios.append(side_by_side(servers, record, workdir, round_s, first))
            if pair == PAIRS - 1:
                batch_result = wrk(
                    "d", f"{on_url}/v1/predict", batch, workdir, server=on, rows=100, seconds=DURATION_S,
                    warmup=1,
                )  # fmt: skip
            metrics_text = httpx.get(f"{on_url}/metrics").text
        served += metric_sum(metrics_text, "driftwatch_predictions_total")
        dropped += metric_sum(metrics_text, "driftwatch_capture_rows_dropped_total")
        a, b = combine(pair_runs["a"]), combine(pair_runs["b"])
        pair_ratios.append(b.server_cpu_us / a.server_cpu_us)
        for case in "ab":
            runs[case] += pair_runs[case]
    import pyarrow.dataset as ds

    counts: dict[str, Any] = {
        "served_rows": served,
        "dropped": dropped,
        "captured_rows": float(
            ds.dataset(capture / name, format="parquet", partitioning="hive").count_rows()
        ),
    }
    counts["lost"] = counts["served_rows"] - counts["captured_rows"]
    engine = re.search(r'driftwatch_model_info\{[^}]*engine="(\w+)"', metrics_text)
    counts["engine"] = engine.group(1) if engine else "unknown"
    counts["engine_max_abs_difference"] = metric_sum(
        metrics_text, "driftwatch_model_engine_max_abs_difference"
    )
    # Each (a) round is compared with the (b) round beside it, when the background load was alike.
    pairs = list(zip(runs["a"], runs["b"], strict=True))
    counts["a_over_b_rounds"] = sorted(a.rps / b.rps for a, b in pairs)
    counts["a_over_b_capacity_rounds"] = sorted(b.server_cpu_us / a.server_cpu_us for a, b in pairs)
    counts["a_over_b_capacity_pairs"] = sorted(pair_ratios)
    counts["a_over_b_side_by_side_rounds"] = sorted(side_ratios)
    assert batch_result is not None
    return {"a": combine(runs["a"]), "b": combine(runs["b"]), "d": batch_result}, counts


def fit_pipelines(out: Path) -> dict[str, Path]:
    """Fit the three Pipelines on the demo's churn data and package each (skops, then `package`)."""
    import skops.io as sio
    from driftwatch_demo import synthetic
    from driftwatch_demo.training import build_pipeline
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    def trees(classifier: Any) -> Pipeline:
        encode = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        pre = ColumnTransformer([("cat", encode, list(synthetic.CATEGORICAL))], remainder="passthrough")
        return Pipeline([("pre", pre), ("clf", classifier)])

    models = {
        # The demo's own Pipeline: StandardScaler + OneHotEncoder + LogisticRegression.
        "lr": build_pipeline(42),
        "rf": trees(RandomForestClassifier(n_estimators=50, max_depth=8, random_state=42, n_jobs=1)),
        "hgb": trees(HistGradientBoostingClassifier(max_iter=100, random_state=42)),
    }
    features = list(synthetic.FEATURE_NAMES)
    train = synthetic.generate(TRAIN_ROWS, seed=42)
    reference = synthetic.generate(TRAIN_ROWS, seed=43)[[*features, synthetic.TARGET]]
    reference_path = out / "reference.parquet"
    reference.to_parquet(reference_path)
    dirs = {}
    for key, model in models.items():
        model.fit(train[features], train[synthetic.TARGET])
        skops_path = out / f"{key}.skops"
        sio.dump(model, skops_path)
        trust = [arg for t in sio.get_untrusted_types(file=skops_path) for arg in ("--trust", t)]
        dirs[key] = out / f"model-{key}"
        command = [str(VENV_BIN / "driftwatch-inference"), "package", "--model", str(skops_path)]
        command += ["--reference", str(reference_path), "--target", synthetic.TARGET, "--task", "binary"]
        command += ["--name", f"churn-{key}", "--out", str(dirs[key]), *trust]
        epoch = {**os.environ, "SOURCE_DATE_EPOCH": "1767225600"}
        subprocess.run(command, check=True, capture_output=True, env=epoch)
    return dirs


def mlserver_case(model_dir: Path, workdir: Path, record: Body, python: Path, name: str) -> Result:
    port = free_port()
    repo = workdir / "mlserver"
    write_mlserver_repo(model_dir, repo, python, port, name)
    url = f"http://127.0.0.1:{port}"
    mlserver_cmd = [str(python.parent / "mlserver"), "start", str(repo)]
    with pinned_server(mlserver_cmd, f"{url}/v2/models/{name}/ready", workdir / "mlserver.log") as mls:
        infer = f"{url}/v2/models/{name}/infer"
        httpx.post(infer, json=mlserver_body(record), timeout=10).raise_for_status()
        return wrk(
            "c", infer, mlserver_body(record), workdir, server=mls, seconds=DURATION_S, warmup=WARMUP_S
        )


def main() -> int:
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: run scripts/install_system.sh", file=sys.stderr)
            return 2
    unknown = set(SELECTED) - set(PIPELINES)
    if unknown:
        print(f"BENCH_PIPELINES: unknown {sorted(unknown)}, choose from {sorted(PIPELINES)}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    from driftwatch_demo import synthetic

    record = synthetic.records(synthetic.generate(1, seed=123))[0]
    batch = {"instances": synthetic.records(synthetic.generate(100, seed=124))}
    python = ensure_mlserver_venv()
    load = os.getloadavg()[0]
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_average_1m": load,
        "duration_s": DURATION_S,
        "rounds": ROUNDS,
        "pairs": PAIRS,
        "side_rounds": SIDE_ROUNDS,
        "pipelines": {},
    }
    all_results: dict[str, dict[str, Result]] = {}
    with tempfile.TemporaryDirectory(prefix="driftwatch-bench-") as tmp:
        workdir = Path(tmp)
        dirs = fit_pipelines(workdir)
        for key, model_dir in dirs.items():
            if key not in SELECTED:
                continue
            name = f"churn-{key}"
            pipeline_dir = workdir / key
            pipeline_dir.mkdir()
            results, counts = driftwatch_cases(model_dir, pipeline_dir, record, batch, name)
            results["c"] = mlserver_case(model_dir, pipeline_dir, record, python, name)
            results = {k: results[k] for k in "abcd"}
            a, b, c = results["a"], results["b"], results["c"]
            report["pipelines"][key] = {
                "results": {k: {**asdict(v), "rows_per_s": v.rows_per_s} for k, v in results.items()},
                "capture": counts,
                "ratios": {
                    "a_over_c": a.rps / c.rps,
                    "a_over_c_capacity": a.capacity_rps / c.capacity_rps,
                    "a_over_b_capacity": a.capacity_rps / b.capacity_rps,
                    "a_over_b": a.rps / b.rps,
                    "a_over_b_rounds": counts.pop("a_over_b_rounds"),
                    "a_over_b_capacity_rounds": counts.pop("a_over_b_capacity_rounds"),
                    "a_over_b_capacity_pairs": counts.pop("a_over_b_capacity_pairs"),
                    "a_over_b_side_by_side_rounds": counts.pop("a_over_b_side_by_side_rounds"),
                },
            }
            all_results[key] = results
    (OUT / "inference.json").write_text(json.dumps(report, indent=2))
    print(markdown(report, all_results))
    return 0


# Issue 10's targets, per Pipeline.
MIN_OVER_MLSERVER = 10.0  # (a) / (c) single-row req/s
MAX_P99_MS = 20.0  # (a), all rounds' requests together
MIN_OVER_OFF = 0.9  # (a) / (b), side by side (median of the rounds)


def target_verdicts(
    ratios: dict[str, Any], capture: dict[str, Any], a: Result
) -> list[tuple[str, bool, str]]:
    """Each target of issue 10 for one Pipeline: (target, met, the measured value)."""
    side = median(ratios["a_over_b_side_by_side_rounds"])
    lost = capture["lost"] + capture["dropped"]
    return [
        (f"(a) >= {MIN_OVER_MLSERVER:g}x (c) single-row req/s", ratios["a_over_c"] >= MIN_OVER_MLSERVER,
         f"{ratios['a_over_c']:.1f}x"),
        (f"(a) p99 <= {MAX_P99_MS:g} ms (all rounds)", a.p99_ms <= MAX_P99_MS, f"{a.p99_ms:.1f} ms"),
        (f"(a) >= {MIN_OVER_OFF:g}x (b), side by side (median)", side >= MIN_OVER_OFF, f"{side:.3f}"),
        ("0 capture rows lost or dropped", lost == 0, f"{lost:,.0f} of {capture['served_rows']:,.0f}"),
    ]  # fmt: skip


def targets_table(report: dict[str, Any], all_results: dict[str, dict[str, Result]]) -> list[str]:
    """The targets as a Markdown table, a column per Pipeline: `met (value)` or `**not met** (value)`."""
    verdicts = {
        key: target_verdicts(
            report["pipelines"][key]["ratios"], report["pipelines"][key]["capture"], res["a"]
        )
        for key, res in all_results.items()
    }
    keys = list(verdicts)
    lines = [
        "| target (issue 10) | " + " | ".join(PIPELINES[k] for k in keys) + " |",
        "| --- |" + " --- |" * len(keys),
    ]
    for i, (target, _, _) in enumerate(verdicts[keys[0]] if keys else []):
        cells = [f"{'met' if verdicts[k][i][1] else '**not met**'} ({verdicts[k][i][2]})" for k in keys]
        lines.append(f"| {target} | " + " | ".join(cells) + " |")
    return lines


def side_summary(ratios: list[float]) -> str:
    """The side-by-side rounds' ratios as `median (lowest-highest, n rounds)`."""
    return f"{median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}, {len(ratios)} rounds)"


def markdown(report: dict[str, Any], all_results: dict[str, dict[str, Result]]) -> str:
    names = {
        "a": "(a) driftwatch, metrics + capture on",
        "b": "(b) driftwatch, metrics + capture off",
        "c": "(c) MLServer 1.7.1 + mlserver-sklearn, parallel_workers 0",
        "d": "(d) driftwatch as (a), batch of 100 rows",
    }
    lines = [
        f"Run {report['date']} on {report['machine']}, load average {report['load_average_1m']:.2f};"
        f" {DURATION_S} s per case after {WARMUP_S} s warm-up"
        f" ((a) and (b) alternate in {ROUNDS} rounds over {PAIRS} pairs of fresh server processes:"
        " mean req/s, percentiles of all their requests together; then"
        f" {SIDE_ROUNDS} side-by-side rounds a pair, both under load at once),"
        f" wrk -t1 -c{CONNECTIONS} on core {LOAD_CPU}, servers on core {SERVER_CPU}",
        " (only the one under load busy).",
        "",
        "| pipeline | case | req/s | rows/s | p50 ms | p99 ms | server CPU µs/req | 1-core capacity req/s |"
        " non-2xx | socket errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, results in all_results.items():
        for case, result in results.items():
            lines.append(
                f"| {PIPELINES[key]} | {names[case]} | {result.rps:,.0f} | {result.rows_per_s:,.0f} |"
                f" {result.p50_ms:.2f} | {result.p99_ms:.2f} | {result.server_cpu_us:,.0f} |"
                f" {result.capacity_rps:,.0f} | {result.non2xx} | {result.socket_errors} |"
            )
    lines += [
        "",
        "| pipeline | engine (max abs difference) | (a)/(c) req/s (CPU) |"
        " (a)/(b) req/s (CPU; median of rounds; by CPU per process pair) |"
        " (a)/(b) side by side (median; lowest-highest) |"
        " (a) p99 ms (all rounds; worst round) | capture rows lost |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, results in all_results.items():
        entry = report["pipelines"][key]
        ratios, capture = entry["ratios"], entry["capture"]
        lines.append(
            f"| {PIPELINES[key]} | {capture['engine']} ({capture['engine_max_abs_difference']:.1e}) |"
            f" {ratios['a_over_c']:.1f}x ({ratios['a_over_c_capacity']:.1f}x) |"
            f" {ratios['a_over_b']:.2f} ({ratios['a_over_b_capacity']:.2f};"
            f" {median(ratios['a_over_b_capacity_rounds']):.2f};"
            f" {', '.join(f'{r:.2f}' for r in ratios['a_over_b_capacity_pairs'])}) |"
            f" {side_summary(ratios['a_over_b_side_by_side_rounds'])} |"
            f" {results['a'].p99_ms:.2f} ({results['a'].worst_round_p99_ms:.2f}) |"
            f" {capture['lost']:,.0f} of {capture['served_rows']:,.0f} (dropped {capture['dropped']:.0f}) |"
        )
    lines += ["", *targets_table(report, all_results)]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
