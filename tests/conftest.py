"""Cross-service tests: puts tests/ on sys.path so test modules import `support.*` (launchers, emulators),
and splits the suite into work units for `make test`'s two pytest-xdist workers."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Folders whose tests share one session-scoped process (the control plane and its pod runner, a
# SparkSession, a Prefect server): each folder runs whole on one worker, so that process starts once.
SHARED_PROCESS_FOLDERS = ("tests/cluster", "tests/spark", "tests/prefect")
# The longest units first (minutes each, from `--durations`), the rest in collection order: a worker
# that drew a long unit last would leave the other idle at the end.
LONGEST_FIRST = (
    "tests/cluster",
    "tests/spark",
    "tests/prefect",
    "tests/drift/test_own_models_end_to_end.py",
    "tests/drift/test_cbpe_against_nannyml.py",
)


def work_unit(nodeid: str) -> str:
    """What runs whole on one worker: a shared-process folder, else the test's module (its fixtures)."""
    module = nodeid.split("::", 1)[0]
    return next((f for f in SHARED_PROCESS_FOLDERS if module.startswith(f"{f}/")), module)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return  # one process: collection order
    rank = {unit: i for i, unit in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(rank)))  # stable: order kept within


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Hand out whole work units (`work_unit`), in collection order; see the Makefile's TEST_WORKERS.

    A scheduler of our own rather than `xdist_group` marks: pytest 9 keeps node ids where xdist 3.8's
    loadgroup can no longer suffix them, so the marks are silently ignored and a module's tests split.
    """
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnitScheduling(config, log)
