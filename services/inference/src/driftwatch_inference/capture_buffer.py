"""The capture's in-memory buffer: rows appended by request handlers, taken whole by the flusher.

The request thread appends a row tuple to a list (one C call, about 0.1 µs, under a lock held only for
that append); the flusher swaps in an empty list and converts what it took. Per-column lists were tried
and measured (docs/benchmarks.md, "Inference service"): appending each value to its column costs the
request thread about 1 µs a row more than the tuple, and saves the flusher less than that.

Conversion is per chunk of CONVERT_CHUNK rows, column by column (`pa.array` over one homogeneous column of
Python objects, which holds the GIL); the thread yields between chunks so that requests go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

Row = tuple[Any, ...]
# A column's values → the values written (e.g. the keyed hash of a PII feature); applied per chunk.
ColumnTransform = Callable[[Sequence[Any]], list[Any]]
CONVERT_CHUNK = 1000


class Block:
    """Rows taken together by the flusher, in arrival order."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def __len__(self) -> int:
        return len(self.rows)

    def batches(
        self, schema: pa.Schema, transforms: Mapping[int, ColumnTransform] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The rows as record batches of `schema`, CONVERT_CHUNK rows each; `transforms` by column index."""
        for start in range(0, len(self.rows), CONVERT_CHUNK):
            columns: list[Sequence[Any]] = list(zip(*self.rows[start : start + CONVERT_CHUNK], strict=True))
            for index, transform in (transforms or {}).items():
                columns[index] = transform(columns[index])
            arrays = [pa.array(col, type=field.type) for col, field in zip(columns, schema, strict=True)]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)
            time.sleep(0)


class RowBuffer:
    """Rows waiting for the flusher; the writer checks room before appending (the bound is its own).

    `rows` and `lock` are the request path's: `CaptureWriter.submit` reads `len(rows)` and extends
    `rows` under `lock` itself, rather than through two method calls (2,000 instructions a request,
    scripts/bench/request_cost.py); `take` swaps in a new list under the same lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[Row] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, rows: Sequence[Row]) -> None:
        with self.lock:
            self.rows.extend(rows)

    def take(self) -> Block:
        """Everything buffered now, as one block; the buffer starts a new list (no per-row pop)."""
        block = Block()
        with self.lock:
            block.rows, self.rows = self.rows, []
        return block
