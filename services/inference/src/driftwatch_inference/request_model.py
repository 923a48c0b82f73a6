"""Pydantic request and response models built from the model card: typed, ranged, closed."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    WithJsonSchema,
    create_model,
)
from pydantic_core import PydanticCustomError

from driftwatch_inference.model_card import FeatureSpec, ModelCard
from driftwatch_inference.unseen import accepts_unseen

RequestId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
# The integers JSON numbers carry exactly (a float holds every one of them): the widest an int feature
# accepts under `unseen: accept`, and so within the capture's int64 column; beyond it 2**63 and
# 2**63 - 1 are the same double, and a schema bound there cannot be honoured (issue 12).
JSON_SAFE_INT = 2**53 - 1
# The longest category string accepted under `unseen: accept` (the capture stores it as sent).
MAX_CATEGORY_LENGTH = 256

# Tags of the predict body's two shapes; they appear in pydantic error locations and are stripped
# before errors are returned (rejections.py), so a client sees `instances.3.tenure_months`.
RECORD_TAG = "<record>"
BATCH_TAG = "<batch>"


def _integral(value: Any) -> Any:
    """14.0 is the integer 14 (JSON Schema's `integer` holds it, and so do clients' JSON encoders);
    14.5, "14" and true stay wrong types for the strict check that follows (issue 12)."""
    if isinstance(value, float) and value.is_integer() and -JSON_SAFE_INT <= value <= JSON_SAFE_INT:
        return int(value)
    return value


# An int field or class: an integer, or a float with no fractional part; never a string or a bool.
# The validator comes last so that the constraints before it stay `minimum`/`maximum` in the schema.
INTEGRAL = BeforeValidator(_integral)


def _field_type(feature: FeatureSpec, accept: bool) -> Any:
    if feature.kind == "categorical":
        if accept:
            return Annotated[str, Field(strict=True, min_length=1, max_length=MAX_CATEGORY_LENGTH)]
        return Literal[tuple(feature.categories)]
    # strict: "12" or true is a wrong type, not 12; 12.5 is not an int (12.0 is); inf/NaN are refused.
    # Accepted values still fit the capture's int64 column (a larger integer is a wrong value, not drift).
    low, high = (-JSON_SAFE_INT, JSON_SAFE_INT) if accept else (feature.valid_min, feature.valid_max)
    if accept and feature.dtype == "float":
        low, high = None, None
    constraints = Field(strict=True, ge=low, le=high, allow_inf_nan=False)
    if feature.dtype == "int":
        return Annotated[int, constraints, INTEGRAL]
    return Annotated[float, constraints]


def record_model(card: ModelCard) -> type[BaseModel]:
    """One row of features; missing, extra, mistyped or non-finite fields fail, and values outside the
    card's domain too unless the card accepts them (`unseen: accept`)."""
    fields: dict[str, Any] = {f.name: (_field_type(f, accepts_unseen(card, f)), ...) for f in card.features}
    return create_model(
        "Record",
        __config__=ConfigDict(extra="forbid", title=f"{card.name} record"),
        **fields,
    )


def _shape(body: Any) -> str:
    return BATCH_TAG if isinstance(body, dict) and "instances" in body else RECORD_TAG


@dataclass(frozen=True)
class RequestModels:
    """The models the routes validate with and answer in (built once per app, from the card)."""

    record: type[BaseModel]
    batch: type[BaseModel]
    predict_body: Any
    feedback: type[BaseModel]
    prediction: type[BaseModel]
    predict_response: type[BaseModel]
    batch_response: type[BaseModel]


def build_request_models(card: ModelCard, max_batch_size: int) -> RequestModels:
    record = record_model(card)
    batch = create_model(
        "Batch",
        __config__=ConfigDict(extra="forbid"),
        instances=(list[record], Field(min_length=1, max_length=max_batch_size)),  # type: ignore[valid-type]
    )
    # A runtime-built type (its members come from the card), so it is opaque to mypy.
    body: Any = Annotated[
        Union[Annotated[record, Tag(RECORD_TAG)], Annotated[batch, Tag(BATCH_TAG)]],  # noqa: UP007
        Discriminator(_shape),
    ]
    prediction = _prediction_model(card)
    return RequestModels(
        record=record,
        batch=batch,
        predict_body=body,
        feedback=feedback_model(card),
        prediction=prediction,
        predict_response=create_model(
            "PredictResponse",
            __base__=prediction,
            __doc__="The answer to a single record.",
            model_version=str,
        ),
        batch_response=create_model(
            "BatchPredictResponse",
            __doc__="The answer to a batch, in request order.",
            predictions=(list[prediction], ...),  # type: ignore[valid-type]
            model_version=(str, ...),
        ),
    )


def _class_type(card: ModelCard) -> Any:
    classes = card.classes
    if all(isinstance(c, int) for c in classes):
        # true and "1" are not the class 1; 1.0 is (the schema's enum [0, 1] holds it, as JSON Schema
        # compares numbers by value).
        def known(value: int) -> int:
            if value not in classes:
                raise ValueError(f"the model's classes are {list(classes)}")
            return value

        schema = {"type": "integer", "enum": list(classes)}
        return Annotated[int, Strict(), AfterValidator(known), INTEGRAL, WithJsonSchema(schema)]
    return Literal[tuple(str(c) for c in classes)]


def _prediction_model(card: ModelCard) -> type[BaseModel]:
    """One scored row, as the card's task answers it (docs/architecture.md, table of tasks)."""
    fields: dict[str, Any] = {}
    if card.task == "regression":
        fields["prediction"] = (float, Field(description="the predicted value"))
    else:
        fields["prediction"] = (_class_type(card), Field(description="the predicted class"))
        what = "the positive class" if card.task == "binary" else "the predicted class"
        fields["probability"] = (float, Field(description=f"probability of {what}"))
    if card.task == "multiclass":
        fields["probabilities"] = (dict[str, float], Field(description="every class's probability"))
    fields["request_id"] = (str, Field(description="quote it in /v1/feedback"))
    return create_model("Prediction", __doc__="One scored row.", **fields)


# Feedback `event_time` (issue 12): an RFC 3339 string, never a number (pydantic would read one as Unix
# seconds), between EVENT_TIME_MIN and one day after now; a year-10000 time was stored and broke readers.
EVENT_TIME_MIN = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
EVENT_TIME_MAX_AHEAD = dt.timedelta(days=1)
_RFC3339_AFTER_YEAR = (
    r"-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_RFC3339 = re.compile(r"^[0-9]{4}" + _RFC3339_AFTER_YEAR)
# The published schema: the same pattern with the years cut to 20xx (the upper bound moves with now).
_EVENT_TIME_SCHEMA = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^20[0-9]{2}" + _RFC3339_AFTER_YEAR,
    "description": "RFC 3339 time of the labelled event, e.g. 2026-11-27T10:15:00Z: "
    "from 2000-01-01T00:00:00Z to one day after the server's now",
}


def _rfc3339_text(value: Any) -> Any:
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise PydanticCustomError(
            "datetime_type", "Input should be an RFC 3339 date-time string, e.g. 2026-11-27T10:15:00Z"
        )
    return value


def _sane_time(value: dt.datetime) -> dt.datetime:
    latest = dt.datetime.now(dt.UTC) + EVENT_TIME_MAX_AHEAD
    if value < EVENT_TIME_MIN:
        raise PydanticCustomError("greater_than_equal", "Input should be at or after 2000-01-01T00:00:00Z")
    if value > latest:
        raise PydanticCustomError("less_than_equal", "Input should be at most one day after now")
    return value


EventTime = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    AfterValidator(_sane_time),
    WithJsonSchema(_EVENT_TIME_SCHEMA),
]


def feedback_model(card: ModelCard) -> type[BaseModel]:
    """A delayed label for a served prediction: one of the classes, or a finite number (regression)."""
    label: Any = (
        Annotated[float, Field(strict=True, allow_inf_nan=False)]
        if card.task == "regression"
        else _class_type(card)
    )
    return create_model(
        "Feedback",
        __config__=ConfigDict(extra="forbid"),
        __doc__="A delayed label for a served prediction.",
        request_id=(RequestId, ...),
        label=(label, ...),
        event_time=(EventTime | None, None),
    )


class FeedbackAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    request_id: str
