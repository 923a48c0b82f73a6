"""Request ids (request_ids.py): version-4 UUIDs, unique, from several threads at once."""

from __future__ import annotations

import re
import threading
import uuid

import pytest
from driftwatch_inference.request_ids import RequestIds, random_ids

pytestmark = pytest.mark.unit


def test_ids_are_version_4_uuids_written_as_uuid4_hex_writes_them() -> None:
    for text in random_ids(500):
        assert re.fullmatch(r"[0-9a-f]{32}", text)
        parsed = uuid.UUID(hex=text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert parsed.hex == text


def test_ids_stay_unique_across_refills() -> None:
    ids = RequestIds(batch=64)
    taken = [ids.take() for _ in range(64 * 5 + 3)]
    assert len(set(taken)) == len(taken)


def test_ids_are_random_not_a_sequence() -> None:
    # A hex digit outside the version (12) and variant (16) positions takes all 16 values over 2,000 ids.
    taken = random_ids(2000)
    for position in (0, 5, 13, 20, 31):
        assert len({t[position] for t in taken}) == 16


def test_threads_taking_at_once_never_share_an_id() -> None:
    ids = RequestIds(batch=16)
    taken: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def worker(out: list[str]) -> None:
        start.wait()
        out.extend(ids.take() for _ in range(2000))

    threads = [threading.Thread(target=worker, args=(out,)) for out in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [t for out in taken for t in out]
    assert len(everything) == 16000
    assert len(set(everything)) == 16000
