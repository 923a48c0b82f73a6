"""Request ids: random version-4 UUIDs written as 32 hex digits, made a thousand at a time.

Every scored row gets one; clients quote it in `POST /v1/feedback` and the capture's sampling reads
it as a fraction of 2^64 (docs/inference.md), so ids come from the operating system's random source,
not a seeded generator whose next ids could be guessed from the last few. `uuid.uuid4().hex` once a
row cost 4-6% of a single-row request here (docs/benchmarks.md, "Request ids"): a UUID object built in
Python, and a `getrandom` call that hands the interpreter lock to the capture's thread and back. A
batch is one call and a few array operations; handing one out is a list pop.
"""

from __future__ import annotations

import os
import weakref

import numpy as np

BATCH = 1024


def random_ids(n: int) -> list[str]:
    """`n` version-4 UUIDs (RFC 9562 variant) as lower-case hex, as `uuid.uuid4().hex` writes them."""
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4 in the high nibble of byte 6
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # variant bits 10 in byte 8
    text = raw.tobytes().hex()
    return [text[i : i + 32] for i in range(0, 32 * n, 32)]


class RequestIds:
    """Hands out fresh ids; `take` is safe from several threads (a list pop is one atomic call, and
    two threads refilling at once each take from a batch of their own) and across a fork (the child
    drops the batch it inherited, which the parent goes on handing out)."""

    def __init__(self, batch: int = BATCH) -> None:
        self._batch = batch
        self._ready: list[str] = []
        this = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forget(this()))

    def take(self) -> str:
        try:
            return self._ready.pop()
        except IndexError:
            ready = self._ready = random_ids(self._batch)
            return ready.pop()


def _forget(ids: RequestIds | None) -> None:
    if ids is not None:
        ids._ready = []
