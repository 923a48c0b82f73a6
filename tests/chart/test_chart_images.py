"""The service Dockerfiles build, from the contexts `make images` gives them, what the chart runs.

No Docker engine here: these read the Dockerfiles, the .dockerignore files and the lock files, and
check what would break `make images` or a pod on kind.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from support.chart_render import CHART, ROOT
from support.image_builds import build_contexts

pytestmark = pytest.mark.unit

SERVICES = ("inference", "drift-controller")


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


@pytest.mark.parametrize("service", SERVICES)
def test_every_copy_source_is_in_the_build_context(service: str) -> None:
    contexts = build_contexts(service)
    stages = {args.split()[-1] for name, args in instructions(contexts[""] / "Dockerfile") if name == "FROM"}
    for name, args in instructions(contexts[""] / "Dockerfile"):
        if name != "COPY":
            continue
        origin = re.search(r"--from=(\S+)", args)
        if origin and origin.group(1) in stages:
            continue  # from an earlier build stage
        # COPY --from=<name> reads the named context <name> (`--build-context <name>=<dir>`).
        assert origin is None or origin.group(1) in contexts, f"{service}: no context {origin.group(1)}"
        context = contexts[origin.group(1) if origin else ""]
        ignore = (context / ".dockerignore").read_text().splitlines()
        allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
        *sources, _destination = re.sub(r"--from=\S+\s+", "", args).split()
        for source in sources:
            assert (context / source).exists(), f"{service}: COPY {source} is not in {context}"
            if "**" in ignore:  # everything is ignored but the `!` lines
                assert source.rstrip("/") in allowed, f"{service}: COPY {source} is excluded by .dockerignore"


def test_the_demo_tools_need_nothing_beyond_the_inference_lock() -> None:
    """The inference image installs driftwatch-demo with --no-deps over services/inference's lock."""
    assert build_contexts("inference")["demo"] == ROOT / "services" / "demo"
    requires = tomllib.loads((ROOT / "services" / "demo" / "pyproject.toml").read_text())["project"]
    locked = (ROOT / "services" / "inference" / "requirements.lock").read_text().lower()
    for requirement in requires["dependencies"]:
        package = re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower()
        if package != "driftwatch-inference":  # installed from the main context, just before
            assert f"\n{package}==" in locked, f"driftwatch-demo needs {package}, not in the inference lock"


@pytest.mark.parametrize("service", SERVICES)
def test_the_project_install_has_its_build_backend(service: str) -> None:
    """Without build isolation, pip builds with the venv's own setuptools: ensurepip's 65.5 in
    python:3.11, which cannot build a wheel (no `wheel` package). The backend must then be locked."""
    context = ROOT / "services" / service
    requires = tomllib.loads((context / "pyproject.toml").read_text())["build-system"]["requires"]
    locked = (context / "requirements.lock").read_text().lower()
    for name, args in instructions(context / "Dockerfile"):
        if name == "RUN" and re.search(r"pip install [^&]*--no-deps[^&]* \.(\s|$)", args):
            if "--no-build-isolation" in args:
                for requirement in requires:
                    package = re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower()
                    assert f"\n{package}==" in locked, f"{service}: {package} is not in requirements.lock"
            return
    pytest.fail(f"{service}: no `pip install --no-deps .` of the project in the Dockerfile")


def test_the_inference_image_holds_the_reference_the_chart_copies() -> None:
    steps = instructions(ROOT / "services" / "inference" / "Dockerfile")
    train = next(args for name, args in steps if name == "RUN" and "driftwatch-demo train" in args)
    model_dir = re.search(r"--out (\S+)", train)
    assert model_dir is not None
    assert ("COPY", f"--from=build {model_dir.group(1)} {model_dir.group(1)}") in steps
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    # `train --out DIR` writes DIR/reference.parquet (docs/architecture.md, model directory), which the
    # copy-reference initContainer of the `builtin` model reads from `inference.modelDir`.
    assert values["inference"]["modelDir"] == model_dir.group(1)
    assert [m["source"] for m in values["models"]] == [{"builtin": True}]
