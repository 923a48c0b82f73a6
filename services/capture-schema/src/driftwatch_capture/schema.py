"""Column names and Arrow types of the capture dataset (docs/architecture.md, "Capture dataset").

The inference service writes predictions and feedback with these schemas; the drift check reads
them back, and never monitors these columns as features.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

REQUEST_ID = "request_id"
TS = "ts"
MODEL_VERSION = "model_version"
EVENT_TIME = "event_time"
LABEL = "label"
PREDICTION = "prediction"
PROBABILITY = "probability"

TIMESTAMP = pa.timestamp("us", tz="UTC")
# A feature's type as the model card names it → its Arrow type.
FEATURE_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}

# Written around the features of every prediction row, and in every feedback row.
PREDICTION_METADATA = (
    pa.field(REQUEST_ID, pa.string()),
    pa.field(TS, TIMESTAMP),
    pa.field(MODEL_VERSION, pa.string()),
)
OUTPUTS = (pa.field(PREDICTION, pa.int64()), pa.field(PROBABILITY, pa.float64()))
FEEDBACK_SCHEMA = pa.schema(
    [
        pa.field(REQUEST_ID, pa.string()),
        pa.field(TS, TIMESTAMP),
        pa.field(EVENT_TIME, TIMESTAMP),
        pa.field(LABEL, pa.int64()),
    ]
)
# Columns the capture adds that are never features (the outputs are named in a DriftCheck instead).
NON_FEATURE_COLUMNS = tuple(dict.fromkeys([*(f.name for f in PREDICTION_METADATA), *FEEDBACK_SCHEMA.names]))
OUTPUT_COLUMNS = tuple(f.name for f in OUTPUTS)


def feature_fields(features: Iterable[tuple[str, str]]) -> list[pa.Field]:
    """(name, model-card type) pairs as Arrow fields."""
    return [pa.field(name, FEATURE_TYPES[dtype]) for name, dtype in features]


def prediction_schema(features: Iterable[tuple[str, str]]) -> pa.Schema:
    """One captured prediction: request id, time, model version, every feature, the outputs."""
    return pa.schema([*PREDICTION_METADATA, *feature_fields(features), *OUTPUTS])


def reference_schema(features: Iterable[tuple[str, str]], target: str) -> pa.Schema:
    """The reference dataset: every feature, the outputs and the label (as `target`)."""
    return pa.schema([*feature_fields(features), *OUTPUTS, pa.field(target, pa.int64())])
