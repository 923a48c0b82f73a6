"""The Open Inference Protocol (KServe V2) REST endpoints for the model this process serves.

`v2_router(service, models, reject)` builds the routes: health, server and model metadata, and
`/v2/models/{model_name}[/versions/{model_version}]/infer`. An inference request is decoded into the
same rows `/v1/predict` scores (every row validated by the card's `Record` model, so types, ranges and
the unseen-value policy are those of /v1), scored by `InferenceService.predict` (capture and metrics),
and encoded as output tensors. Refusals go through `reject` (the app's classify-and-count path, so
they are counted like /v1's) and are answered in the protocol's error shape, `{"error": "..."}`.

Accepted input forms (docs/inference.md, "Open Inference Protocol"):
- one input per feature, named as the feature, shape `[n]` or `[n, 1]` (MLServer's `pd` content type,
  KServe's columnar requests);
- one input of another name with shape `[n, F]`, its columns in the card's feature order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, StrictInt, StrictStr, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException

from driftwatch_inference.model_card import FeatureSpec, ModelCard
from driftwatch_inference.outputs import Scored
from driftwatch_inference.rejections import UNDECODABLE_BODY, Rejection
from driftwatch_inference.request_model import RequestModels
from driftwatch_inference.service import InferenceService, ScoringError

SERVER_NAME = "driftwatch"
PLATFORM = "scikit-learn"
INT_TYPES = ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")
FLOAT_TYPES = ("FP16", "FP32", "FP64")
DATATYPES = ("BOOL", *INT_TYPES, *FLOAT_TYPES, "BYTES")
# The datatype each feature is announced with in the model metadata.
FEATURE_DATATYPE = {"int": "INT64", "float": "FP64", "str": "BYTES"}
# Deeper shapes than this are refused before any data is looked at.
MAX_RANK = 8
# Every refusal of an inference request is a 400, as the protocol says ("typically 400"); an unknown
# model or version is a 404.
STATUS_REFUSED = 400
STATUS_UNKNOWN_MODEL = 404

Reject = Callable[[Sequence[dict[str, Any]]], Rejection]
Parameters = dict[str, Any]
Datatype = Annotated[str, Field(json_schema_extra={"enum": list(DATATYPES)})]


# --- protocol objects (the OpenAPI schema of the routes) --------------------------------------------


class RequestInput(BaseModel):
    """One input tensor; `data` is row-major, flat or nested as `shape`."""

    name: StrictStr
    shape: list[StrictInt]
    datatype: Datatype
    parameters: Parameters | None = None
    data: list[Any]


class RequestOutput(BaseModel):
    """An output the client asks for (all of them when `outputs` is absent)."""

    name: StrictStr
    parameters: Parameters | None = None


class InferenceRequest(BaseModel):
    """The protocol's inference request."""

    id: StrictStr | None = None
    parameters: Parameters | None = None
    inputs: list[RequestInput]
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[Any]


class InferenceResponse(BaseModel):
    """The protocol's inference response: `predict`, `predict_proba` (classifiers), `request_id`."""

    model_name: str
    model_version: str
    id: str | None = None
    parameters: Parameters | None = None
    outputs: list[ResponseOutput]


class InferenceErrorResponse(BaseModel):
    error: str


class MetadataTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class MetadataModelResponse(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class MetadataServerResponse(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ServerLiveResponse(BaseModel):
    live: bool


class ServerReadyResponse(BaseModel):
    ready: bool


class ModelReadyResponse(BaseModel):
    name: str
    ready: bool


# --- decoding -----------------------------------------------------------------------------------------


def _problem(
    field: str, msg: str, kind: str = "v2_tensor", loc: tuple[Any, ...] | None = None, value: Any = ""
) -> dict[str, Any]:
    """An error for `classify`: `loc` decides what is counted, `v2_field` is what the client is told.

    By default no feature is counted (the location ends in None, never a feature's name); `loc`
    ("body", row, feature) counts the feature for that row, like /v1's locations; ("body", "instances")
    with kind too_long / too_short is the batch-size reason. Any other kind is wrong_type (`value` None
    would make it missing_field, as a null is on /v1).
    """
    return {
        "type": kind,
        "loc": loc or ("body", "inputs", field, None),
        "msg": msg,
        "input": value,
        "v2_field": field,
    }


def _flatten(data: list[Any], rank: int) -> list[Any]:
    """Row-major elements of `data`, flat or nested up to `rank` levels (the protocol allows both)."""
    out = data
    for _ in range(max(rank - 1, 0)):
        if not any(isinstance(item, list) for item in out):
            break
        flat: list[Any] = []
        for item in out:
            if isinstance(item, list):
                flat.extend(item)
            else:
                flat.append(item)
        out = flat
    return out


def _fits(datatype: str, feature: FeatureSpec, table: bool) -> bool:
    """Whether a tensor of `datatype` may carry `feature`; a mixed table (`table`) is BYTES."""
    if datatype == "BYTES":
        return feature.dtype == "str" or table
    if datatype in INT_TYPES:
        return feature.dtype in ("int", "float")  # ints are accepted for floats, as on /v1
    if datatype in FLOAT_TYPES:
        return feature.dtype == "float"
    return False  # BOOL: no feature is a boolean


def _expected(feature: FeatureSpec) -> str:
    if feature.dtype == "str":
        return "BYTES"
    if feature.dtype == "int":
        return "INT64 or another integer type"
    return "FP64, FP32 or an integer type"


@dataclass
class _Column:
    """One feature's values, decoded from its own input or from a column of the 2-D input."""

    feature: FeatureSpec
    values: list[Any]
    datatype: str
    input_name: str
    table: bool  # a column of the [n, F] input

    def field(self, row: int) -> str:
        """Where row `row`'s value was, as the client is told."""
        if self.table:
            return f"{self.input_name}[{row}].{self.feature.name}"
        return f"{self.input_name}[{row}]"


_NO_INPUTS = "no inputs; send one per feature, or one [n, features] input"
_BATCH_LOC = ("body", "instances")  # classify's location of a batch's size (empty_batch, batch_too_large)


class _Decoder:
    """Turns an InferenceRequest into validated rows, or into the errors that refuse it."""

    def __init__(self, card: ModelCard, models: RequestModels, max_batch_size: int) -> None:
        self.card = card
        self.features = {f.name: f for f in card.features}
        self.max_batch_size = max_batch_size
        row_list: Any = list[models.record]  # type: ignore[name-defined]  # built from the card
        self.rows_adapter: TypeAdapter[list[Any]] = TypeAdapter(row_list)

    def decode(self, request: InferenceRequest) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(rows, []) for a valid request, ([], errors) otherwise."""
        inputs = request.inputs
        if not inputs:
            return [], [_problem("inputs", _NO_INPUTS, "too_short", _BATCH_LOC)]
        only = inputs[0]
        if len(inputs) == 1 and only.name not in self.features and len(only.shape) == 2:
            columns, n, errors = self._table(only)
        else:
            columns, n, errors = self._per_feature(inputs)
        if errors:
            return [], errors
        if n == 0:
            return [], [
                _problem("inputs", "no rows (the shape's first dimension is 0)", "too_short", _BATCH_LOC)
            ]
        if n > self.max_batch_size:
            limit = f"{n} rows; at most {self.max_batch_size} rows per request"
            return [], [_problem("inputs", limit, "too_long", _BATCH_LOC)]
        return self._rows(columns, n)

    @staticmethod
    def _tensor_errors(item: RequestInput, expected: str) -> list[dict[str, Any]]:
        """A datatype outside the protocol's, a shape that is no tensor's, data that does not fill it."""
        if item.datatype not in DATATYPES:
            return [_problem(item.name, f"datatype {item.datatype!r} is not one of {', '.join(DATATYPES)}")]
        if len(item.shape) > MAX_RANK or any(d < 0 for d in item.shape):
            return [_problem(item.name, f"shape {item.shape} is not a tensor shape; expected {expected}")]
        return []

    @staticmethod
    def _elements(item: RequestInput) -> tuple[list[Any], list[dict[str, Any]]]:
        values = _flatten(item.data, len(item.shape))
        size = math.prod(item.shape)
        if len(values) != size:
            msg = f"data holds {len(values)} elements; shape {item.shape} needs {size}"
            return [], [_problem(item.name, msg)]
        return values, []

    def _per_feature(self, inputs: Sequence[RequestInput]) -> tuple[list[_Column], int, list[dict[str, Any]]]:
        errors: list[dict[str, Any]] = []
        columns: list[_Column] = []
        rows: dict[str, int] = {}
        for item in inputs:
            name, feature = item.name, self.features.get(item.name)
            if feature is None:
                msg = (
                    f"not a feature of model {self.card.name!r}: send one input per feature, named as the "
                    "feature, or one [n, features] input"
                )
                errors.append(_problem(name, msg, "extra_forbidden"))
                continue
            if name in rows or any(e["v2_field"] == name for e in errors):
                errors.append(_problem(name, "sent twice"))
                continue
            problems = self._tensor_errors(item, "[n] or [n, 1]")
            shape = item.shape
            if not problems and not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
                problems = [_problem(name, f"shape {shape} is not [n] or [n, 1] (one column per input)")]
            values, problems = self._elements(item) if not problems else ([], problems)
            if problems:
                errors.extend(problems)
                continue
            rows[name] = shape[0]
            columns.append(_Column(feature, values, item.datatype, name, table=False))
        if len(set(rows.values())) > 1:
            sizes = ", ".join(f"{name} {count}" for name, count in rows.items())
            errors.append(_problem("inputs", f"the inputs hold different numbers of rows ({sizes})"))
        return columns, max(rows.values(), default=0), errors

    def _table(self, item: RequestInput) -> tuple[list[_Column], int, list[dict[str, Any]]]:
        width = len(self.card.features)
        problems = self._tensor_errors(item, f"[n, {width}]")
        if not problems and item.shape[1] != width:
            order = ", ".join(self.card.feature_names)
            msg = f"shape {item.shape} has {item.shape[1]} columns; the model's {width} features are: {order}"
            problems = [_problem(item.name, msg)]
        values, problems = self._elements(item) if not problems else ([], problems)
        if problems:
            return [], 0, problems
        columns = [
            _Column(f, values[i::width], item.datatype, item.name, table=True)
            for i, f in enumerate(self.card.features)
        ]
        return columns, item.shape[0], []

    def _rows(self, columns: Sequence[_Column], n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Validate every row with the card's Record model: the checks, reasons and counters of /v1."""
        errors: list[dict[str, Any]] = []
        wrong: set[str] = set()  # features refused as a whole column (their datatype)
        for column in columns:
            feature, datatype = column.feature, column.datatype
            if not _fits(datatype, feature, column.table):
                wrong.add(feature.name)
                expected = _expected(feature)
                msg = f"datatype {datatype} does not fit feature {feature.name!r} (expected {expected})"
                errors.extend(
                    _problem(column.input_name, msg, loc=("body", j, feature.name), value=datatype)
                    for j in range(n)
                )
            elif datatype in INT_TYPES:
                for j, value in enumerate(column.values):
                    if isinstance(value, float):
                        wrong.add(feature.name)
                        msg = f"{datatype} data must be integers, not {value!r}"
                        errors.append(
                            _problem(column.field(j), msg, loc=("body", j, feature.name), value=value)
                        )
        by_name = {c.feature.name: c for c in columns}
        rows = [{name: c.values[j] for name, c in by_name.items()} for j in range(n)]
        try:
            validated = self.rows_adapter.validate_python(rows)
        except ValidationError as exc:
            for error in exc.errors():
                row, name = error["loc"][0], str(error["loc"][-1])
                if name in wrong:
                    continue
                given = by_name.get(name)
                if given is None:  # a feature without its input
                    field, msg = name, "missing: no input of this name (send one input per feature)"
                else:
                    field, msg = given.field(int(row)), error["msg"]
                errors.append({**error, "loc": ("body", row, name), "msg": msg, "v2_field": field})
            return [], errors
        if errors:
            return [], errors
        return [r.__dict__ for r in validated], []


# --- encoding -----------------------------------------------------------------------------------------


class _Encoder:
    """Scored rows as output tensors: `predict`, `predict_proba` (classifiers), `request_id`."""

    def __init__(self, card: ModelCard) -> None:
        self.card = card
        if card.task == "regression":
            self.predict_datatype = "FP64"
        elif all(isinstance(c, int) for c in card.classes):
            self.predict_datatype = "INT64"
        else:
            self.predict_datatype = "BYTES"
        self.names: tuple[str, ...] = (
            ("predict", "predict_proba", "request_id") if card.is_classifier else ("predict", "request_id")
        )
        # Parameter values are strings, numbers or booleans: the class list is JSON text.
        self.classes = json.dumps(list(card.classes))

    def metadata(self) -> list[dict[str, Any]]:
        shapes = {"predict": [-1, 1], "predict_proba": [-1, len(self.card.classes)], "request_id": [-1, 1]}
        types = {"predict": self.predict_datatype, "predict_proba": "FP64", "request_id": "BYTES"}
        return [{"name": n, "datatype": types[n], "shape": shapes[n]} for n in self.names]

    def encode(self, scored: Sequence[Scored], wanted: Sequence[str]) -> list[dict[str, Any]]:
        n, out = len(scored), list[dict[str, Any]]()
        for name in wanted:
            if name == "predict":
                data: list[Any] = [s.prediction for s in scored]
                out.append({"name": name, "shape": [n, 1], "datatype": self.predict_datatype, "data": data})
            elif name == "predict_proba":
                out.append(
                    {
                        "name": name,
                        "shape": [n, len(self.card.classes)],
                        "datatype": "FP64",
                        "parameters": {"classes": self.classes},
                        "data": self._probabilities(scored),
                    }
                )
            else:
                data = [s.request_id for s in scored]
                out.append({"name": name, "shape": [n, 1], "datatype": "BYTES", "data": data})
        return out

    def _probabilities(self, scored: Sequence[Scored]) -> list[float]:
        flat: list[float] = []
        if self.card.task == "binary":
            for s in scored:
                p = s.probability or 0.0
                flat.extend((1.0 - p, p))
            return flat
        for s in scored:
            flat.extend((s.probabilities or {}).values())
        return flat


# --- routes -------------------------------------------------------------------------------------------


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


def _error(message: str, status_code: int) -> Response:
    return _json({"error": message}, status_code)


def _server_version() -> str:
    try:
        return metadata.version("driftwatch-inference")
    except metadata.PackageNotFoundError:  # a source tree without the installed distribution
        return "0+unknown"


def v2_router(service: InferenceService, models: RequestModels, reject: Reject) -> APIRouter:
    """The protocol's routes for `service`'s model; `reject` classifies and counts refused requests."""
    card = service.card
    settings = service.settings
    decoder = _Decoder(card, models, settings.max_batch_size)
    encoder = _Encoder(card)
    server = {"name": SERVER_NAME, "version": _server_version(), "extensions": []}
    model_metadata = {
        "name": card.name,
        "versions": [card.version],
        "platform": PLATFORM,
        "inputs": [
            {"name": f.name, "datatype": FEATURE_DATATYPE[f.dtype], "shape": [-1]} for f in card.features
        ],
        "outputs": encoder.metadata(),
    }

    def unknown(params: dict[str, Any]) -> Response | None:
        """The 404 of a model or version this process does not serve; None when it is this model."""
        name, version = params.get("model_name"), params.get("model_version")
        if name != card.name:
            return _error(
                f"model {name!r} is not served here; this server serves {card.name!r}", STATUS_UNKNOWN_MODEL
            )
        if version is not None and version != card.version:
            msg = f"version {version!r} of model {card.name!r} is not served here; it serves {card.version!r}"
            return _error(msg, STATUS_UNKNOWN_MODEL)
        return None

    def refuse(errors: Sequence[dict[str, Any]]) -> Response:
        rejection = reject(errors)
        messages = [
            f"{e['v2_field']}: {e['msg']}" if "v2_field" in e else d["msg"]
            for e, d in zip(errors, rejection.detail, strict=True)
        ]
        distinct = list(dict.fromkeys(messages))
        more = f" (and {len(distinct) - 1} more)" if len(distinct) > 1 else ""
        return _error(f"{distinct[0]}{more}", STATUS_REFUSED)

    def ready() -> tuple[bool, str | None]:
        if not settings.capture_enabled or service.capture_writable:
            return True, None
        return False, f"capture sink {settings.capture_uri} is not writable"

    class V2Route(APIRoute):
        """A route whose undecodable or ill-shaped body is refused in the protocol's error shape."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    return await handler(request)
                except RequestValidationError as exc:
                    return unknown(request.path_params) or refuse(list(exc.errors()))
                except HTTPException as exc:
                    if exc.status_code != 400:  # FastAPI's "error parsing the body" is a 400
                        raise
                    return unknown(request.path_params) or refuse([UNDECODABLE_BODY])

            return guarded

    router = APIRouter(route_class=V2Route, tags=["Open Inference Protocol (V2)"])
    error_responses: dict[int | str, dict[str, Any]] = {
        STATUS_REFUSED: {"model": InferenceErrorResponse, "description": "the request is refused"},
        STATUS_UNKNOWN_MODEL: {"model": InferenceErrorResponse, "description": "no such model or version"},
    }
    not_ready: dict[int | str, dict[str, Any]] = {
        400: {"model": InferenceErrorResponse, "description": "not ready: the capture sink is not writable"}
    }

    @router.get("/v2/health/live", response_model=ServerLiveResponse, summary="V2: the server is live")
    async def server_live() -> Response:
        return _json({"live": True})

    @router.get(
        "/v2/health/ready",
        response_model=ServerReadyResponse,
        responses=not_ready,
        summary="V2: server ready",
    )
    async def server_ready() -> Response:
        ok, why = ready()
        return _json({"ready": True}) if ok else _json({"ready": False, "error": why}, 400)

    @router.get("/v2", response_model=MetadataServerResponse, summary="V2: server metadata")
    async def server_metadata() -> Response:
        return _json(server)

    async def model_ready(request: Request) -> Response:
        refused = unknown(request.path_params)
        if refused is not None:
            return refused
        ok, why = ready()
        if ok:
            return _json({"name": card.name, "ready": True})
        return _json({"name": card.name, "ready": False, "error": why}, 400)

    async def model_metadata_route(request: Request) -> Response:
        return unknown(request.path_params) or _json(model_metadata)

    async def infer(request: Request, payload: InferenceRequest) -> Response:
        refused = unknown(request.path_params)
        if refused is not None:
            return refused
        wanted: Sequence[str] = encoder.names
        if payload.outputs is not None:
            wanted = [o.name for o in payload.outputs]
            bad = [
                _problem(
                    f"outputs[{i}]",
                    f"no output {name!r}; the model has {', '.join(encoder.names)}",
                    "extra_forbidden",
                    ("body", "outputs", i),
                )
                for i, name in enumerate(wanted)
                if name not in encoder.names
            ]
            if bad:
                return refuse(bad)
        rows, errors = decoder.decode(payload)
        if errors:
            return refuse(errors)
        try:
            scored = service.predict(rows)
        except ScoringError as exc:  # valid rows the model cannot score: reason model_error, as on /v1
            return refuse([_problem("inputs", str(exc), "model_error", ("body",))])
        body: dict[str, Any] = {"model_name": card.name, "model_version": card.version}
        if payload.id is not None:
            body["id"] = payload.id
        body["outputs"] = encoder.encode(scored, wanted)
        return _json(body)

    # The handlers read the path from the request (one handler for both templates); these declare it.
    def named(model_name: str) -> None:
        return None

    def versioned_name(model_name: str, model_version: str) -> None:
        return None

    for prefix in ("/v2/models/{model_name}", "/v2/models/{model_name}/versions/{model_version}"):
        versioned = "versions" in prefix
        path = [Depends(versioned_name if versioned else named)]
        router.add_api_route(
            f"{prefix}/ready",
            model_ready,
            methods=["GET"],
            dependencies=path,
            response_model=ModelReadyResponse,
            responses={**not_ready, 404: error_responses[404]},
            summary="V2: the model is ready" + (" (this version)" if versioned else ""),
            operation_id="v2_model_version_ready" if versioned else "v2_model_ready",
        )
        router.add_api_route(
            prefix,
            model_metadata_route,
            methods=["GET"],
            dependencies=path,
            response_model=MetadataModelResponse,
            responses={404: error_responses[404]},
            summary="V2: model metadata" + (" (this version)" if versioned else ""),
            operation_id="v2_model_version_metadata" if versioned else "v2_model_metadata",
        )
        router.add_api_route(
            f"{prefix}/infer",
            infer,
            methods=["POST"],
            dependencies=path,
            response_model=InferenceResponse,
            responses=error_responses,
            summary="V2: score the rows of the input tensors" + (" (this version)" if versioned else ""),
            operation_id="v2_model_version_infer" if versioned else "v2_model_infer",
        )
    return router
