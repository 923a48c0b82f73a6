"""The Open Inference Protocol (KServe V2) routes: the same rows, checks, counters and capture as /v1."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from driftwatch_demo import synthetic
from driftwatch_inference.app import create_app
from driftwatch_inference.model_card import CARD_FILE
from driftwatch_inference.packaging import package_model
from driftwatch_inference.settings import Settings
from prometheus_client import CollectorRegistry
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

pytestmark = [pytest.mark.unit, pytest.mark.asyncio]
JSON = {"content-type": "application/json"}
INFER = "/v2/models/churn/infer"
INFER_ROUTE = "/v2/models/{model_name}/infer"
DATATYPE = {"int": "INT64", "float": "FP64", "str": "BYTES"}


def _card(model_dir: Path) -> dict[str, Any]:
    return json.loads((model_dir / CARD_FILE).read_text())


def _columns(
    card: dict[str, Any], records: list[dict[str, Any]], column_shape: bool = False
) -> dict[str, Any]:
    """MLServer's `pd` form: one input per feature, named as the feature."""
    n = len(records)
    inputs = [
        {
            "name": f["name"],
            "shape": [n, 1] if column_shape else [n],
            "datatype": DATATYPE[f["dtype"]],
            "data": [r[f["name"]] for r in records],
        }
        for f in card["features"]
    ]
    return {"parameters": {"content_type": "pd"}, "inputs": inputs}


def _table(card: dict[str, Any], records: list[dict[str, Any]], nested: bool = True) -> dict[str, Any]:
    """One [n, features] input, its columns in the card's feature order."""
    names = [f["name"] for f in card["features"]]
    rows = [[r[name] for name in names] for r in records]
    data = rows if nested else [v for row in rows for v in row]
    return {
        "inputs": [
            {"name": "input-0", "shape": [len(records), len(names)], "datatype": "BYTES", "data": data}
        ]
    }


def _output(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in body["outputs"] if o["name"] == name)


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_per_feature_and_table_inputs_score_like_v1(
    make_settings: Callable[..., Settings], serving: Any, valid_records: list[dict[str, Any]], model_dir: Path
) -> None:
    card, records = _card(model_dir), valid_records[:8]
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(), registry)) as client:
        v1 = (await client.post("/v1/predict", json={"instances": records})).json()
        answers = [
            await client.post(INFER, json={"id": "req-42", **_columns(card, records)}),
            await client.post(INFER, json=_columns(card, records, column_shape=True)),
            await client.post(INFER, json=_table(card, records)),
            await client.post(INFER, json=_table(card, records, nested=False)),
            await client.post(
                f"/v2/models/churn/versions/{card['version']}/infer", json=_table(card, records)
            ),
        ]
    expected_class = [p["prediction"] for p in v1["predictions"]]
    expected_probability = [p["probability"] for p in v1["predictions"]]
    for response in answers:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_name"] == "churn"
        assert body["model_version"] == card["version"]
        assert [o["name"] for o in body["outputs"]] == ["predict", "predict_proba", "request_id"]
        predict, proba, ids = (_output(body, n) for n in ("predict", "predict_proba", "request_id"))
        assert predict == {"name": "predict", "shape": [8, 1], "datatype": "INT64", "data": expected_class}
        assert proba["shape"] == [8, 2]
        assert proba["datatype"] == "FP64"
        assert json.loads(proba["parameters"]["classes"]) == card["classes"]
        matrix = np.array(proba["data"]).reshape(8, 2)
        assert matrix[:, 1].tolist() == pytest.approx(expected_probability, rel=0, abs=1e-12)
        assert matrix.sum(axis=1).tolist() == pytest.approx([1.0] * 8)
        assert ids["datatype"] == "BYTES"
        assert ids["shape"] == [8, 1]
        assert len(set(ids["data"])) == 8
    assert answers[0].json()["id"] == "req-42"
    assert "id" not in answers[1].json()
    version = card["version"]
    assert (
        _sample(registry, "driftwatch_prediction_probability_count", model="churn", model_version=version)
        == 48
    )
    assert (
        _sample(registry, "driftwatch_http_requests_total", route=INFER_ROUTE, method="POST", status="200")
        == 4
    )
    versioned = "/v2/models/{model_name}/versions/{model_version}/infer"
    assert (
        _sample(registry, "driftwatch_http_requests_total", route=versioned, method="POST", status="200") == 1
    )


async def test_captured_rows_carry_the_request_ids_a_label_can_quote(
    make_settings: Callable[..., Settings],
    serving: Any,
    valid_records: list[dict[str, Any]],
    model_dir: Path,
    tmp_path: Path,
) -> None:
    card, records = _card(model_dir), valid_records[:5]
    async with serving(create_app(make_settings(), CollectorRegistry())) as client:
        body = (await client.post(INFER, json=_columns(card, records))).json()
        ids = _output(body, "request_id")["data"]
        feedback = await client.post("/v1/feedback", json={"request_id": ids[2], "label": 1})
    assert feedback.status_code == 202
    served = [f for f in (tmp_path / "capture" / "churn").rglob("*.parquet") if "feedback" not in f.parts]
    captured = pd.concat([pd.read_parquet(f) for f in served]).set_index("request_id")
    assert sorted(captured.index) == sorted(ids)
    predictions = dict(zip(ids, _output(body, "predict")["data"], strict=True))
    for request_id, record in zip(ids, records, strict=True):
        row = captured.loc[request_id]
        assert row["prediction"] == predictions[request_id]
        assert row["tenure_months"] == record["tenure_months"]
        assert row["contract"] == record["contract"]
    labels = pd.read_parquet(tmp_path / "capture" / "churn" / "feedback")
    assert labels["request_id"].tolist() == [ids[2]]


async def test_asking_for_some_outputs_returns_only_those(
    make_settings: Callable[..., Settings], serving: Any, valid_records: list[dict[str, Any]], model_dir: Path
) -> None:
    body = {
        **_columns(_card(model_dir), valid_records[:3]),
        "outputs": [{"name": "request_id"}, {"name": "predict"}],
    }
    async with serving(create_app(make_settings(), CollectorRegistry())) as client:
        response = await client.post(INFER, json=body)
    assert response.status_code == 200
    assert [o["name"] for o in response.json()["outputs"]] == ["request_id", "predict"]


def _set(body: dict[str, Any], name: str, **changes: Any) -> dict[str, Any]:
    """The body with input `name` changed."""
    inputs = [({**i, **changes} if i["name"] == name else i) for i in body["inputs"]]
    return {**body, "inputs": inputs}


def _drop(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {**body, "inputs": [i for i in body["inputs"] if i["name"] != name]}


def _value(body: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    """The first row's `name` set to `value`."""
    data = next(i["data"] for i in body["inputs"] if i["name"] == name)
    return _set(body, name, data=[value, *data[1:]])


def _table_value(body: dict[str, Any], column: int, value: Any) -> dict[str, Any]:
    """The first row's `column` of the table input set to `value`."""
    item = body["inputs"][0]
    first = list(item["data"][0])
    first[column] = value
    return {"inputs": [{**item, "data": [first, *item["data"][1:]]}]}


def _bad_table(body: dict[str, Any]) -> dict[str, Any]:
    item = body["inputs"][0]
    return {"inputs": [{**item, "shape": [2, 14], "data": [row[:14] for row in item["data"]]}]}


Body = dict[str, Any]
# (case, body made from valid per-feature and table bodies of 2 rows, reason, error's start, missing, invalid)
Counted = str | tuple[str, int] | None  # a feature counted once, or (feature, count)
BAD_BODIES: list[tuple[str, Callable[[Body, Body], Any], str, str, Counted, Counted]] = [
    (
        "unknown input",
        lambda b, _: {**b, "inputs": [*b["inputs"], {**b["inputs"][0], "name": "customer_id"}]},
        "extra_field",
        "customer_id: not a feature",
        None,
        None,
    ),
    ("missing feature", lambda b, _: _drop(b, "age"), "missing_field", "age: missing", ("age", 2), None),
    (
        "feature sent twice",
        lambda b, _: {**b, "inputs": [*b["inputs"], b["inputs"][0]]},
        "wrong_type",
        "tenure_months: sent twice",
        None,
        None,
    ),
    ("row shape", lambda b, _: _set(b, "age", shape=[1, 2]), "wrong_type", "age: shape [1, 2]", None, None),
    ("negative dimension", lambda b, _: _set(b, "age", shape=[-2]), "wrong_type", "age: shape", None, None),
    (
        "data shorter than shape",
        lambda b, _: _set(b, "age", shape=[3]),
        "wrong_type",
        "age: data holds 2",
        None,
        None,
    ),
    (
        "rows differ",
        lambda b, _: _set(b, "age", shape=[1], data=[30]),
        "wrong_type",
        "inputs: the inputs hold",
        None,
        None,
    ),
    (
        "unknown datatype",
        lambda b, _: _set(b, "age", datatype="FP128"),
        "wrong_type",
        "age: datatype 'FP128'",
        None,
        None,
    ),
    (
        "float datatype for an int",
        lambda b, _: _set(b, "num_lines", datatype="FP64"),
        "wrong_type",
        "num_lines: datatype FP64 does not fit",
        None,
        ("num_lines", 2),
    ),
    (
        "BYTES for a number",
        lambda b, _: _set(b, "tenure_months", datatype="BYTES", data=["12", "3"]),
        "wrong_type",
        "tenure_months: datatype BYTES",
        None,
        ("tenure_months", 2),
    ),
    (
        "BOOL",
        lambda b, _: _set(b, "age", datatype="BOOL", data=[True, False]),
        "wrong_type",
        "age: datatype BOOL",
        None,
        ("age", 2),
    ),
    (
        "float in INT64 data",
        lambda b, _: _set(b, "monthly_charges", datatype="INT64", data=[2.5, 3]),
        "wrong_type",
        "monthly_charges[0]",
        None,
        "monthly_charges",
    ),
    (
        "string in FP64 data",
        lambda b, _: _value(b, "data_usage_gb", "3.5"),
        "wrong_type",
        "data_usage_gb[0]: ",
        None,
        "data_usage_gb",
    ),
    (
        "below range",
        lambda b, _: _value(b, "tenure_months", -1),
        "out_of_range",
        "tenure_months[0]: Input should",
        None,
        "tenure_months",
    ),
    (
        "unknown category",
        lambda b, _: _value(b, "internet_service", "satellite"),
        "unknown_category",
        "internet_service[0]: ",
        None,
        "internet_service",
    ),
    (
        "null",
        lambda b, _: _value(b, "call_minutes", None),
        "missing_field",
        "call_minutes[0]: ",
        "call_minutes",
        None,
    ),
    (
        "NaN",
        lambda b, _: _value(b, "call_minutes", float("nan")),
        "not_finite",
        "call_minutes[0]: ",
        None,
        "call_minutes",
    ),
    (
        "table row out of range",
        lambda _, t: _table_value(t, 0, -1),
        "out_of_range",
        "input-0[0].tenure_months: ",
        None,
        "tenure_months",
    ),
    (
        "table of 14 columns",
        lambda _, t: _bad_table(t),
        "wrong_type",
        "input-0: shape [2, 14] has 14 columns",
        None,
        None,
    ),
    ("no inputs", lambda b, _: {"inputs": []}, "empty_batch", "inputs: no inputs", None, None),
    (
        "no rows",
        lambda b, _: {"inputs": [{**i, "shape": [0], "data": []} for i in b["inputs"]]},
        "empty_batch",
        "inputs: no rows",
        None,
        None,
    ),
    (
        "unknown output",
        lambda b, _: {**b, "outputs": [{"name": "predict_log_proba"}]},
        "extra_field",
        "outputs[0]: no output 'predict_log_proba'",
        None,
        None,
    ),
    ("inputs not a list", lambda b, _: {"inputs": b["inputs"][0]}, "wrong_type", "inputs: ", None, None),
    ("shape of strings", lambda b, _: _set(b, "age", shape=["2"]), "wrong_type", "inputs[", None, None),
    ("not an object", lambda b, _: [b], "wrong_type", "body: ", None, None),
]


@pytest.mark.parametrize(
    ("make_body", "reason", "start", "missing", "invalid"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_BODIES],
)
async def test_bad_input_is_a_400_naming_the_input_and_is_counted(
    make_settings: Callable[..., Settings],
    strict_model_dir: Path,
    serving: Any,
    valid_records: list[dict[str, Any]],
    make_body: Callable[[Body, Body], Any],
    reason: str,
    start: str,
    missing: Counted,
    invalid: Counted,
    tmp_path: Path,
) -> None:
    card, records = _card(strict_model_dir), valid_records[:2]
    body = make_body(_columns(card, records), _table(card, records))
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(model_dir=strict_model_dir), registry)) as client:
        # json.dumps writes NaN as a literal, as Python and JavaScript clients do.
        response = await client.post(INFER, content=json.dumps(body), headers=JSON)
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"}
    assert response.json()["error"].startswith(start), response.json()["error"]
    assert _sample(registry, "driftwatch_validation_failures_total", model="churn", reason=reason) == 1.0
    # One count per rejected row and feature, as on /v1: a whole column refused counts each of its 2 rows.
    expected_missing = dict([missing if isinstance(missing, tuple) else (missing, 1)])
    expected_invalid = dict([invalid if isinstance(invalid, tuple) else (invalid, 1)])
    for feature in card["features"]:
        name = feature["name"]
        count = _sample(registry, "driftwatch_feature_missing_total", model="churn", feature=name)
        assert count == expected_missing.get(name, 0), name
        count = _sample(
            registry, "driftwatch_feature_invalid_total", model="churn", feature=name, action="rejected"
        )
        assert count == expected_invalid.get(name, 0), name
    assert (
        _sample(registry, "driftwatch_http_requests_total", route=INFER_ROUTE, method="POST", status="400")
        == 1
    )
    assert not list((tmp_path / "capture").rglob("*.parquet"))


async def test_a_column_of_the_wrong_datatype_counts_every_row_like_v1(
    make_settings: Callable[..., Settings],
    strict_model_dir: Path,
    serving: Any,
    valid_records: list[dict[str, Any]],
) -> None:
    card = _card(strict_model_dir)
    body = _set(_columns(card, valid_records[:3]), "num_lines", datatype="FP32")
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(model_dir=strict_model_dir), registry)) as client:
        v2 = await client.post(INFER, json=body)
        v1 = await client.post(
            "/v1/predict", json={"instances": [{**r, "num_lines": 2.5} for r in valid_records[:3]]}
        )
    assert v2.status_code == 400
    assert v1.status_code == 422
    assert v2.json()["error"].endswith("(expected INT64 or another integer type)")
    invalid = {"model": "churn", "feature": "num_lines", "action": "rejected"}
    assert registry.get_sample_value("driftwatch_feature_invalid_total", invalid) == 6.0


@pytest.mark.parametrize(
    "payload", [b'{"inputs": [', b"\xff\xfe", b""], ids=["truncated", "not-utf8", "empty"]
)
async def test_malformed_json_is_a_400_naming_the_body(
    make_settings: Callable[..., Settings], serving: Any, payload: bytes
) -> None:
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(), registry)) as client:
        response = await client.post(INFER, content=payload, headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"].startswith("body: ")
    reasons = ("malformed_json", "missing_field")  # an empty body is a request without its object
    assert (
        sum(
            _sample(registry, "driftwatch_validation_failures_total", model="churn", reason=r) or 0
            for r in reasons
        )
        == 1
    )


async def test_batch_over_the_limit_is_refused_stating_the_limit(
    make_settings: Callable[..., Settings], serving: Any, valid_records: list[dict[str, Any]], model_dir: Path
) -> None:
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(max_batch_size=5), registry)) as client:
        response = await client.post(INFER, json=_table(_card(model_dir), valid_records[:6]))
    assert response.status_code == 400
    assert response.json() == {"error": "inputs: 6 rows; at most 5 rows per request"}
    assert (
        _sample(registry, "driftwatch_validation_failures_total", model="churn", reason="batch_too_large")
        == 1
    )


async def test_an_unknown_model_or_version_is_a_404_counted_under_its_template(
    make_settings: Callable[..., Settings], serving: Any, valid_records: list[dict[str, Any]], model_dir: Path
) -> None:
    card = _card(model_dir)
    registry = CollectorRegistry()
    async with serving(create_app(make_settings(), registry)) as client:
        answers = [
            await client.post("/v2/models/fraud/infer", json=_columns(card, valid_records[:2])),
            await client.post("/v2/models/fraud/infer", content=b"{", headers=JSON),
            await client.post(
                "/v2/models/churn/versions/0.0.1/infer", json=_columns(card, valid_records[:2])
            ),
            await client.get("/v2/models/fraud"),
            await client.get("/v2/models/fraud/ready"),
        ]
    for response in answers:
        assert response.status_code == 404
        assert set(response.json()) == {"error"}
    assert "'fraud' is not served here" in answers[0].json()["error"]
    assert "version '0.0.1'" in answers[2].json()["error"]
    assert (
        _sample(registry, "driftwatch_http_requests_total", route=INFER_ROUTE, method="POST", status="404")
        == 2
    )
    assert (
        registry.get_sample_value(
            "driftwatch_http_requests_total",
            {"route": "/v2/models/fraud/infer", "method": "POST", "status": "404"},
        )
        is None
    )
    assert not _sample(
        registry, "driftwatch_validation_failures_total", model="churn", reason="malformed_json"
    )


async def test_metadata_lists_every_feature_and_the_outputs(
    make_settings: Callable[..., Settings], serving: Any, model_dir: Path
) -> None:
    card = _card(model_dir)
    async with serving(create_app(make_settings())) as client:
        server = (await client.get("/v2")).json()
        model = await client.get("/v2/models/churn")
        versioned = await client.get(f"/v2/models/churn/versions/{card['version']}")
        live = await client.get("/v2/health/live")
        ready = await client.get("/v2/health/ready")
        model_ready = await client.get("/v2/models/churn/ready")
        openapi = (await client.get("/openapi.json")).json()
    assert server["name"] == "driftwatch"
    assert server["extensions"] == []
    assert server["version"]
    assert model.status_code == 200
    metadata = model.json()
    assert versioned.json() == metadata
    assert metadata["name"] == "churn"
    assert metadata["versions"] == [card["version"]]
    assert metadata["inputs"] == [
        {"name": f["name"], "datatype": DATATYPE[f["dtype"]], "shape": [-1]} for f in card["features"]
    ]
    assert len(metadata["inputs"]) == len(synthetic.FEATURE_NAMES)
    assert metadata["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1, 1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
        {"name": "request_id", "datatype": "BYTES", "shape": [-1, 1]},
    ]
    assert (live.status_code, live.json()) == (200, {"live": True})
    assert (ready.status_code, ready.json()) == (200, {"ready": True})
    assert (model_ready.status_code, model_ready.json()) == (200, {"name": "churn", "ready": True})
    paths = openapi["paths"]
    assert {"/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/{model_name}", INFER_ROUTE} <= set(
        paths
    )
    request_schema = paths[INFER_ROUTE]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert request_schema == {"$ref": "#/components/schemas/InferenceRequest"}
    assert "BYTES" in openapi["components"]["schemas"]["RequestInput"]["properties"]["datatype"]["enum"]
    assert "400" in paths[INFER_ROUTE]["post"]["responses"]


async def test_readiness_follows_the_capture_sink_like_readyz(
    make_settings: Callable[..., Settings], serving: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the capture directory should be")
    app = create_app(make_settings(capture_uri=(blocker / "capture").as_uri()), CollectorRegistry())
    async with serving(app) as client:
        readyz = await client.get("/readyz")
        ready = await client.get("/v2/health/ready")
        model_ready = await client.get("/v2/models/churn/ready")
        live = await client.get("/v2/health/live")
    assert readyz.status_code == 503
    assert ready.status_code == 400
    assert ready.json()["ready"] is False
    assert "not-a-directory" in ready.json()["error"]
    assert model_ready.status_code == 400
    assert model_ready.json()["ready"] is False
    assert live.status_code == 200


# --- other tasks ----------------------------------------------------------------------------------------


def _package(out: Path, task: str) -> Path:
    """A small Pipeline of `task` on synthetic data, packaged as a user would."""
    data = synthetic.generate(300, seed=5)
    features = list(synthetic.FEATURE_NAMES)
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), list(synthetic.CATEGORICAL))],
        remainder=StandardScaler(),
    )
    if task == "multiclass":
        target = np.array(["bronze", "silver", "gold"])[np.arange(len(data)) % 3]
        model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=300))])
    else:
        target = (data["monthly_charges"] * 1.5 + data["tenure_months"]).to_numpy()
        model = Pipeline([("pre", pre), ("reg", Ridge())])
    model.fit(data[features], target)
    reference = data[features].assign(label=target)
    package_model(sio.dumps(model), reference, "label", out, name=task, trained="2026-01-01T00:00:00Z")
    return out


@pytest.fixture(scope="module")
def other_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("v2-models")
    return {task: _package(root / task, task) for task in ("multiclass", "regression")}


async def test_a_multiclass_model_answers_string_classes_and_every_probability(
    make_settings: Callable[..., Settings],
    serving: Any,
    valid_records: list[dict[str, Any]],
    other_models: Any,
) -> None:
    model_dir = other_models["multiclass"]
    card, records = _card(model_dir), valid_records[:4]
    async with serving(create_app(make_settings(model_dir=model_dir), CollectorRegistry())) as client:
        v1 = (await client.post("/v1/predict", json={"instances": records})).json()["predictions"]
        response = await client.post("/v2/models/multiclass/infer", json=_columns(card, records))
        metadata = (await client.get("/v2/models/multiclass")).json()
    assert response.status_code == 200, response.text
    body = response.json()
    predict, proba = _output(body, "predict"), _output(body, "predict_proba")
    assert predict == {
        "name": "predict",
        "shape": [4, 1],
        "datatype": "BYTES",
        "data": [p["prediction"] for p in v1],
    }
    assert proba["shape"] == [4, 3]
    assert proba["datatype"] == "FP64"
    classes = json.loads(proba["parameters"]["classes"])
    assert classes == card["classes"] == ["bronze", "gold", "silver"]
    matrix = np.array(proba["data"]).reshape(4, 3)
    expected = [[p["probabilities"][c] for c in classes] for p in v1]
    np.testing.assert_allclose(matrix, expected, rtol=0, atol=1e-12)
    assert metadata["outputs"][:2] == [
        {"name": "predict", "datatype": "BYTES", "shape": [-1, 1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
    ]


async def test_a_regression_answers_float_values_and_no_probabilities(
    make_settings: Callable[..., Settings],
    serving: Any,
    valid_records: list[dict[str, Any]],
    other_models: Any,
) -> None:
    model_dir = other_models["regression"]
    card, records = _card(model_dir), valid_records[:4]
    async with serving(create_app(make_settings(model_dir=model_dir), CollectorRegistry())) as client:
        v1 = (await client.post("/v1/predict", json={"instances": records})).json()["predictions"]
        response = await client.post("/v2/models/regression/infer", json=_table(card, records))
        asked = await client.post(
            "/v2/models/regression/infer",
            json={**_table(card, records), "outputs": [{"name": "predict_proba"}]},
        )
        metadata = (await client.get("/v2/models/regression")).json()
    assert response.status_code == 200, response.text
    body = response.json()
    assert [o["name"] for o in body["outputs"]] == ["predict", "request_id"]
    predict = _output(body, "predict")
    assert predict["datatype"] == "FP64"
    assert predict["shape"] == [4, 1]
    assert predict["data"] == pytest.approx([p["prediction"] for p in v1], rel=1e-12)
    assert asked.status_code == 400
    assert asked.json()["error"].startswith("outputs[0]: no output 'predict_proba'")
    assert metadata["outputs"] == [
        {"name": "predict", "datatype": "FP64", "shape": [-1, 1]},
        {"name": "request_id", "datatype": "BYTES", "shape": [-1, 1]},
    ]
