"""The model card: what a trained model accepts and how it did, as written next to the model file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

MODEL_FILE = "model.skops"
CARD_FILE = "model-card.json"
REFERENCE_FILE = "reference.parquet"
# What a card's model predicts (`task`); multiclass and regression are issue 10, item 3.
TASKS = ("binary",)


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


@dataclass(frozen=True)
class ModelCard:
    """The parsed card plus its raw JSON (served as is by GET /v1/model)."""

    name: str
    version: str
    trained_at: str
    target: str
    classes: tuple[int, ...]
    features: tuple[FeatureSpec, ...]
    raw: dict[str, Any]
    # skops types beyond its default set that the packager reviewed (`package --trust`).
    trusted_types: tuple[str, ...] = ()

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)


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
            )
        )
    return ModelCard(
        name=raw["name"],
        version=raw["version"],
        trained_at=raw["trained_at"],
        target=raw["target"],
        classes=tuple(int(c) for c in raw["classes"]),
        features=tuple(features),
        raw=raw,
        trusted_types=tuple(raw.get("trusted_types") or ()),
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
        else:
            entry["valid_range"] = {"min": spec.valid_min, "max": spec.valid_max}
            lo, hi = observed[spec.name]
            entry["observed_range"] = {"min": lo, "max": hi}
        if spec.description:
            entry["description"] = spec.description
        out.append(entry)
    return out
