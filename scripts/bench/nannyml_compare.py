"""Our CBPE (engine/performance.py) against NannyML's on the same reference and windows (issue 11, item 3).

Synthetic churn data (services/demo synthetic.py): a labelled reference and windows of the `none`,
`covariate` and `concept` scenarios, scored by three models: the demo's logistic Pipeline (close to
calibrated) and a random forest (whose probabilities NannyML and we both decide to calibrate) for the
binary churn label, and a multinomial logistic Pipeline for a three-class label (the customer's tenure
band, read with noise; its concept window moves the bands), so the multiclass estimates (one-vs-rest
calibration, macro metrics) are compared too.
NannyML 0.13.1 runs in its own venv, .venv-nannyml (built from requirements/nannyml.txt when absent),
as a subprocess reading the same Parquet files. Prints a Markdown table; exit 1 when an estimate of
accuracy or ROC AUC differs from NannyML's by more than the tolerance.

    .venv/bin/python scripts/bench/nannyml_compare.py [--rows 20000] [--window 5000] [--tolerance 0.01]
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
from typing import TYPE_CHECKING

from venvs import ensure_venv  # scripts/bench/venvs.py, beside this script

if TYPE_CHECKING:
    import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
NANNYML_VENV = ROOT / ".venv-nannyml"
SCENARIOS = ("none", "covariate", "concept")
MODELS = ("logistic", "forest", "tenure-band")
MULTICLASS = {"tenure-band": ("loyal", "new", "settled")}  # the label's classes, as scikit-learn sorts them
METRICS = ("accuracy", "roc_auc", "f1", "precision", "recall")
TARGET = "churned"
# The tenure band a customer is in (months), and where the concept window puts the edges instead.
BAND_EDGES = {"none": (12.0, 36.0), "covariate": (12.0, 36.0), "concept": (6.0, 24.0)}
BAND_NOISE_MONTHS = 8.0


def tenure_band(frame: pd.DataFrame, scenario: str, seed: int) -> pd.Series:
    """A three-class label the features explain, with noise: new, settled or loyal by tenure."""
    import numpy as np
    import pandas as pd

    low, high = BAND_EDGES[scenario]
    noisy = frame["tenure_months"].to_numpy(float)
    noisy = noisy + np.random.default_rng(seed).normal(0.0, BAND_NOISE_MONTHS, len(frame))
    return pd.Series(
        np.where(noisy < low, "new", np.where(noisy < high, "settled", "loyal")), index=frame.index
    )


def probability_column(label: str) -> str:
    return f"probability_{label}"


def label_of(model: str, frame: pd.DataFrame, scenario: str, seed: int) -> pd.Series:
    """The label `model` predicts: the tenure band for the multiclass model, churn for the others."""
    return tenure_band(frame, scenario, seed) if model in MULTICLASS else frame[TARGET]


def ensure_nannyml_venv() -> Path:
    """The python of .venv-nannyml, built from the hash-pinned requirements/nannyml.txt when absent."""
    return ensure_venv(NANNYML_VENV, ROOT / "requirements" / "nannyml.txt")


def _worker(jobs: dict[str, list[str]]) -> None:
    """In .venv-nannyml, one process for every model (NannyML imports in about 10 s of CPU): for each
    model, NannyML's CBPE fitted on its reference (`jobs[model][0]`), one chunk per window (the rest);
    JSON on stdout, by model then window path."""
    import warnings

    import nannyml as nml
    import pandas as pd

    warnings.simplefilter("ignore")
    out: dict[str, dict[str, object]] = {}
    for model, (reference, *windows) in jobs.items():
        classes = MULTICLASS.get(model)
        ref = pd.read_parquet(reference)
        out[model] = {}
        for path in windows:
            window = pd.read_parquet(path).drop(columns=[TARGET])
            estimator = nml.CBPE(
                y_pred_proba={c: probability_column(c) for c in classes} if classes else "probability",
                y_pred="prediction",
                y_true=TARGET,
                metrics=list(METRICS),
                problem_type="classification_multiclass" if classes else "classification_binary",
                chunk_size=len(window),
            )
            estimator.fit(ref)
            result = estimator.estimate(window).filter(period="analysis").to_df()
            needs = estimator.needs_calibration
            out[model][path] = {
                # multiclass: a decision per class (one-vs-rest)
                "needs_calibration": any(needs.values()) if isinstance(needs, dict) else bool(needs),
                **{m: float(result[(m, "value")].iloc[0]) for m in METRICS},
            }
    print(json.dumps(out))


def _frames(rows: int, window: int, directory: Path) -> dict[tuple[str, str], Path]:
    """Reference and window Parquet files per model and scenario (outputs and labels)."""
    import pandas as pd
    from driftwatch_demo import synthetic
    from driftwatch_demo.training import build_pipeline
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    train = synthetic.generate(rows, 11)
    features = list(synthetic.FEATURE_NAMES)
    forest = Pipeline(
        [
            ("pre", build_pipeline(0).named_steps["pre"]),
            (
                "clf",
                RandomForestClassifier(n_estimators=60, max_depth=8, min_samples_leaf=20, random_state=0),
            ),
        ]
    )
    models = {"logistic": build_pipeline(0), "forest": forest, "tenure-band": build_pipeline(0)}
    reference = synthetic.generate(rows, 12)
    windows = {s: synthetic.generate(window, 13 + i, s) for i, s in enumerate(SCENARIOS)}
    paths: dict[tuple[str, str], Path] = {}
    for name, model in models.items():
        classes = MULTICLASS.get(name)
        model.fit(train[features], label_of(name, train, "none", 21))
        for i, (key, frame) in enumerate([("reference", reference), *windows.items()]):
            scored = frame.copy()
            scored[TARGET] = label_of(name, frame, "none" if key == "reference" else key, 22 + i)
            proba = model.predict_proba(frame[features])
            if classes:
                assert tuple(model.classes_) == classes
                for j, label in enumerate(classes):
                    scored[probability_column(label)] = proba[:, j]
                scored["prediction"] = model.classes_[proba.argmax(axis=1)]
            else:
                scored["probability"] = proba[:, 1]
                scored["prediction"] = (scored["probability"] >= 0.5).astype("int64")
            path = directory / f"{key}-{name}.parquet"
            pd.DataFrame(scored).to_parquet(path, index=False)
            paths[(name, key)] = path
    return paths


def _ours(model: str, reference: Path, window: Path) -> dict[str, float]:
    import pandas as pd
    from driftwatch_controller.engine import performance

    ref, cur = pd.read_parquet(reference), pd.read_parquet(window)
    classes = MULTICLASS.get(model)
    task, labels, outputs = (
        (
            "multiclass",
            classes,
            performance.Outputs("prediction", None, tuple(map(probability_column, classes))),
        )
        if classes
        else ("binary", (0, 1), performance.Outputs("prediction", "probability"))
    )
    start = time.perf_counter()
    status = performance.performance_status(
        task, labels, ref, cur.assign(**{TARGET: None}), target=TARGET, outputs=outputs, min_labelled_rows=1
    )
    seconds = time.perf_counter() - start
    estimated = {m["name"]: m["value"] for m in status["estimated"]["metrics"]}
    realized = performance.performance_status(
        task, labels, ref, cur, target=TARGET, outputs=outputs, min_labelled_rows=1, resamples=20
    )
    truth = {m["name"]: m["value"] for m in realized["realized"]["metrics"]}
    return {
        **{m: estimated[m] for m in METRICS},
        "seconds": seconds,
        **{f"realized_{m}": truth[m] for m in ("accuracy", "roc_auc")},
    }


def compare(rows: int, window: int) -> list[dict[str, object]]:
    python = ensure_nannyml_venv()
    with tempfile.TemporaryDirectory(prefix="driftwatch-nannyml-") as tmp:
        paths = _frames(rows, window, Path(tmp))
        jobs = {m: [str(paths[(m, "reference")]), *(str(paths[(m, s)]) for s in SCENARIOS)] for m in MODELS}
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        done = subprocess.run(
            [str(python), str(Path(__file__).resolve()), "--worker", json.dumps(jobs)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=900,
        )
        if done.returncode != 0:
            raise RuntimeError(f"NannyML worker failed: {done.stderr.strip()[-2000:]}")
        theirs = json.loads(done.stdout.strip().splitlines()[-1])
        return [
            {
                "model": model,
                "scenario": scenario,
                "nannyml": theirs[model][str(paths[(model, scenario)])],
                "ours": _ours(model, paths[(model, "reference")], paths[(model, scenario)]),
            }
            for model in MODELS
            for scenario in SCENARIOS
        ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="training and reference rows")
    parser.add_argument("--window", type=int, default=5_000, help="rows per window")
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--ensure-venv", action="store_true", help="only build .venv-nannyml when absent")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ensure_venv:
        print(ensure_nannyml_venv())
        return 0
    if args.worker:
        _worker(json.loads(args.worker))
        return 0
    results = compare(args.rows, args.window)
    worst = _print(results, args.rows, args.window)
    if worst > args.tolerance:
        print(
            f"FAIL: an accuracy or ROC AUC estimate differs from NannyML's by {worst:.4f} > {args.tolerance}"
        )
        return 1
    return 0


def _print(results: list[dict[str, object]], rows: int, window: int) -> float:
    headers = [
        "model",
        "window",
        "NannyML calibrates",
        "realized accuracy",
        "CBPE accuracy (NannyML)",
        "CBPE accuracy (ours)",
        "realized ROC AUC",
        "CBPE ROC AUC (NannyML)",
        "CBPE ROC AUC (ours)",
        "max \\|ours - NannyML\\| (acc, AUC, F1, precision, recall)",
    ]
    print(
        f"Reference {rows:,} labelled rows, windows {window:,} rows; binary churn models and a three-class "
        "tenure-band model (macro metrics, ROC AUC one-vs-rest)."
    )
    print()
    print("| " + " | ".join(headers) + " |")
    print("|" + " --- |" * 3 + " ---: |" * (len(headers) - 3))
    worst = 0.0
    for r in results:
        ours, theirs = r["ours"], r["nannyml"]
        assert isinstance(ours, dict)
        assert isinstance(theirs, dict)
        diffs = [abs(ours[m] - theirs[m]) for m in METRICS]
        worst = max(worst, diffs[0], diffs[1])
        cells = [
            str(r["model"]),
            str(r["scenario"]),
            "yes" if theirs["needs_calibration"] else "no",
            f"{ours['realized_accuracy']:.4f}",
            f"{theirs['accuracy']:.4f}",
            f"{ours['accuracy']:.4f}",
            f"{ours['realized_roc_auc']:.4f}",
            f"{theirs['roc_auc']:.4f}",
            f"{ours['roc_auc']:.4f}",
            ", ".join(f"{d:.1e}" for d in diffs),
        ]
        print("| " + " | ".join(cells) + " |")
    print()
    ours_s = max(float(r["ours"]["seconds"]) for r in results)  # type: ignore[index]
    print(
        f"Largest accuracy / ROC AUC difference: {worst:.2e}. Our estimate (calibration included) took at "
        f"most {ours_s:.2f} s per window; machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}."
    )
    return worst


if __name__ == "__main__":
    sys.exit(main())
