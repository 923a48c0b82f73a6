"""Column names and Arrow types of the capture dataset (docs/architecture.md, "Capture dataset").

The inference service writes predictions and feedback with these schemas; the drift check reads
them back, and never monitors these columns as features. What a model outputs depends on its task
(binary, multiclass, regression) and, for classifiers, on its classes: `output_fields` and
`label_type` are the one place that says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")
ClassLabel = int | str

REQUEST_ID = "request_id"
TS = "ts"
MODEL_VERSION = "model_version"
EVENT_TIME = "event_time"
LABEL = "label"
PREDICTION = "prediction"
PROBABILITY = "probability"
# A multiclass model's probability of one class: `probability_<class>`.
CLASS_PROBABILITY_PREFIX = f"{PROBABILITY}_"

TIMESTAMP = pa.timestamp("us", tz="UTC")
# A feature's type as the model card names it → its Arrow type.
FEATURE_TYPES = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}

# Written around the features of every prediction row.
PREDICTION_METADATA = (
    pa.field(REQUEST_ID, pa.string()),
    pa.field(TS, TIMESTAMP),
    pa.field(MODEL_VERSION, pa.string()),
)
# Columns the capture adds that are never features (the outputs are named in a DriftCheck instead).
NON_FEATURE_COLUMNS = (REQUEST_ID, TS, MODEL_VERSION, EVENT_TIME, LABEL)
# The output columns every classifier writes; a regression writes `prediction` only.
OUTPUT_COLUMNS = (PREDICTION, PROBABILITY)


def class_probability_column(label: ClassLabel) -> str:
    return f"{CLASS_PROBABILITY_PREFIX}{label}"


def is_output_column(name: str) -> bool:
    """True for `prediction`, `probability` and any `probability_<class>`: outputs, never features."""
    return name in OUTPUT_COLUMNS or name.startswith(CLASS_PROBABILITY_PREFIX)


def label_type(task: Task, classes: Sequence[ClassLabel]) -> pa.DataType:
    """The type of a label and of a predicted class: float64 for regression, else int64 or string."""
    if task == "regression":
        return pa.float64()
    return pa.int64() if all(isinstance(c, int) and not isinstance(c, bool) for c in classes) else pa.string()


def output_fields(task: Task, classes: Sequence[ClassLabel]) -> list[pa.Field]:
    """The columns a model of `task` writes after the features (docs/architecture.md, table of tasks)."""
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {', '.join(TASKS)}")
    if task == "regression":
        return [pa.field(PREDICTION, pa.float64())]
    fields = [pa.field(PREDICTION, label_type(task, classes)), pa.field(PROBABILITY, pa.float64())]
    if task == "multiclass":
        fields += [pa.field(class_probability_column(c), pa.float64()) for c in classes]
    return fields


def feedback_schema(task: Task = "binary", classes: Sequence[ClassLabel] = (0, 1)) -> pa.Schema:
    """One delayed label: the request it belongs to, when it arrived, when it happened, the label."""
    return pa.schema(
        [
            pa.field(REQUEST_ID, pa.string()),
            pa.field(TS, TIMESTAMP),
            pa.field(EVENT_TIME, TIMESTAMP),
            pa.field(LABEL, label_type(task, classes)),
        ]
    )


# The binary 0/1 model's feedback schema (the demo's, and the default of readers that know no card).
FEEDBACK_SCHEMA = feedback_schema()


def feature_fields(features: Iterable[tuple[str, str]]) -> list[pa.Field]:
    """(name, model-card type) pairs as Arrow fields."""
    return [pa.field(name, FEATURE_TYPES[dtype]) for name, dtype in features]


def prediction_schema(
    features: Iterable[tuple[str, str]], task: Task = "binary", classes: Sequence[ClassLabel] = (0, 1)
) -> pa.Schema:
    """One captured prediction: request id, time, model version, every feature, the outputs."""
    return pa.schema([*PREDICTION_METADATA, *feature_fields(features), *output_fields(task, classes)])


def reference_schema(
    features: Iterable[tuple[str, str]],
    target: str,
    task: Task = "binary",
    classes: Sequence[ClassLabel] = (0, 1),
) -> pa.Schema:
    """The reference dataset: every feature, the outputs and the label (as `target`)."""
    return pa.schema(
        [
            *feature_fields(features),
            *output_fields(task, classes),
            pa.field(target, label_type(task, classes)),
        ]
    )


# Capture controls (issue 13): what a prediction file's rows are, in its Parquet key-value metadata, so a
# check never mixes files captured under different settings silently. A file without these keys was
# written before them: every row, every feature as is.
METADATA_SAMPLE_RATE = "driftwatch.sample_rate"
METADATA_EXCLUDED = "driftwatch.excluded"
METADATA_HASHED = "driftwatch.hashed"


@dataclass(frozen=True)
class CaptureControls:
    """The share of predictions kept (by request id), features never written, features written hashed."""

    sample_rate: float = 1.0
    excluded: tuple[str, ...] = ()
    hashed: tuple[str, ...] = ()

    @property
    def unmonitored(self) -> tuple[str, ...]:
        """Features a check cannot compare with the reference: absent, or a keyed hash of the value."""
        return (*self.excluded, *self.hashed)

    def to_metadata(self) -> dict[str, str]:
        return {
            METADATA_SAMPLE_RATE: repr(float(self.sample_rate)),
            METADATA_EXCLUDED: json.dumps(sorted(self.excluded)),
            METADATA_HASHED: json.dumps(sorted(self.hashed)),
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[bytes, bytes] | Mapping[str, str] | None) -> CaptureControls:
        """Read back from a schema's metadata (bytes keys, as pyarrow gives them); defaults when absent."""
        text = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in (metadata or {}).items()
        }
        return cls(
            sample_rate=float(text.get(METADATA_SAMPLE_RATE, "1.0")),
            excluded=tuple(json.loads(text.get(METADATA_EXCLUDED, "[]"))),
            hashed=tuple(json.loads(text.get(METADATA_HASHED, "[]"))),
        )

    def key(self) -> tuple[float, frozenset[str], frozenset[str]]:
        """Equal for two controls exactly when `same_capture` holds (features in any order)."""
        return (float(self.sample_rate), frozenset(self.excluded), frozenset(self.hashed))

    def same_capture(self, other: CaptureControls) -> bool:
        """True when rows of the two can be pooled: same rate, same features excluded and hashed."""
        return self.key() == other.key()

    def describe(self) -> str:
        parts = [f"sample rate {self.sample_rate:g}"]
        if self.excluded:
            parts.append(f"excluded {', '.join(sorted(self.excluded))}")
        if self.hashed:
            parts.append(f"hashed {', '.join(sorted(self.hashed))}")
        return "; ".join(parts)


def controlled_features(
    features: Iterable[tuple[str, str]], controls: CaptureControls
) -> list[tuple[str, str]]:
    """The captured features: excluded ones dropped, hashed ones as strings (`str`), in card order."""
    excluded, hashed = set(controls.excluded), set(controls.hashed)
    return [(name, "str" if name in hashed else dtype) for name, dtype in features if name not in excluded]
