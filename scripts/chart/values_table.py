"""Write the values table of the chart README from values.yaml's `# --` comments (`make chart-docs`);
`--check` fails when the committed README differs (`make verify`)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "driftwatch"
START, END = "<!-- values-table:start -->", "<!-- values-table:end -->"
KEY = re.compile(r"^(\s*)([A-Za-z_][\w-]*):")


def documented(values_text: str) -> list[tuple[str, str]]:
    """(dotted path, description) of every key whose line follows a `# --` comment, in file order."""
    rows: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []
    comment = ""
    for line in values_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            comment = stripped.removeprefix("# --").strip()
            continue
        match = KEY.match(line)
        if match:
            indent, key = len(match.group(1)), match.group(2)
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, key))
            if comment:
                rows.append((".".join(k for _, k in stack), comment))
        if stripped and not stripped.startswith("#"):
            comment = ""
    return rows


def default_of(values: dict[str, Any], path: str) -> str:
    """The default as compact JSON in backticks; long maps (resources, contexts) point at the file."""
    node: Any = values
    for part in path.split("."):
        node = node[part]
    text = json.dumps(node, separators=(", ", ": ")).replace("|", "\\|")
    return f"`{text}`" if len(text) <= 60 else "see values.yaml"


def table(values_text: str) -> str:
    values = yaml.safe_load(values_text)
    lines = ["| value | default | description |", "| --- | --- | --- |"]
    for path, description in documented(values_text):
        description = description.replace("|", "\\|")
        lines.append(f"| `{path}` | {default_of(values, path)} | {description} |")
    return "\n".join(lines)


def render(readme: str, values_text: str) -> str:
    before, rest = readme.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{table(values_text)}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when the README table is out of date")
    args = parser.parse_args(argv)
    readme_path = CHART / "README.md"
    readme = readme_path.read_text()
    expected = render(readme, (CHART / "values.yaml").read_text())
    if args.check:
        if readme != expected:
            print(
                "charts/driftwatch/README.md values table is out of date: run `make chart-docs`",
                file=sys.stderr,
            )
            return 1
        return 0
    readme_path.write_text(expected)
    return 0


if __name__ == "__main__":
    sys.exit(main())
