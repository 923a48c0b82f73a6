"""Process-wide settings of a served process (server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from driftwatch_inference.server import use_system_allocator_for_arrow

pytestmark = pytest.mark.unit


@pytest.fixture
def arrow_pool() -> Iterator[None]:
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


@pytest.mark.usefixtures("arrow_pool")
def test_arrow_allocates_from_the_c_library_in_a_served_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    use_system_allocator_for_arrow()
    assert pa.default_memory_pool().backend_name == "system"


@pytest.mark.usefixtures("arrow_pool")
def test_an_allocator_named_in_the_environment_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    pa.set_memory_pool(pa.jemalloc_memory_pool())
    use_system_allocator_for_arrow()
    assert pa.default_memory_pool().backend_name == "jemalloc"
