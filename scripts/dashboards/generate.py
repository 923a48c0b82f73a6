"""Write the Grafana dashboards JSON (`make dashboards`); `--check` fails when the committed files differ."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

import drift
import inference
import overview
from grafana_foundation_sdk.cog.encoder import JSONEncoder

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "charts" / "driftwatch" / "files" / "dashboards"
BUILDERS = {"overview": overview.build, "inference": inference.build, "drift": drift.build}


def render() -> dict[str, str]:
    """File name -> JSON text, stable (sorted keys) so `--check` compares byte for byte."""
    encoder = JSONEncoder(sort_keys=True, indent=2)
    return {f"{name}.json": encoder.encode(build().build()) + "\n" for name, build in BUILDERS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a diff")
    args = parser.parse_args(argv)
    stale = []
    rendered = render()
    for name, text in rendered.items():
        path = args.out / name
        if args.check:
            current = path.read_text() if path.exists() else ""
            if current != text:
                stale.append(name)
                sys.stdout.writelines(
                    difflib.unified_diff(
                        current.splitlines(True), text.splitlines(True), str(path), "generated", n=1
                    )
                )
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    extra = sorted(p.name for p in args.out.glob("*.json") if p.name not in rendered)
    if args.check and (stale or extra):
        print(f"dashboards out of date: {stale + extra}; run `make dashboards`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
