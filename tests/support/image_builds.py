"""What `make images` builds, read from the Makefile and the Dockerfiles (no Docker engine here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from support.chart_render import ROOT

MAKEFILE = ROOT / "Makefile"
# Image variable of the Makefile → folder under services/.
SERVICE_OF_VARIABLE = {"INFERENCE_IMAGE": "inference", "CONTROLLER_IMAGE": "drift-controller"}


def makefile_variables() -> dict[str, str]:
    return dict(re.findall(r"^([A-Z_]+)\s*\?=\s*(.+?)\s*$", MAKEFILE.read_text(), re.MULTILINE))


def built_images() -> dict[str, str]:
    """Image reference (default tag) → the service folder it is built from."""
    variables = makefile_variables()
    tag = variables["IMAGE_TAG"]
    return {variables[v].replace("$(IMAGE_TAG)", tag): s for v, s in SERVICE_OF_VARIABLE.items()}


def build_contexts(service: str) -> dict[str, Path]:
    """The contexts `make images` gives the service's build: "" the main one, then each named one."""
    line = next(
        line for line in MAKEFILE.read_text().splitlines() if f"-f services/{service}/Dockerfile" in line
    )
    assert line.rstrip().endswith(f"-f services/{service}/Dockerfile services/{service}"), line
    named = dict(re.findall(r"--build-context (\S+)=(\S+)", line))
    return {"": ROOT / "services" / service} | {name: ROOT / path for name, path in named.items()}


def image_commands(image: str) -> set[str]:
    """The console scripts of every project the image's Dockerfile installs with `pip install --no-deps`."""
    service = built_images()[image]
    contexts = build_contexts(service)
    dockerfile = (contexts[""] / "Dockerfile").read_text()
    commands: set[str] = set()
    for target in re.findall(r"^RUN pip install --no-deps (\S+)", dockerfile, re.MULTILINE):
        # `.` is the main context; /src/<name> is where the named context <name> was copied.
        context = contexts[""] if target == "." else contexts[target.rsplit("/", 1)[-1]]
        project = tomllib.loads((context / "pyproject.toml").read_text())["project"]
        commands |= set(project.get("scripts", {}))
    return commands
