"""`driftwatch-demo train`: fit the churn Pipeline, score a holdout, write model, card and reference."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio
from driftwatch_inference.packaging import package_model, trained_at
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from driftwatch_demo import synthetic

MODEL_NAME = "churn"
TRAIN_ROWS = 20_000
HOLDOUT_SHARE = 0.2
REFERENCE_ROWS = 10_000
# The reference sample is drawn from the training distribution with its own seed, so it is not the
# rows the model was fitted on (which would make the reference look better than any live window).
REFERENCE_SEED_OFFSET = 1_000_003
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKOPS_ID = re.compile(r'("__id__": |"file": ")(\d+)')


@dataclass(frozen=True)
class TrainResult:
    """Where the artefacts went and the card that describes them."""

    model_dir: Path
    card: dict[str, Any]


def build_pipeline(seed: int) -> Pipeline:
    """Scaling for numerics, one-hot for categoricals (fixed category lists from the schema), logistic."""
    categorical = [synthetic.SPECS[name] for name in synthetic.CATEGORICAL]
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), list(synthetic.NUMERICAL)),
            (
                "cat",
                OneHotEncoder(categories=[list(s.categories) for s in categorical], handle_unknown="ignore"),
                list(synthetic.CATEGORICAL),
            ),
        ],
        sparse_threshold=0.0,
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=2000, random_state=seed))])


def deterministic_skops(model: Pipeline) -> bytes:
    """The skops archive made byte-stable, so the same fit gives the same file (and model version).

    skops names array files and nodes by `id()` and stamps zip entries with the current time; both are
    renumbered in order of appearance and the timestamps fixed. Loading is unaffected (ids only link).
    """
    source = zipfile.ZipFile(io.BytesIO(sio.dumps(model)))
    schema = source.read("schema.json").decode("utf-8")
    ids: dict[str, str] = {}
    for match in _SKOPS_ID.finditer(schema):
        ids.setdefault(match.group(2), str(len(ids) + 1))
    renamed = _SKOPS_ID.sub(lambda m: f"{m.group(1)}{ids[m.group(2)]}", schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        entries = {"schema.json": renamed.encode("utf-8")}
        for info in source.infolist():
            if info.filename != "schema.json":
                stem = info.filename.removesuffix(".npy")
                entries[f"{ids[stem]}.npy"] = source.read(info.filename)
        for name in sorted(entries):
            fixed = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, entries[name])
    return out.getvalue()


def _holdout_metrics(model: Pipeline, x: pd.DataFrame, y: np.ndarray) -> dict[str, float | int]:
    proba = model.predict_proba(x)[:, 1]
    pred = (proba >= 0.5).astype(np.int64)
    return {
        "rows": len(y),
        "roc_auc": round(float(roc_auc_score(y, proba)), 6),
        "accuracy": round(float(accuracy_score(y, pred)), 6),
        "f1": round(float(f1_score(y, pred)), 6),
        "log_loss": round(float(log_loss(y, proba)), 6),
    }


def train(out: Path, seed: int = 42, at: datetime | None = None) -> TrainResult:
    """Fit, evaluate and write the three artefacts of docs/architecture.md into `out`.

    `at` is the card's `trained_at` (default: see `trained_at`); the same seed and time give
    byte-identical files, so tests pass a fixed one.
    """
    data = synthetic.generate(TRAIN_ROWS, seed=seed)
    x = data[list(synthetic.FEATURE_NAMES)]
    y = data[synthetic.TARGET].to_numpy(np.int64)
    x_train, x_hold, y_train, y_hold = train_test_split(
        x, y, test_size=HOLDOUT_SHARE, random_state=seed, stratify=y
    )
    model = build_pipeline(seed).fit(x_train, y_train)
    reference = synthetic.generate(REFERENCE_ROWS, seed=seed + REFERENCE_SEED_OFFSET)
    # The same path as `driftwatch-inference package`: the demo is one user of it, not a special case.
    card = package_model(
        deterministic_skops(model), reference, synthetic.TARGET, out, name=MODEL_NAME,
        trained=trained_at(at), features=synthetic.FEATURES,
        extra={"seed": seed, "metrics": {"holdout": _holdout_metrics(model, x_hold, y_hold)}},
    )  # fmt: skip
    return TrainResult(model_dir=out, card=card)
