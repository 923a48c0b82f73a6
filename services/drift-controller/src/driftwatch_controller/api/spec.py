"""The DriftCheck spec, typed once: every field the CRD declares, its default, its rule and its message.

The controller, the check pod and `driftwatch check -f` all parse a spec here; the CRD
(charts/driftwatch/crds/driftcheck.yaml) states the same rules for `kubectl apply`, and a unit test
holds the two together. Unknown fields are refused with their name, never silently ignored.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from driftwatch_controller.api import contracts
from driftwatch_controller.api.durations import (
    DURATION_PATTERN,
    cached_schedule_interval_seconds,
    parse_duration,
)

# What a check pod can open. Local runs (`driftwatch check`) also take plain paths, so this is
# enforced only when parsing for a cluster (`from_manifest(..., cluster=True)`).
URI_PATTERN = r"^(file|s3|gs|https?|memory)://.+"
MODEL_PATTERN = r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$"
SCHEDULE_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)"
    r"|([0-9*?/,LW#A-Za-z-]+\s+){4}[0-9*?/,L#A-Za-z-]+)$"
)
TIME_ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+/-]*$"
MAX_COLUMNS = 500
# Segments (issue 13): each is measured like a whole window, so their number is what a run costs.
MAX_SEGMENTS = 50
MAX_SEGMENT_COLUMNS = 3
INT32_MAX = 2_147_483_647
# Local runs have no CronJob: the schedule the CRD requires has a default there.
LOCAL_SCHEDULE = "0 * * * *"

ColumnName = Annotated[str, Field(min_length=1)]


class SpecError(ValueError):
    """A DriftCheck spec that cannot be run; each problem names its field (`spec.policy.cooldown: ...`)."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


def _cluster_uri(value: str, info: ValidationInfo) -> str:
    if (info.context or {}).get("cluster") and not re.match(URI_PATTERN, value):
        raise ValueError(f"{value!r} is not a URI a check pod can open (file://, s3://, gs://, http(s)://)")
    return value


def _positive_duration(value: str) -> str:
    if parse_duration(value) <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


class ReferenceSpec(_Model):
    """The dataset a check compares against (the model card's `reference.parquet`)."""

    uri: str = Field(min_length=1, json_schema_extra={"pattern": URI_PATTERN})

    _uri = field_validator("uri")(_cluster_uri)


class CurrentSpec(_Model):
    """The current data: a capture tree (windowed) or one Parquet/CSV file (read whole)."""

    uri: str = Field(min_length=1, json_schema_extra={"pattern": URI_PATTERN})
    window: str = Field(default="1h", pattern=DURATION_PATTERN)
    min_rows: int = Field(default=200, ge=1, le=100_000_000)

    _uri = field_validator("uri")(_cluster_uri)
    _window = field_validator("window")(_positive_duration)

    @property
    def window_delta(self) -> timedelta:
        return parse_duration(self.window)


class ColumnsSpec(_Model):
    """Monitored columns; empty lists mean "infer from the reference"."""

    numerical: tuple[ColumnName, ...] = Field(default=(), max_length=MAX_COLUMNS)
    categorical: tuple[ColumnName, ...] = Field(default=(), max_length=MAX_COLUMNS)
    prediction: str | None = Field(default=None, min_length=1)
    prediction_class: str | None = Field(default=None, min_length=1)
    # A multiclass model's `probability_<class>` columns, each compared as a numerical column.
    class_probabilities: tuple[ColumnName, ...] = Field(default=(), max_length=MAX_COLUMNS)
    target: str | None = Field(default=None, min_length=1)


class ColumnOverride(_Model):
    """Per-column method and/or threshold."""

    method: contracts.DriftMethod | None = None
    threshold: float | None = Field(default=None, ge=0)


class MultivariateSpec(_Model):
    """Dataset-level drift that sees joint changes (issue 13): PCA data reconstruction, as NannyML's.

    engine/multivariate.py; docs/drift-engine.md "Multivariate drift" says why the default is what it is.
    """

    # Off unless asked for: the error rises with any marginal shift too, so on by default it would turn a
    # drift of a few columns, which investigateShare tolerates on purpose, into Investigate.
    enabled: bool = False
    # pca: reconstruction error of a PCA fitted on the reference; room for a domain classifier later.
    # A one-value Literal is a JSON-schema `const`; the CRD states it as an enum, and so does this.
    method: Literal["pca"] = Field(default="pca", json_schema_extra={"enum": ["pca"]})
    # Share of the reference's (standardized) variance the kept components explain; NannyML's default.
    variance_kept: float = Field(default=0.65, ge=0.05, le=0.99)


class DriftSpec(_Model):
    """How drift is measured: method, threshold mode and per-column overrides."""

    method: contracts.DriftMethod = "auto"
    thresholds: contracts.ThresholdMode = "calibrated"
    threshold: float | None = Field(default=None, ge=0)
    per_column: dict[str, ColumnOverride] = Field(default_factory=dict, max_length=MAX_COLUMNS)
    # rows: read every row of the window; sketches: merge the capture's per-file sketches; auto: sketches
    # when every file has one and the window is large (engine/sketch_check.py, docs/drift-engine.md).
    data: contracts.DataSource = "rows"
    multivariate: MultivariateSpec = Field(default_factory=MultivariateSpec)


class PerformancePolicySpec(_Model):
    """How a performance drop from the reference feeds the decision (issue 11); off unless asked for.

    `enabled` has no default so that naming a `metric` switches the policy on, while an explicit
    `enabled: false` keeps it off without deleting the rest.
    """

    enabled: bool | None = None
    # None: the task's default (binary roc_auc, multiclass accuracy, regression mae).
    metric: contracts.PerformanceMetric | None = None
    # Absolute, in the metric's units: roc_auc 0.81 -> 0.74 is a drop of 0.07.
    max_drop: float = Field(default=0.05, ge=0)
    kind: contracts.PerformanceKind = "realized"
    min_labelled_rows: int = Field(default=200, ge=1, le=100_000_000)

    @property
    def active(self) -> bool:
        """Whether performance takes part in the decision."""
        return self.enabled if self.enabled is not None else self.metric is not None


class PolicySpec(_Model):
    """The decision policy's thresholds (DESIGN.md "Decision policy"); each default is documented."""

    investigate_share: float = Field(default=0.2, ge=0, le=1)
    retrain_share: float = Field(default=0.5, ge=0, le=1)
    consecutive_runs: int = Field(default=2, ge=1, le=1000)
    cooldown: str = Field(default="24h", pattern=DURATION_PATTERN)
    performance: PerformancePolicySpec = Field(default_factory=PerformancePolicySpec)
    # A segment's drift share at or above this gives Investigate even when the global share is below
    # investigateShare (issue 13); None: segments never change the decision.
    segment_share: float | None = Field(default=None, ge=0, le=1)

    _cooldown = field_validator("cooldown")(_positive_duration)

    @property
    def cooldown_delta(self) -> timedelta:
        return parse_duration(self.cooldown)


class RetrainSpec(_Model):
    """Gated retraining (carried out by the controller; the check only recommends)."""

    mode: contracts.RetrainMode = "Off"
    # A batch/v1 JobTemplateSpec, kept as given (the CRD preserves its unknown fields too).
    job_template: dict[str, Any] | None = None


class SegmentsSpec(_Model):
    """Drift per segment (issue 13): the reference's most frequent value combinations of `columns`.

    The combinations beyond `maxSegments` (and any the reference never had) are pooled as one
    `other` segment; a segment with fewer than `minRows` current rows is counted, not measured.
    """

    columns: tuple[ColumnName, ...] = Field(min_length=1, max_length=MAX_SEGMENT_COLUMNS)
    max_segments: int = Field(default=10, ge=1, le=MAX_SEGMENTS)
    min_rows: int = Field(default=200, ge=1, le=100_000_000)


class JobSpec(_Model):
    """Settings of the check CronJob and its pods."""

    starting_deadline_seconds: int = Field(default=300, ge=10)
    active_deadline_seconds: int = Field(default=1800, ge=10)
    backoff_limit: int = Field(default=1, ge=0, le=10)
    successful_jobs_history_limit: int = Field(default=3, ge=0, le=100)
    failed_jobs_history_limit: int = Field(default=3, ge=0, le=100)
    # A Job's field is an int32: anything above, the API server refuses on the CronJob, not the DriftCheck.
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0, le=INT32_MAX)


# local[N] / local[*] inside the check pod, k8s://https://host:port (spark-submit's Kubernetes master), or a
# standalone spark://host:port (docs/drift-engine.md, Scale).
SPARK_MASTER_PATTERN = r"^(local(\[([1-9][0-9]{0,3}|\*)\])?|k8s://https?://.+|spark://.+)$"


class SparkSpec(_Model):
    """Where and how `engine: spark` runs (engine/spark_engine.py)."""

    master: str = Field(default="local[*]", pattern=SPARK_MASTER_PATTERN)
    # Spark properties (spark.executor.instances, spark.kubernetes.container.image, ...), as given.
    conf: dict[str, str] = Field(default_factory=dict, max_length=100)
    # Above this many distinct values a numerical column is summarised by KLL sketches, not exact counts.
    exact_distinct_limit: int = Field(default=5_000_000, ge=1, le=100_000_000)
    kll_k: int = Field(default=4096, ge=8, le=65535)


class DriftCheckSpec(_Model):
    """`spec` of a DriftCheck."""

    model: str | None = Field(default=None, max_length=63, pattern=MODEL_PATTERN)
    schedule: str = Field(default=LOCAL_SCHEDULE, pattern=SCHEDULE_PATTERN)
    time_zone: str | None = Field(default=None, max_length=64, pattern=TIME_ZONE_PATTERN)
    suspend: bool = False
    reference: ReferenceSpec
    current: CurrentSpec
    columns: ColumnsSpec = Field(default_factory=ColumnsSpec)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    retrain: RetrainSpec = Field(default_factory=RetrainSpec)
    job: JobSpec = Field(default_factory=JobSpec)
    # numpy: the rows are read into the check pod; spark: the per-column distributions computed by Spark.
    engine: contracts.Engine = "numpy"
    spark: SparkSpec = Field(default_factory=SparkSpec)
    segments: SegmentsSpec | None = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        cached_schedule_interval_seconds(value)  # cached: the controller re-parses on every reconcile
        return value

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str | None) -> str | None:
        if value:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DriftCheckSpec:
        problems = _cross_field_problems(self)
        if problems:
            raise ValueError(_JOINED.join(problems))
        return self

    @classmethod
    def from_manifest(cls, obj: Any, *, cluster: bool = False) -> DriftCheckSpec:
        """Parse a whole DriftCheck manifest (`metadata.name` is the default model) or a bare spec.

        `cluster`: the spec is run by a check pod, so URIs must be ones it can open and the
        schedule must be given (the CRD requires it).
        """
        if not isinstance(obj, Mapping):
            raise SpecError("a DriftCheck must be a mapping")
        body: Any = obj
        name = None
        # A manifest cut down to its `spec:` is still a manifest, not a bare spec missing every field.
        if "spec" in obj and (
            "kind" in obj or "apiVersion" in obj or "metadata" in obj or "reference" not in obj
        ):
            if obj.get("kind", contracts.KIND) != contracts.KIND:
                raise SpecError(f"kind is {obj.get('kind')!r}, expected {contracts.KIND}")
            body = obj["spec"]
            metadata = obj.get("metadata") or {}
            if not isinstance(metadata, Mapping):
                raise SpecError("metadata must be a mapping")
            name = metadata.get("name")
            if name is not None and not isinstance(name, str):
                raise SpecError("metadata.name must be a string")
            if not isinstance(body, Mapping):
                raise SpecError("spec must be a mapping")
        spec = cls.parse(body, cluster=cluster)
        if spec.model is None and name:
            spec = spec.model_copy(update={"model": name})
        return spec

    @classmethod
    def parse(cls, body: Any, *, cluster: bool = True) -> DriftCheckSpec:
        """Parse a bare `spec` (as the controller reads it); SpecError lists every problem, each named."""
        if not isinstance(body, Mapping):
            raise SpecError("spec must be a mapping")
        if cluster and not body.get("schedule"):
            raise SpecError("spec.schedule: Field required")
        try:
            return cls.model_validate(dict(body), context={"cluster": cluster})
        except ValidationError as exc:
            raise SpecError(_problems(exc)) from None

    def with_changes(self, changes: Mapping[str, Any]) -> DriftCheckSpec:
        """A copy with camelCase `changes` merged in, validated again (model_copy would not validate)."""
        body = self.to_dict()
        for section, values in changes.items():
            if isinstance(values, Mapping):
                body[section] = {**body.get(section, {}), **values}
            else:
                body[section] = values
        return DriftCheckSpec.from_manifest(body)

    def to_dict(self) -> dict[str, Any]:
        """camelCase dict as in the manifest."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


_JOINED = "\n"


def _cross_field_problems(spec: DriftCheckSpec) -> list[str]:
    """The rules no single field's schema can state; each message names its field."""
    problems: list[str] = []
    policy = spec.policy
    if policy.retrain_share < policy.investigate_share:
        problems.append(
            f"spec.policy.retrainShare ({policy.retrain_share:g}) is below investigateShare "
            f"({policy.investigate_share:g})"
        )
    performance = policy.performance
    if performance.metric in contracts.UNIT_INTERVAL_METRICS and performance.max_drop > 1:
        problems.append(
            f"spec.policy.performance.maxDrop ({performance.max_drop:g}) is above 1, the whole range of "
            f"{performance.metric}"
        )
    columns = spec.columns
    twice = set(columns.numerical) & set(columns.categorical)
    if twice:
        problems.append(f"spec.columns: {sorted(twice)} are both numerical and categorical")
    listed = {*columns.numerical, *columns.categorical}
    probabilities = set(columns.class_probabilities)
    if probabilities & listed:
        problems.append(
            f"spec.columns.classProbabilities: {sorted(probabilities & listed)} are listed as features too"
        )
    named = {columns.prediction, columns.prediction_class, columns.target, *probabilities} - {None}
    unknown = sorted(set(spec.drift.per_column) - listed - named) if listed else []
    if unknown:
        problems.append(
            f"spec.drift.perColumn names {', '.join(unknown)}, not in columns.numerical/categorical"
        )
    problems += _segment_problems(spec)
    if spec.retrain.mode != "Off":
        problems += job_template_problems(spec.retrain.job_template)
    return problems


def _segment_problems(spec: DriftCheckSpec) -> list[str]:
    """spec.segments against spec.columns: a segment is named by categories, never by numbers or outputs."""
    if spec.segments is None:
        return []
    where, columns, named = "spec.segments.columns", spec.columns, spec.segments.columns
    problems = []
    if len(set(named)) < len(named):
        problems.append(f"{where}: {sorted({c for c in named if named.count(c) > 1})} are named twice")
    numerical = sorted(set(named) & set(columns.numerical))
    if numerical:
        problems.append(
            f"{where}: {numerical} are numerical (spec.columns.numerical); segments need categorical columns"
        )
    outputs = {columns.prediction, columns.prediction_class, columns.target, *columns.class_probabilities}
    if set(named) & outputs:
        problems.append(
            f"{where}: {sorted(set(named) & outputs)} are model outputs or the label, not features"
        )
    return problems


def job_template_problems(template: Any) -> list[str]:
    """What makes `spec.retrain.jobTemplate` unusable as a Job (the CRD keeps it schemaless)."""
    where = "spec.retrain.jobTemplate"
    if not isinstance(template, Mapping) or not template:
        return [f"{where} is required when spec.retrain.mode is Manual or Automatic"]
    job_spec = template.get("spec")
    if not isinstance(job_spec, Mapping):
        return [f"{where}.spec must be a Job spec (an object)"]
    pod_template = job_spec.get("template")
    pod = pod_template.get("spec") if isinstance(pod_template, Mapping) else None
    if not isinstance(pod, Mapping):
        return [f"{where}.spec.template.spec must be a pod spec (an object)"]
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers:
        return [f"{where}.spec.template.spec.containers must list at least one container"]
    problems = [
        f"{where}.spec.template.spec.containers[{index}] needs a name and an image"
        for index, container in enumerate(containers)
        if not isinstance(container, Mapping) or not container.get("name") or not container.get("image")
    ]
    restart = pod.get("restartPolicy")
    if restart not in (None, "Never", "OnFailure"):
        problems.append(
            f"{where}.spec.template.spec.restartPolicy must be Never or OnFailure, not {restart!r}"
        )
    return problems


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(["spec", *(str(part) for part in loc)])


def _problems(exc: ValidationError) -> list[str]:
    """One message per problem, each starting with the field's camelCase path."""
    problems: list[str] = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field (not in the DriftCheck CRD)"
        if not error["loc"]:
            # A cross-field rule: its messages carry their own paths.
            problems += message.split(_JOINED)
        else:
            problems.append(f"{_field_path(error['loc'])}: {message}")
    return problems
