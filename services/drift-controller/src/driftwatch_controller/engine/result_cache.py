"""Values costly to compute (calibrated thresholds, sketch margins, multivariate bands), kept by key.

In memory for the run, and as one small JSON file per key under a cache directory when one is set,
so a check that keeps its cache between scheduled runs pays each bootstrap once. A damaged entry is
computed again and a read-only directory only costs the computation: the cache is never fatal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ResultCache(Generic[T]):
    """`get(key, compute)`: the value of `key`, computed (and stored) only when no cache holds it."""

    def __init__(
        self,
        cache_dir: Path | None,
        encode: Callable[[T], Mapping[str, Any]],
        decode: Callable[[Mapping[str, Any]], T],
    ) -> None:
        self.cache_dir = cache_dir
        self._encode = encode
        self._decode = decode
        self._memory: dict[str, T] = {}

    def get(self, key: str, compute: Callable[[], T]) -> T:
        if key in self._memory:
            return self._memory[key]
        value = self._read(key)
        if value is None:
            value = compute()
            self._write(key, value)
        self._memory[key] = value
        return value

    def _path(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / f"{key}.json"

    def _read(self, key: str) -> T | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            return self._decode(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged entry is computed again, never fatal

    def _write(self, key: str, value: T) -> None:
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(dict(self._encode(value))))
        except OSError:
            pass  # a read-only cache location only costs a recomputation


def scalar_cache(cache_dir: Path | None, field: str) -> ResultCache[float]:
    """A cache of floats, each stored as `{field: value}`."""
    return ResultCache(cache_dir, lambda value: {field: value}, lambda data: float(data[field]))
