"""`package`: a model directory (model, card, scored reference) from a user's skops file and reference data.

`driftwatch-demo train` writes its directory through `package_model` too, so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import skops.io as sio
from sklearn.pipeline import Pipeline

from driftwatch_inference.arrow_schema import reference_schema
from driftwatch_inference.model_card import (
    CARD_FILE,
    MODEL_FILE,
    REFERENCE_FILE,
    FeatureSpec,
    feature_entries,
)
from driftwatch_inference.scoring import UntrustedTypesError, load_pipeline_bytes

OUTPUT_COLUMNS = ("prediction", "probability")
BINARY_ONLY = "only binary classification is served today"


class PackagingError(ValueError):
    """An artefact that cannot become a model directory; the message is one line for the user."""


def model_version(blob: bytes) -> str:
    """`1.0.0-<12 hex of the model file's sha256>`: the same file, the same version."""
    return f"1.0.0-{hashlib.sha256(blob).hexdigest()[:12]}"


def trained_at(moment: datetime | None = None) -> str:
    """`moment`, else SOURCE_DATE_EPOCH when set (reproducible builds), else now; seconds, UTC."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if moment is None:
        moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def widened_range(lo: float, hi: float, dtype: str) -> tuple[float, float]:
    """The observed range widened by its own width on each side, never below 0 for a never-negative feature.

    Values a little outside what the reference saw are the drift the check is there to see, so the
    service accepts them; far outside (or negative where nothing was) is more likely a broken client.
    """
    width = hi - lo if hi > lo else max(abs(hi), 1.0)
    low, high = lo - width, hi + width
    if lo >= 0:
        low = max(low, 0.0)
    if dtype == "int":
        return float(math.floor(low)), float(math.ceil(high))
    return low, high


def _feature_names(model: Pipeline, reference: pd.DataFrame, target: str) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [str(c) for c in reference.columns if c not in (target, *OUTPUT_COLUMNS)]


def _feature_spec(name: str, column: pd.Series) -> FeatureSpec:
    """Kind, dtype, categories and valid range of one reference column."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return FeatureSpec(name, "categorical", "str", tuple(str(c) for c in dtype.categories))
    if pd.api.types.is_string_dtype(dtype) or dtype is np.dtype(object):
        return FeatureSpec(
            name, "categorical", "str", tuple(sorted(str(v) for v in column.dropna().unique()))
        )
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise PackagingError(f"feature {name!r} has dtype {dtype}; numbers and strings are served today")
    kind: Literal["int", "float"] = "int" if pd.api.types.is_integer_dtype(dtype) else "float"
    lo, hi = widened_range(float(column.min()), float(column.max()), kind)
    return FeatureSpec(name, "numerical", kind, valid_min=_cast(lo, kind), valid_max=_cast(hi, kind))


def _cast(value: float, dtype: str) -> float:
    # Integers stay integers in the card (`"max": 240`, not `240.0`).
    return int(value) if dtype == "int" else float(value)


def _declared_or_inferred(
    model: Pipeline, reference: pd.DataFrame, target: str, declared: Sequence[FeatureSpec] | None
) -> tuple[FeatureSpec, ...]:
    """The declared features, else the model's own typed from the reference; all must be reference columns."""
    names = [f.name for f in declared] if declared is not None else _feature_names(model, reference, target)
    missing = [n for n in names if n not in reference.columns]
    if missing:
        raise PackagingError(f"feature(s) missing from the reference: {', '.join(missing)}")
    if declared is not None:
        return tuple(declared)
    return tuple(_feature_spec(name, reference[name]) for name in names)


def _observed_ranges(
    reference: pd.DataFrame, features: Sequence[FeatureSpec]
) -> dict[str, tuple[float, float]]:
    return {
        f.name: (_cast(reference[f.name].min(), f.dtype), _cast(reference[f.name].max(), f.dtype))
        for f in features
        if f.kind == "numerical"
    }


def _binary_classes(model: Pipeline, labels: pd.Series) -> list[int]:
    classes = getattr(model, "classes_", None)
    if classes is None or not hasattr(model, "predict_proba"):
        raise PackagingError(f"the model is a {type(model[-1]).__name__}, not a classifier: {BINARY_ONLY}")
    if len(classes) != 2:
        raise PackagingError(f"the model has {len(classes)} classes: {BINARY_ONLY}")
    if labels.nunique(dropna=True) > 2:
        raise PackagingError(f"target {labels.name!r} has {labels.nunique()} distinct labels: {BINARY_ONLY}")
    try:
        as_ints = [int(c) for c in classes]
    except (TypeError, ValueError):
        raise PackagingError(f"classes {list(classes)} are not integers (e.g. 0/1): {BINARY_ONLY}") from None
    # The reference's labels are written as int64 next to the model's outputs: each must be a class.
    if labels.isna().any() or not set(labels.unique()) <= set(classes):
        raise PackagingError(
            f"target {labels.name!r} holds missing labels or labels not in the classes {as_ints}"
        )
    return as_ints


def _one_line(exc: Exception) -> str:
    """`Type: first line of the message`: the user's library may raise several paragraphs."""
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"


def scored_reference(
    model: Pipeline, reference: pd.DataFrame, features: Sequence[FeatureSpec], target: str
) -> pa.Table:
    """The reference as the drift check reads it: every feature, the model's outputs, the label."""
    x = reference[[f.name for f in features]]
    try:
        proba = np.asarray(model.predict_proba(x))[:, 1]
        prediction = np.asarray(model.predict(x))
    except Exception as exc:  # any failure of the user's model is a refusal, not a traceback
        raise PackagingError(f"the model cannot score the reference: {_one_line(exc)}") from None
    columns: dict[str, Any] = {}
    for f in features:
        column = x[f.name]
        if f.kind == "categorical":
            columns[f.name] = [None if pd.isna(v) else str(v) for v in column]
        else:
            columns[f.name] = column.to_numpy(np.int64 if f.dtype == "int" else np.float64)
    columns["prediction"] = prediction.astype(np.int64)
    columns["probability"] = proba.astype(np.float64)
    columns[target] = reference[target].to_numpy(np.int64)
    return pa.Table.from_pydict(columns, schema=reference_schema(features, target))


def _write_atomically(out: Path, files: Mapping[str, bytes | pa.Table]) -> None:
    """Write every file into a temporary sibling of `out`, then move each into place: all or nothing."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for name, content in files.items():
            if isinstance(content, pa.Table):
                pq.write_table(content, staging / name)
            else:
                (staging / name).write_bytes(content)
        out.mkdir(exist_ok=True)
        for name in files:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def package_model(
    blob: bytes,
    reference: pd.DataFrame,
    target: str,
    out: Path,
    *,
    name: str,
    trained: str,
    version: str | None = None,
    trust: Sequence[str] = (),
    features: Sequence[FeatureSpec] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check the model against the reference and write model, card and scored reference into `out`.

    `features` declares the domain (as the demo's generator does); by default it is inferred from the
    reference. `extra` adds fields to the card (the demo's seed and holdout metrics). Raises
    `PackagingError` (or `UntrustedTypesError`) before anything is written.
    """
    try:
        model = load_pipeline_bytes(blob, trust)
    except UntrustedTypesError:
        raise
    except Exception as exc:
        raise PackagingError(f"the model file does not load as a skops Pipeline: {_one_line(exc)}") from None
    if target not in reference.columns:
        raise PackagingError(f"target {target!r} is not a column of the reference")
    classes = _binary_classes(model, reference[target])
    specs = _declared_or_inferred(model, reference, target, features)
    table = scored_reference(model, reference, specs, target)
    card: dict[str, Any] = {
        "name": name,
        "version": version or model_version(blob),
        "trained_at": trained,
        "task": "binary",
        "target": target,
        "classes": classes,
        "features": feature_entries(specs, _observed_ranges(reference, specs)),
        **(extra or {}),
        "reference": {"file": REFERENCE_FILE, "rows": table.num_rows},
        # Exactly the types this file needs beyond skops' default set, each one named by the packager.
        "trusted_types": sorted(set(trust) & set(sio.get_untrusted_types(data=blob))),
    }
    card_bytes = (json.dumps(card, indent=2) + "\n").encode("utf-8")
    _write_atomically(out, {MODEL_FILE: blob, REFERENCE_FILE: table, CARD_FILE: card_bytes})
    return card
