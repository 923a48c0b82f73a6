"""The package's layers, read from the source: api below engine and controller, which never meet."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "driftwatch_controller"
# What each subpackage may not import (module prefixes). checkpod.py is the one bridge.
FORBIDDEN = {
    "api": ("kopf", "kubernetes", "driftwatch_controller.engine", "driftwatch_controller.controller",
            "driftwatch_controller.checkpod", "pandas", "numpy"),
    "engine": ("kopf", "kubernetes", "driftwatch_controller.controller", "driftwatch_controller.checkpod"),
    "controller": ("driftwatch_controller.engine", "driftwatch_controller.checkpod", "evidently"),
}  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (lazy imports count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(layer: str) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for module in sorted(imported_modules(path)):
            if any(module == bad or module.startswith(f"{bad}.") for bad in FORBIDDEN[layer]):
                found.append(f"{path.relative_to(PACKAGE)} imports {module}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    assert list((PACKAGE / layer).glob("*.py")), f"{layer}/ has no modules"
    assert violations(layer) == []


def test_the_scan_sees_lazy_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    import kopf\n    from kubernetes import client\n")
    assert imported_modules(source) == {"kopf", "kubernetes", "kubernetes.client"}


def test_evidently_is_named_by_its_adapter_only() -> None:
    # The adapter imports Evidently lazily (importlib with the module's name as a string).
    def names_evidently(path: Path) -> bool:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        strings = {
            n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
        }
        modules = imported_modules(path) | strings
        return any(m == "evidently" or m.startswith("evidently.") for m in modules)

    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if names_evidently(p))
    assert users == ["engine/evidently_adapter.py"]
