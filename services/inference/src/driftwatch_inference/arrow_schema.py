"""The capture schemas (driftwatch_capture, shared with the drift check) for a model card."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
from driftwatch_capture import schema

from driftwatch_inference.model_card import FeatureSpec, ModelCard


def _pairs(features: Iterable[FeatureSpec]) -> list[tuple[str, str]]:
    return [(f.name, f.dtype) for f in features]


def reference_schema(card: ModelCard) -> pa.Schema:
    return schema.reference_schema(_pairs(card.features), card.target, card.task, card.classes)


def prediction_schema(card: ModelCard) -> pa.Schema:
    return schema.prediction_schema(_pairs(card.features), card.task, card.classes)
