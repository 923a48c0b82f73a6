"""The capture schemas (driftwatch_capture, shared with the drift check) for a model card."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
from driftwatch_capture import schema
from driftwatch_capture.schema import CaptureControls

from driftwatch_inference.model_card import FeatureSpec, ModelCard


def _pairs(features: Iterable[FeatureSpec]) -> list[tuple[str, str]]:
    return [(f.name, f.dtype) for f in features]


def reference_schema(card: ModelCard) -> pa.Schema:
    return schema.reference_schema(_pairs(card.features), card.target, card.task, card.classes)


def prediction_schema(card: ModelCard, controls: CaptureControls | None = None) -> pa.Schema:
    """The captured prediction rows; with `controls`, without excluded features, hashed ones as strings,
    and the controls in the schema's metadata (every file written with it carries them)."""
    if controls is None:
        return schema.prediction_schema(_pairs(card.features), card.task, card.classes)
    features = schema.controlled_features(_pairs(card.features), controls)
    return schema.prediction_schema(features, card.task, card.classes).with_metadata(controls.to_metadata())
