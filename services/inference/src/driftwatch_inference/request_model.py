"""Pydantic request and response models built from the model card: typed, ranged, closed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Discriminator, Field, Tag, create_model

from driftwatch_inference.model_card import FeatureSpec, ModelCard

# Tags of the predict body's two shapes; they appear in pydantic error locations and are stripped
# before errors are returned (rejections.py), so a client sees `instances.3.tenure_months`.
RECORD_TAG = "<record>"
BATCH_TAG = "<batch>"


def _field_type(feature: FeatureSpec) -> Any:
    if feature.kind == "categorical":
        return Literal[tuple(feature.categories)]
    # strict: "12" or true is a wrong type, not 12; 12.0 is not an int; inf/NaN are refused.
    constraints = Field(strict=True, ge=feature.valid_min, le=feature.valid_max, allow_inf_nan=False)
    return Annotated[int if feature.dtype == "int" else float, constraints]


def record_model(card: ModelCard) -> type[BaseModel]:
    """One row of features; missing, extra, mistyped, out-of-range or unknown-category fields fail."""
    fields: dict[str, Any] = {f.name: (_field_type(f), ...) for f in card.features}
    return create_model(
        "Record",
        __config__=ConfigDict(extra="forbid", title=f"{card.name} record"),
        **fields,
    )


def _shape(body: Any) -> str:
    return BATCH_TAG if isinstance(body, dict) and "instances" in body else RECORD_TAG


@dataclass(frozen=True)
class RequestModels:
    """The models the predict route validates with (built once per app)."""

    record: type[BaseModel]
    batch: type[BaseModel]
    predict_body: Any


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
    return RequestModels(record=record, batch=batch, predict_body=body)


class Prediction(BaseModel):
    """One scored row."""

    prediction: int
    probability: float
    request_id: str


class PredictResponse(Prediction):
    """The answer to a single-record request."""

    model_version: str


class BatchPredictResponse(BaseModel):
    """The answer to a batch, in request order."""

    predictions: list[Prediction]
    model_version: str


class Feedback(BaseModel):
    """A delayed label for a served prediction."""

    model_config = ConfigDict(extra="forbid")

    request_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
    label: Annotated[int, Field(strict=True, ge=0, le=1)]
    event_time: AwareDatetime | None = None


class FeedbackAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    request_id: str
