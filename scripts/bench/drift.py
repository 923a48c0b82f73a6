"""Drift-engine benchmark: our whole `driftwatch check` against Evidently's DataDriftPreset.

15 columns (the churn features), reference = current = N rows (two seeds, no drift), N = 10k, 100k,
1M. Each measurement is a fresh process (the check runs as a fresh pod): wall time, peak RSS, and the
per-column scores, which must equal the preset's (same methods) to 1e-9. Also: process start time
(`driftwatch check --help`), and the same statistics through Evidently's stattest functions called
directly (no Report), timed after the import. The labelled case (issue 11) runs the same check on
files that also hold the model's outputs (probability, prediction) and the label, half of the
window's rows labelled, so status.performance (bootstrap intervals, CBPE) is computed too.
Prints a Markdown table.

    .venv/bin/python scripts/bench/drift.py [--sizes 10000,100000,1000000] [--preset-max 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
# Child processes get compiled bytecode like an image has (PYTHONDONTWRITEBYTECODE would make every
# process recompile pandas and Evidently from source); it goes to a private cache, not into .venv.
PYCACHE = Path(tempfile.gettempdir()) / "driftwatch-bench-pycache"
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
CHILD_ENV["PYTHONPYCACHEPREFIX"] = str(PYCACHE)


def _run(command: list[str]) -> tuple[float, str]:
    """Wall seconds and stdout of one child process (workers report their own peak RSS)."""
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=CHILD_ENV, check=False, timeout=900)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed: {result.stderr.strip()[-2000:]}")
    return wall, result.stdout


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _generate(n: int, directory: Path) -> tuple[Path, Path]:
    from driftwatch_demo.synthetic import generate

    ref, cur = directory / f"ref-{n}.parquet", directory / f"cur-{n}.parquet"
    if not ref.exists():
        generate(n, 1).drop(columns=["churned"]).to_parquet(ref, index=False)
        generate(n, 2).drop(columns=["churned"]).to_parquet(cur, index=False)
    return ref, cur


LABELLED_ARGS = ["--target", "churned", "--prediction", "probability", "--prediction-class", "prediction"]


def _generate_labelled(n: int, directory: Path) -> tuple[Path, Path]:
    """Reference and window with a calibrated model's outputs and the label (half the window's rows)."""
    import numpy as np
    from driftwatch_demo.synthetic import churn_logit, generate

    ref, cur = directory / f"ref-labelled-{n}.parquet", directory / f"cur-labelled-{n}.parquet"
    if not ref.exists():
        for seed, path, share in ((1, ref, 1.0), (2, cur, 0.5)):
            frame = generate(n, seed)
            frame["probability"] = 1.0 / (1.0 + np.exp(-churn_logit(frame)))
            frame["prediction"] = (frame["probability"] >= 0.5).astype("int64")
            keep = np.random.default_rng(seed + 1_000).uniform(size=n) < share  # not generate()'s stream
            frame["churned"] = frame["churned"].astype("Int64").where(keep)
            frame.to_parquet(path, index=False)
    return ref, cur


def _worker_check(ref: str, cur: str, labelled: bool = False) -> None:
    """Our whole check in this process: CLI entry point, then report its own peak RSS."""
    import contextlib
    import io

    from driftwatch_controller.cli import main

    out = io.StringIO()
    extra = LABELLED_ARGS if labelled else []
    with contextlib.redirect_stdout(out):
        code = main(["check", "--reference", ref, "--current", cur, "-o", "json", *extra])
    print(json.dumps({"code": code, "status": json.loads(out.getvalue()), "rss_mb": _peak_rss_mb()}))


def _worker_preset(ref: str, cur: str, methods: str) -> None:
    """Evidently: the preset through Report, and its stattest functions called directly."""
    import pandas as pd
    from driftwatch_controller.engine import evidently_adapter
    from driftwatch_demo.synthetic import CATEGORICAL, NUMERICAL

    reference, current = pd.read_parquet(ref), pd.read_parquet(cur)
    for frame in (reference, current):
        for name in NUMERICAL:
            frame[name] = frame[name].astype("float64")
        for name in CATEGORICAL:
            frame[name] = frame[name].astype(object)
    per_column: dict[str, str] = json.loads(methods)
    start = time.perf_counter()
    evidently_adapter.evidently_statistic(
        "wasserstein", reference["age"].head(10), current["age"].head(10), "numerical"
    )
    imported = time.perf_counter() - start
    start = time.perf_counter()
    direct = {
        name: evidently_adapter.evidently_statistic(
            method, reference[name], current[name], "numerical" if name in NUMERICAL else "categorical"
        )
        for name, method in per_column.items()
    }
    direct_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = evidently_adapter.preset_scores(
        reference, current, list(NUMERICAL), list(CATEGORICAL), per_column
    )
    preset_s = time.perf_counter() - start
    print(json.dumps({"scores": scores, "direct": direct, "import_s": imported, "direct_s": direct_s,
                      "preset_s": preset_s, "rss_mb": _peak_rss_mb()}))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--preset-max", type=int, default=1_000_000, help="skip the preset above this N")
    parser.add_argument("--worker", choices=("check", "preset"))
    parser.add_argument("--ref")
    parser.add_argument("--cur")
    parser.add_argument("--methods")
    parser.add_argument("--labelled", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-labelled", action="store_true", help="skip the labelled case")
    args = parser.parse_args()
    if args.worker == "check":
        _worker_check(args.ref, args.cur, args.labelled)
        return 0
    if args.worker == "preset":
        _worker_preset(args.ref, args.cur, args.methods)
        return 0

    me = [sys.executable, str(Path(__file__).resolve())]
    with tempfile.TemporaryDirectory(prefix="driftwatch-bench-warm-") as tmp:
        # Warm-up (not measured): writes the bytecode cache for our check and for Evidently.
        ref, cur = _generate(2000, Path(tmp))
        _run([*me, "--worker", "check", "--ref", str(ref), "--cur", str(cur)])
        lref, lcur = _generate_labelled(2000, Path(tmp))
        _run([*me, "--worker", "check", "--ref", str(lref), "--cur", str(lcur), "--labelled"])
        _run(
            [
                *me,
                "--worker",
                "preset",
                "--ref",
                str(ref),
                "--cur",
                str(cur),
                "--methods",
                '{"age": "wasserstein"}',
            ]
        )
    starts = [_run([str(BIN / "driftwatch"), "check", "--help"])[0] for _ in range(3)]
    engine_imports = [
        _run([sys.executable, "-c", "import driftwatch_controller.engine.check"])[0] for _ in range(3)
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="driftwatch-bench-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            ref, cur = _generate(n, Path(tmp))
            wall, out = _run([*me, "--worker", "check", "--ref", str(ref), "--cur", str(cur)])
            ours = json.loads(out)
            status = ours["status"]
            methods = {c["name"]: c["method"] for c in status["columns"]}
            row = {"n": n, "ours_s": wall, "ours_rss": ours["rss_mb"], "verdict": status["verdict"]}
            if not args.no_labelled:
                lref, lcur = _generate_labelled(n, Path(tmp))
                lwall, lout = _run(
                    [*me, "--worker", "check", "--ref", str(lref), "--cur", str(lcur), "--labelled"]
                )
                labelled = json.loads(lout)
                performance = labelled["status"]["performance"]
                row.update(
                    labelled_s=lwall,
                    labelled_rss=labelled["rss_mb"],
                    labelled_auc=_headline(performance, "realized"),
                    estimated_auc=_headline(performance, "estimated"),
                )
            if n <= args.preset_max:
                pwall, pout = _run([*me, "--worker", "preset", "--ref", str(ref), "--cur", str(cur),
                                       "--methods", json.dumps(methods)])  # fmt: skip
                preset = json.loads(pout)
                ours_scores = {c["name"]: c["score"] for c in status["columns"]}
                # The status rounds scores to 6 significant digits; compare unrounded ports separately.
                row.update(
                    preset_s=pwall, preset_run_s=preset["preset_s"], preset_rss=preset["rss_mb"],
                    import_s=preset["import_s"], direct_s=preset["direct_s"],
                    diff_status=max(abs(ours_scores[k] - preset["scores"][k]) for k in ours_scores),
                    diff_direct=max(abs(preset["direct"][k] - preset["scores"][k]) for k in ours_scores),
                )  # fmt: skip
                row["ports"] = _port_diff(ref, cur, methods, preset["scores"])
            rows.append(row)
    _print(rows, starts, engine_imports)
    return 0


def _headline(performance: dict, kind: str) -> float | None:
    block = performance.get(kind) or {}
    return next((m["value"] for m in block.get("metrics", []) if m["name"] == performance["metric"]), None)


def _port_diff(ref: Path, cur: Path, methods: dict[str, str], preset: dict[str, float]) -> float:
    """Largest |numpy port - preset| over the columns, unrounded (computed here, outside timing)."""
    import numpy as np
    import pandas as pd
    from driftwatch_controller.engine import drift_stats
    from driftwatch_demo.synthetic import NUMERICAL

    reference, current = pd.read_parquet(ref), pd.read_parquet(cur)
    worst = 0.0
    for name, method in methods.items():
        if name in NUMERICAL:
            r, c, kind = reference[name].to_numpy(float), current[name].to_numpy(float), "numerical"
        else:
            codes, _ = pd.factorize(pd.concat([reference[name], current[name]]).astype(str))
            r, c, kind = (
                codes[: len(reference)].astype(np.int64),
                codes[len(reference) :].astype(np.int64),
                "categorical",
            )
        worst = max(worst, abs(drift_stats.statistic(method, r, c, kind) - preset[name]))  # type: ignore[arg-type]
    return worst


def _print(rows: list[dict], starts: list[float], engine_imports: list[float]) -> None:
    print(
        f"Process start, best of 3: `driftwatch check --help` {min(starts):.2f} s; python + "
        f"`import driftwatch_controller.engine.check` (pandas, pyarrow, numpy) {min(engine_imports):.2f} s"
    )
    print()
    headers = [
        "N rows (ref = cur)", "our check (s)", "our peak RSS (MB)", "DataDriftPreset (s, process)",
        "preset run only (s)", "preset peak RSS (MB)", "speed-up",
        "Evidently stattests direct (s, after import)", "`import evidently` (s)", "max \\|port - preset\\|",
    ]  # fmt: skip
    print("| " + " | ".join(headers) + " |")
    print("|" + " ---: |" * len(headers))
    for r in rows:
        cells = [f"{r['n']:,}", f"{r['ours_s']:.2f}", f"{r['ours_rss']:.0f}"]
        if "preset_s" in r:
            cells += [
                f"{r['preset_s']:.2f}", f"{r['preset_run_s']:.2f}", f"{r['preset_rss']:.0f}",
                f"{r['preset_s'] / r['ours_s']:.1f}x", f"{r['direct_s']:.2f}", f"{r['import_s']:.2f}",
                f"{r['ports']:.1e}",
            ]  # fmt: skip
        else:
            cells += ["skipped"] + [""] * 6
        print("| " + " | ".join(cells) + " |")
    print()
    labelled = [r for r in rows if "labelled_s" in r]
    if labelled:
        print("With labels (outputs and label in both files, half the window labelled; status.performance):")
        print()
        print(
            "| N rows (ref = cur) | our check (s) | with labels (s) | ratio | peak RSS with labels (MB) "
            "| realized / CBPE roc_auc |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in labelled:
            print(
                f"| {r['n']:,} | {r['ours_s']:.2f} | {r['labelled_s']:.2f} "
                f"| {r['labelled_s'] / r['ours_s']:.2f}x "
                f"| {r['labelled_rss']:.0f} | {r['labelled_auc']:.4f} / {r['estimated_auc']:.4f} |"
            )
        print()
    verdicts = ", ".join(f"{r['n']:,}: {r['verdict']}" for r in rows)
    print(f"Machine: {os.cpu_count()} cores (shared), Python {sys.version.split()[0]}; verdicts: {verdicts}")


if __name__ == "__main__":
    sys.exit(main())
