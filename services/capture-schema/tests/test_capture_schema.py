"""The capture contract: what a prediction and a feedback row hold, and what is never a feature."""

from __future__ import annotations

import pyarrow as pa
import pytest
from driftwatch_capture import schema

pytestmark = pytest.mark.unit


def test_a_prediction_row_is_metadata_features_then_outputs() -> None:
    written = schema.prediction_schema([("age", "int"), ("region", "str")])
    assert written.names == [
        "request_id",
        "ts",
        "model_version",
        "age",
        "region",
        "prediction",
        "probability",
    ]
    assert written.field("ts").type == pa.timestamp("us", tz="UTC")
    assert written.field("region").type == pa.string()


def test_feedback_rows_join_on_the_request_id() -> None:
    assert schema.FEEDBACK_SCHEMA.names == ["request_id", "ts", "event_time", "label"]


def test_what_the_capture_adds_is_never_a_feature() -> None:
    assert schema.NON_FEATURE_COLUMNS == ("request_id", "ts", "model_version", "event_time", "label")
    assert schema.OUTPUT_COLUMNS == ("prediction", "probability")


def test_the_reference_holds_the_label_under_its_own_name() -> None:
    reference = schema.reference_schema([("tenure", "float")], "churned")
    assert reference.names == ["tenure", "prediction", "probability", "churned"]
