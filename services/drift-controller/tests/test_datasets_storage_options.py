"""DRIFTWATCH_STORAGE_OPTIONS reaches the object-store URIs a check reads (an S3 endpoint), never local
files or HTTP, and a bad value is an unusable-input DataError naming the variable."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from driftwatch_controller.engine import datasets
from driftwatch_controller.engine.datasets import STORAGE_OPTIONS_ENV, DataError

pytestmark = pytest.mark.unit
ENDPOINT = {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}}


def test_object_store_uris_get_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STORAGE_OPTIONS_ENV, '{"client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}}')
    assert datasets.storage_options("s3://bucket/capture/churn") == ENDPOINT
    assert datasets.storage_options("file:///data/capture/churn") == {}
    assert datasets.storage_options("/data/reference/churn.parquet") == {}
    assert datasets.storage_options("https://example.org/reference.parquet") == {}


def test_local_reads_ignore_the_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(STORAGE_OPTIONS_ENV, '{"client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}}')
    pd.DataFrame({"a": [1, 2]}).to_parquet(tmp_path / "ref.parquet")
    assert datasets.read_table((tmp_path / "ref.parquet").as_uri())["a"].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("value", "message"), [("{not json", "is not JSON"), ("[1]", "must be a JSON object")]
)
def test_a_bad_value_is_a_data_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv(STORAGE_OPTIONS_ENV, value)
    with pytest.raises(DataError, match=f"{STORAGE_OPTIONS_ENV} {message}"):
        datasets.read_table("s3://bucket/reference.parquet")
