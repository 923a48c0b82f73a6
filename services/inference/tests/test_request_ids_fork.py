"""Request ids across a fork (request_ids.py): a pre-fork server's children never repeat an id."""

from __future__ import annotations

import multiprocessing

import pytest
from driftwatch_inference.request_ids import RequestIds

pytestmark = pytest.mark.integration


def _take_one(ids: RequestIds, out: multiprocessing.SimpleQueue) -> None:  # type: ignore[type-arg]
    out.put(ids.take())


def test_a_forked_child_never_hands_out_the_parents_ids() -> None:
    ids = RequestIds(batch=64)
    ids.take()  # the parent now holds 63 ready ids
    fork = multiprocessing.get_context("fork")
    out = fork.SimpleQueue()
    child = fork.Process(target=_take_one, args=(ids, out))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    from_child = out.get()
    from_parent = [ids.take() for _ in range(63)]
    assert from_child not in from_parent
