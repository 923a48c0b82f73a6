"""The DriftCheck spec as a pydantic model (camelCase aliases, documented defaults), and its parser."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from driftwatch_controller.durations import parse_duration

DriftMethod = Literal["auto", "wasserstein", "jensenshannon", "psi", "ks", "hellinger", "kl_div"]


class SpecError(ValueError):
    """A DriftCheck spec that cannot be run (the message names the field and what is wrong)."""


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class ReferenceSpec(_Model):
    """The dataset a check compares against (the model card's `reference.parquet`)."""

    uri: str = Field(min_length=1)


class CurrentSpec(_Model):
    """The current data: a capture tree (windowed) or one Parquet/CSV file (read whole)."""

    uri: str = Field(min_length=1)
    window: str = "1h"
    min_rows: int = Field(default=200, ge=1)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        if parse_duration(value) <= timedelta(0):
            raise ValueError("window must be positive")
        return value

    @property
    def window_delta(self) -> timedelta:
        return parse_duration(self.window)


class ColumnsSpec(_Model):
    """Monitored columns; empty lists mean "infer from the reference"."""

    numerical: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    prediction: str | None = None
    prediction_class: str | None = None
    target: str | None = None


class ColumnOverride(_Model):
    """Per-column method and/or threshold."""

    method: DriftMethod | None = None
    threshold: float | None = Field(default=None, ge=0)


class DriftSpec(_Model):
    """How drift is measured: method, threshold mode and per-column overrides."""

    method: DriftMethod = "auto"
    thresholds: Literal["calibrated", "fixed"] = "calibrated"
    threshold: float | None = Field(default=None, ge=0)
    per_column: dict[str, ColumnOverride] = Field(default_factory=dict)


class PolicySpec(_Model):
    """The decision policy's thresholds (DESIGN.md "Decision policy")."""

    investigate_share: float = Field(default=0.2, ge=0, le=1)
    retrain_share: float = Field(default=0.5, ge=0, le=1)
    consecutive_runs: int = Field(default=2, ge=1)
    cooldown: str = "24h"

    @field_validator("cooldown")
    @classmethod
    def _cooldown(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def cooldown_delta(self) -> timedelta:
        return parse_duration(self.cooldown)


class RetrainSpec(BaseModel):
    """Gated retraining (carried out by the controller; the check only recommends)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True)

    mode: Literal["Off", "Manual", "Automatic"] = "Off"
    job_template: dict[str, Any] | None = None


class DriftCheckSpec(BaseModel):
    """`spec` of a DriftCheck; unknown top-level fields (owned by the controller) are kept, not rejected."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True)

    model: str | None = None
    schedule: str = "0 * * * *"
    suspend: bool = False
    time_zone: str | None = None
    reference: ReferenceSpec
    current: CurrentSpec
    columns: ColumnsSpec = Field(default_factory=ColumnsSpec)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    retrain: RetrainSpec = Field(default_factory=RetrainSpec)

    @model_validator(mode="after")
    def _consistent(self) -> DriftCheckSpec:
        if self.policy.retrain_share < self.policy.investigate_share:
            raise ValueError("policy.retrainShare must be >= policy.investigateShare")
        return self

    @classmethod
    def from_manifest(cls, obj: Any) -> DriftCheckSpec:
        """Parse a whole DriftCheck manifest (`metadata.name` is the default model) or a bare spec."""
        if not isinstance(obj, dict):
            raise SpecError("a DriftCheck must be a mapping")
        body = obj
        name = None
        # A manifest cut down to its `spec:` is still a manifest, not a bare spec missing every field.
        if "spec" in obj and (
            "kind" in obj or "apiVersion" in obj or "metadata" in obj or "reference" not in obj
        ):
            if obj.get("kind", "DriftCheck") != "DriftCheck":
                raise SpecError(f"kind is {obj.get('kind')!r}, expected DriftCheck")
            body = obj["spec"]
            name = (obj.get("metadata") or {}).get("name")
            if not isinstance(body, dict):
                raise SpecError("spec must be a mapping")
        try:
            spec = cls.model_validate(body)
        except ValidationError as exc:
            raise SpecError(_one_line(exc)) from None
        if spec.model is None and name:
            spec = spec.model_copy(update={"model": name})
        spec.check_columns()
        return spec

    def check_columns(self) -> None:
        """What the schema cannot catch: overrides of unknown columns, a column monitored twice."""
        listed = {*self.columns.numerical, *self.columns.categorical}
        twice = set(self.columns.numerical) & set(self.columns.categorical)
        if twice:
            raise SpecError(f"columns {sorted(twice)} are both numerical and categorical")
        extra = {self.columns.prediction, self.columns.prediction_class, self.columns.target} - {None}
        if listed:
            unknown = sorted(set(self.drift.per_column) - listed - extra)
            if unknown:
                raise SpecError(
                    f"drift.perColumn names {', '.join(unknown)}, not in columns.numerical/categorical"
                )

    def to_dict(self) -> dict[str, Any]:
        """camelCase dict as in the manifest."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "spec"
        parts.append(f"spec.{where}: {error['msg']}")
    return "; ".join(parts)
