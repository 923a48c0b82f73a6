"""Both service images and the dev venv install the shared capture schema, from its own folder."""

from __future__ import annotations

import re
import tomllib

import pytest
from support.chart_render import ROOT
from support.image_builds import build_contexts

pytestmark = pytest.mark.unit

PACKAGE = ROOT / "services" / "capture-schema"


@pytest.mark.parametrize("service", ["inference", "drift-controller"])
def test_the_image_installs_the_capture_schema_before_its_service(service: str) -> None:
    assert build_contexts(service)["capture-schema"] == PACKAGE
    dockerfile = (ROOT / "services" / service / "Dockerfile").read_text()
    installs = re.findall(r"^RUN pip install --no-deps (\S+)", dockerfile, re.MULTILINE)
    assert installs.index("/src/capture-schema") < installs.index(".")


@pytest.mark.parametrize("service", ["inference", "drift-controller"])
def test_the_capture_schema_needs_nothing_beyond_the_service_lock(service: str) -> None:
    requires = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]["dependencies"]
    locked = (ROOT / "services" / service / "requirements.lock").read_text().lower()
    for requirement in requires:
        package = re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower()
        assert f"\n{package}==" in locked, f"{service}: {package} is not in requirements.lock"


def test_make_install_installs_the_capture_schema_editable() -> None:
    assert "-e services/capture-schema " in (ROOT / "Makefile").read_text()
