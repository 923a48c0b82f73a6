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


def test_a_multiclass_model_writes_one_probability_per_class() -> None:
    fields = schema.output_fields("multiclass", ["gold", "silver", "bronze"])
    assert [f.name for f in fields] == [
        "prediction",
        "probability",
        "probability_gold",
        "probability_silver",
        "probability_bronze",
    ]
    assert fields[0].type == pa.string()
    assert all(schema.is_output_column(f.name) for f in fields)


def test_a_regression_writes_a_float_prediction_and_takes_float_labels() -> None:
    written = schema.prediction_schema([("x", "float")], "regression", [])
    assert written.names[-2:] == ["x", "prediction"]
    assert written.field("prediction").type == pa.float64()
    assert schema.feedback_schema("regression", []).field("label").type == pa.float64()


def test_integer_classes_keep_integer_labels_and_string_classes_string_labels() -> None:
    assert schema.label_type("binary", [0, 1]) == pa.int64()
    assert schema.label_type("multiclass", ["a", "b", "c"]) == pa.string()
    assert schema.reference_schema([("x", "int")], "y", "multiclass", [1, 2, 3]).field("y").type == pa.int64()


def test_an_unknown_task_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="ranking"):
        schema.output_fields("ranking", [])  # type: ignore[arg-type]
