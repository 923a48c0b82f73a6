"""Arrow schemas of the datasets written here (docs/architecture.md): reference, predictions, feedback."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from driftwatch_inference.model_card import FeatureSpec

TIMESTAMP = pa.timestamp("us", tz="UTC")
_ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}


def feature_fields(features: Iterable[FeatureSpec]) -> list[pa.Field]:
    return [pa.field(f.name, _ARROW_TYPES[f.dtype]) for f in features]


def reference_schema(features: Iterable[FeatureSpec], target: str) -> pa.Schema:
    return pa.schema(
        [
            *feature_fields(features),
            pa.field("prediction", pa.int64()),
            pa.field("probability", pa.float64()),
            pa.field(target, pa.int64()),
        ]
    )


def prediction_schema(features: Iterable[FeatureSpec]) -> pa.Schema:
    return pa.schema(
        [
            pa.field("request_id", pa.string()),
            pa.field("ts", TIMESTAMP),
            pa.field("model_version", pa.string()),
            *feature_fields(features),
            pa.field("prediction", pa.int64()),
            pa.field("probability", pa.float64()),
        ]
    )


FEEDBACK_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string()),
        pa.field("ts", TIMESTAMP),
        pa.field("event_time", TIMESTAMP),
        pa.field("label", pa.int64()),
    ]
)
