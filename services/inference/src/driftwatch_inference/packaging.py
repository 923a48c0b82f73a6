"""`package`: a model directory (model, card, scored reference) from a user's skops file and reference data.

`driftwatch-demo train` writes its directory through `package_model` too, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
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
from driftwatch_capture import schema
from sklearn.base import BaseEstimator

from driftwatch_inference.arrow_schema import reference_schema
from driftwatch_inference.model_card import (
    CARD_FILE,
    MODEL_FILE,
    REFERENCE_FILE,
    TASKS,
    ClassLabel,
    FeatureSpec,
    ModelCard,
    Task,
    UnseenPolicy,
    feature_entries,
    parse_card,
)
from driftwatch_inference.outputs import interpret
from driftwatch_inference.request_ids import RequestIds
from driftwatch_inference.scoring import UntrustedTypesError, load_model_bytes, model_outputs

# A category no reference holds: the packager scores a row with it to learn whether the encoder takes it.
UNSEEN_PROBE = "<driftwatch: unseen category>"
# Bounds of a regression's prediction histogram: this many quantiles of the reference's predictions.
VALUE_BUCKETS = 12


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


def _feature_names(model: BaseEstimator, reference: pd.DataFrame, target: str) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [str(c) for c in reference.columns if c != target and not schema.is_output_column(str(c))]


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
    model: BaseEstimator, reference: pd.DataFrame, target: str, declared: Sequence[FeatureSpec] | None
) -> tuple[FeatureSpec, ...]:
    """The declared features, else the model's own typed from the reference; all must be reference columns."""
    names = [f.name for f in declared] if declared is not None else _feature_names(model, reference, target)
    missing = [n for n in names if n not in reference.columns]
    if missing:
        raise PackagingError(f"feature(s) missing from the reference: {', '.join(missing)}")
    clashing = [n for n in names if schema.is_output_column(n) or n == target]
    if clashing:
        raise PackagingError(
            f"feature(s) {', '.join(clashing)} share a name with the target or an output column "
            "(prediction, probability, probability_<class>): rename them before fitting"
        )
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


def _python_label(value: Any) -> ClassLabel:
    """A class as JSON holds it: an int, or a str; anything else is refused."""
    if isinstance(value, bool | np.bool_ | float | np.floating):
        raise PackagingError(
            f"class {value!r} is a {type(value).__name__}: classes must be integers or strings"
        )
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, str):
        return value
    raise PackagingError(f"class {value!r} is a {type(value).__name__}: classes must be integers or strings")


def _task_and_classes(
    model: BaseEstimator, labels: pd.Series, task: Task | None
) -> tuple[Task, list[ClassLabel]]:
    """The task (given, or read off the model) and the classes; refuses a model that is not that task."""
    model_classes: Any = getattr(model, "classes_", None)
    is_classifier = model_classes is not None and hasattr(model, "predict_proba")
    if task is None:
        task = "regression" if not is_classifier else ("binary" if len(model_classes) == 2 else "multiclass")
    if task not in TASKS:
        raise PackagingError(f"task {task!r} is not one of {', '.join(TASKS)}")
    if task == "regression":
        if is_classifier:
            shown = [c.item() if hasattr(c, "item") else c for c in model_classes]
            raise PackagingError(f"the model is a classifier with classes {shown}, not a regression")
        if not pd.api.types.is_numeric_dtype(labels) or pd.api.types.is_bool_dtype(labels):
            raise PackagingError(
                f"target {labels.name!r} holds {labels.dtype} values: a regression needs numbers"
            )
        if labels.isna().any():
            raise PackagingError(f"target {labels.name!r} has missing labels")
        return task, []
    if not is_classifier:
        raise PackagingError(
            f"the model is a {type(model).__name__} without predict_proba and classes_: "
            f"not a {task} classifier (use --task regression for a regressor)"
        )
    classes = [_python_label(c) for c in model_classes]
    if task == "binary" and len(classes) != 2:
        raise PackagingError(f"the model has {len(classes)} classes, not 2: use --task multiclass")
    if task == "multiclass" and len(classes) < 3:
        raise PackagingError(f"the model has {len(classes)} classes: use --task binary")
    if len({str(c) for c in classes}) != len(classes):
        raise PackagingError(f"classes {classes} are not distinct as text")
    # The reference's labels are written next to the model's outputs: each must be a class.
    if labels.isna().any() or not set(labels.unique()) <= set(model_classes):
        raise PackagingError(
            f"target {labels.name!r} holds missing labels or labels not in the classes {classes}"
        )
    return task, classes


def _one_line(exc: Exception) -> str:
    """`Type: first line of the message`: the user's library may raise several paragraphs."""
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"


def scored_reference(model: BaseEstimator, reference: pd.DataFrame, card: ModelCard) -> pa.Table:
    """The reference as the drift check reads it: every feature, the model's outputs, the label.

    The outputs are computed as the service computes them (`outputs.interpret`), so the reference's
    prediction distribution is the one served traffic is compared with.
    """
    x = reference[list(card.feature_names)]
    try:
        raw = model_outputs(model, x, card)
    except Exception as exc:  # any failure of the user's model is a refusal, not a traceback
        raise PackagingError(f"the model cannot score the reference: {_one_line(exc)}") from None
    if not np.isfinite(raw).all():
        raise PackagingError("the model's outputs on the reference include NaN or infinite values")
    columns: dict[str, Any] = {}
    for f in card.features:
        column = x[f.name]
        if f.kind == "categorical":
            columns[f.name] = [None if pd.isna(v) else str(v) for v in column]
        else:
            columns[f.name] = column.to_numpy(np.int64 if f.dtype == "int" else np.float64)
    scored = interpret(card, raw, RequestIds().take)
    names = [field.name for field in schema.output_fields(card.task, card.classes)]
    for i, name in enumerate(names):
        columns[name] = [s.outputs()[i] for s in scored]
    labels = reference[card.target]
    columns[card.target] = labels.to_numpy(np.float64) if card.task == "regression" else list(labels)
    return pa.Table.from_pydict(columns, schema=reference_schema(card))


def _unseen_probe(model: BaseEstimator, reference: pd.DataFrame, card: ModelCard) -> tuple[FeatureSpec, ...]:
    """The features, each categorical marked with whether the model scores a category it never saw."""
    row = reference[list(card.feature_names)].head(1)
    out = []
    for f in card.features:
        if f.kind == "categorical":
            probe = row.copy()
            probe[f.name] = probe[f.name].astype(object)
            probe.loc[probe.index[0], f.name] = UNSEEN_PROBE
            try:
                accepted = bool(np.isfinite(model_outputs(model, probe, card)).all())
            except Exception:  # an encoder with handle_unknown="error" raises: that feature refuses them
                accepted = False
            f = dataclasses.replace(f, accepts_unseen=accepted)
        out.append(f)
    return tuple(out)


def _value_buckets(reference: pa.Table) -> list[float]:
    """Histogram bounds for a regression's predictions: distinct quantiles of the reference's."""
    values = np.asarray(reference.column(schema.PREDICTION).to_numpy(), dtype=np.float64)
    quantiles = np.quantile(values, np.linspace(0, 1, VALUE_BUCKETS))
    return sorted({float(q) for q in quantiles})


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
    task: Task | None = None,
    unseen: UnseenPolicy = "accept",
) -> dict[str, Any]:
    """Check the model against the reference and write model, card and scored reference into `out`.

    `features` declares the domain (as the demo's generator does); by default it is inferred from the
    reference. `task` defaults to what the model is (a classifier's class count, else regression).
    `extra` adds fields to the card (the demo's seed and holdout metrics). Raises `PackagingError`
    (or `UntrustedTypesError`) before anything is written.
    """
    try:
        model = load_model_bytes(blob, trust)
    except UntrustedTypesError:
        raise
    except Exception as exc:
        raise PackagingError(f"the model file does not load as a skops model: {_one_line(exc)}") from None
    if target not in reference.columns:
        raise PackagingError(f"target {target!r} is not a column of the reference")
    if reference.empty:
        raise PackagingError("the reference has no rows")
    task, classes = _task_and_classes(model, reference[target], task)
    specs = _declared_or_inferred(model, reference, target, features)
    card: dict[str, Any] = {
        "name": name,
        "version": version or model_version(blob),
        "trained_at": trained,
        "task": task,
        "target": target,
        "classes": classes,
        "features": feature_entries(specs, _observed_ranges(reference, specs)),
        "unseen": unseen,
    }
    parsed = parse_card(card)
    table = scored_reference(model, reference, parsed)
    specs = _unseen_probe(model, reference, parsed)
    card["features"] = feature_entries(specs, _observed_ranges(reference, specs))
    if task == "regression":
        card["prediction_buckets"] = _value_buckets(table)
    card |= {
        **(extra or {}),
        "reference": {"file": REFERENCE_FILE, "rows": table.num_rows},
        # Exactly the types this file needs beyond skops' default set, each one named by the packager.
        "trusted_types": sorted(set(trust) & set(sio.get_untrusted_types(data=blob))),
    }
    card_bytes = (json.dumps(card, indent=2) + "\n").encode("utf-8")
    _write_atomically(out, {MODEL_FILE: blob, REFERENCE_FILE: table, CARD_FILE: card_bytes})
    return card
