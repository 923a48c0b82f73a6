"""The model card: what a trained model accepts and how it did, as written next to the model file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from driftwatch_capture.schema import TASKS, ClassLabel, Task

MODEL_FILE = "model.skops"
CARD_FILE = "model-card.json"
REFERENCE_FILE = "reference.parquet"
# What the service does with a category the card does not list or a number outside `valid_range`.
UNSEEN_POLICIES = ("accept", "reject")
UnseenPolicy = Literal["accept", "reject"]


@dataclass(frozen=True)
class FeatureSpec:
    """One input feature: its kind and the domain the service accepts (not the observed range).

    The generator declares its features with it, training writes them into the card, and the service
    builds its request model from the card's copy.
    """

    name: str
    kind: Literal["numerical", "categorical"]
    dtype: Literal["int", "float", "str"]
    categories: tuple[str, ...] = ()
    valid_min: float | None = None
    valid_max: float | None = None
    description: str = ""
    # False when the packager found that the model's encoder raises on a category it has not seen.
    accepts_unseen: bool = True


@dataclass(frozen=True)
class ModelCard:
    """The parsed card plus its raw JSON (served as is by GET /v1/model)."""

    name: str
    version: str
    trained_at: str
    target: str
    classes: tuple[ClassLabel, ...]
    features: tuple[FeatureSpec, ...]
    raw: dict[str, Any]
    task: Task = "binary"
    # skops types beyond its default set that the packager reviewed (`package --trust`).
    trusted_types: tuple[str, ...] = ()
    unseen: UnseenPolicy = "accept"
    # Regression only: histogram bounds from the reference's predictions.
    prediction_buckets: tuple[float, ...] = ()

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def is_classifier(self) -> bool:
        return self.task != "regression"


def parse_card(raw: dict[str, Any]) -> ModelCard:
    """Read the fields the service relies on; a card missing one of them is a KeyError at start-up."""
    features = []
    for item in raw["features"]:
        valid = item.get("valid_range") or {}
        features.append(
            FeatureSpec(
                name=item["name"],
                kind=item["kind"],
                dtype=item["dtype"],
                categories=tuple(item.get("categories") or ()),
                valid_min=valid.get("min"),
                valid_max=valid.get("max"),
                description=item.get("description", ""),
                accepts_unseen=bool(item.get("accepts_unseen", True)),
            )
        )
    task = raw.get("task", "binary")
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {', '.join(TASKS)}")
    classes = tuple(raw["classes"]) if task != "regression" else ()
    if task != "regression" and (len(classes) < 2 or (task == "binary") != (len(classes) == 2)):
        raise ValueError(f"a {task} card lists {len(classes)} classes")
    unseen = raw.get("unseen", "accept")
    if unseen not in UNSEEN_POLICIES:
        raise ValueError(f"unseen {unseen!r} is not one of {', '.join(UNSEEN_POLICIES)}")
    return ModelCard(
        name=raw["name"],
        version=raw["version"],
        trained_at=raw["trained_at"],
        target=raw["target"],
        classes=classes,
        features=tuple(features),
        raw=raw,
        task=task,
        trusted_types=tuple(raw.get("trusted_types") or ()),
        unseen=unseen,
        prediction_buckets=tuple(float(b) for b in raw.get("prediction_buckets") or ()),
    )


def load_card(model_dir: Path) -> ModelCard:
    return parse_card(json.loads((model_dir / CARD_FILE).read_text(encoding="utf-8")))


def feature_entries(
    specs: Sequence[FeatureSpec], observed: dict[str, tuple[float, float]]
) -> list[dict[str, Any]]:
    """Card entries for the features, with the ranges seen in training."""
    out: list[dict[str, Any]] = []
    for spec in specs:
        entry: dict[str, Any] = {"name": spec.name, "kind": spec.kind, "dtype": spec.dtype}
        if spec.kind == "categorical":
            entry["categories"] = list(spec.categories)
            if not spec.accepts_unseen:
                entry["accepts_unseen"] = False
        else:
            entry["valid_range"] = {"min": spec.valid_min, "max": spec.valid_max}
            lo, hi = observed[spec.name]
            entry["observed_range"] = {"min": lo, "max": hi}
        if spec.description:
            entry["description"] = spec.description
        out.append(entry)
    return out
