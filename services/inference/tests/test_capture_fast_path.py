"""The request path's cheap parts: the unseen-value check and the capture buffer's Parquet encoding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from driftwatch_inference.capture import CaptureWriter
from driftwatch_inference.model_card import load_card
from driftwatch_inference.unseen import unseen_features

pytestmark = pytest.mark.unit


def _valid_row(model_dir: Path) -> dict[str, Any]:
    card = load_card(model_dir)
    row: dict[str, Any] = {}
    for f in card.features:
        row[f.name] = f.categories[0] if f.kind == "categorical" else f.valid_min
    return row


def test_a_row_inside_the_cards_domain_has_nothing_unseen(model_dir: Path) -> None:
    check = unseen_features(load_card(model_dir))
    assert check is not None
    assert list(check(_valid_row(model_dir))) == []


def test_the_unseen_check_names_each_unseen_category_and_out_of_range_number(model_dir: Path) -> None:
    card = load_card(model_dir)
    check = unseen_features(card)
    assert check is not None
    category = next(f for f in card.features if f.kind == "categorical")
    numbers = [f for f in card.features if f.kind == "numerical" and f.valid_max is not None]
    row = _valid_row(model_dir)
    row[category.name] = "never-seen"
    row[numbers[0].name] = numbers[0].valid_max + 1
    row[numbers[1].name] = numbers[1].valid_min - 1
    assert sorted(check(row)) == sorted([category.name, numbers[0].name, numbers[1].name])
    # The bounds themselves are inside the domain.
    row = _valid_row(model_dir)
    row[numbers[0].name] = numbers[0].valid_max
    assert list(check(row)) == []


def test_dictionary_pages_and_statistics_only_where_they_serve(tmp_path: Path) -> None:
    fields = [("request_id", pa.string()), ("ts", pa.timestamp("us", tz="UTC")), ("plan", pa.string())]
    schema = pa.schema([*fields, ("value", pa.float64())])
    options: dict[str, Any] = {"host": "h", "queue_size": 1000, "flush_rows": 1000, "flush_interval_s": 60.0}
    writer = CaptureWriter(tmp_path.as_uri(), "m", schema, **options)
    rows = [(f"r{i}", 1_700_000_000_000_000 + i, "gold" if i % 2 else "basic", i / 7) for i in range(500)]
    assert writer.submit(rows) == 500
    assert writer.flush() == 500
    (path,) = tmp_path.rglob("*.parquet")
    chunk = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {chunk.column(i).path_in_schema: chunk.column(i).encodings for i in range(chunk.num_columns)}
    assert any("DICTIONARY" in e for e in encodings["plan"])
    assert not any("DICTIONARY" in e for e in encodings["request_id"])
    assert not any("DICTIONARY" in e for e in encodings["value"])
    statistics = {
        chunk.column(i).path_in_schema: chunk.column(i).is_stats_set for i in range(chunk.num_columns)
    }
    assert statistics == {"request_id": False, "ts": True, "plan": True, "value": True}
    table = pq.read_table(path)
    assert table.column("request_id").to_pylist() == [r[0] for r in rows]
    assert table.column("plan").to_pylist() == [r[2] for r in rows]
