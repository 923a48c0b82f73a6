"""The emulator's guard on kmock's private API names the version the dev lock file pins."""

from __future__ import annotations

import re

import pytest
from support.crd_schema import CRD_PATH

pytestmark = pytest.mark.unit

ROOT = CRD_PATH.parents[3]


def test_the_emulator_expects_the_pinned_kmock() -> None:
    emulator = (ROOT / "tests" / "support" / "kmock_cluster.py").read_text(encoding="utf-8")
    expected = re.search(r'^KMOCK_VERSION = "([^"]+)"$', emulator, re.M)
    pinned = re.search(r"^kmock==(\S+)$", (ROOT / "requirements" / "dev.in").read_text(), re.M)
    assert expected is not None
    assert pinned is not None
    assert expected.group(1) == pinned.group(1)
