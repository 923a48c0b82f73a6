"""`driftwatch` command line: `check` (the drift engine) and `controller` (the DriftCheck operator)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="driftwatch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="environment: DRIFTWATCH_* variables configure `controller` (see `driftwatch controller "
        "--help`);\n  `check --driftcheck` reads DRIFTWATCH_REPORT_DIR and the in-cluster or KUBECONFIG "
        "credentials.\n\n"
        "exit codes: those of the sub-command (see its --help); 2 on a usage error.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    # Imported here so that `driftwatch --help` stays fast; each module imports its heavy parts lazily.
    from driftwatch_controller import check_command, controller_command

    check_command.add_parser(sub)
    controller_command.add_parser(sub)
    # `prefect` parses everywhere; Prefect itself is imported only when it runs (extra [prefect]).
    from driftwatch_controller.prefect_flow import command as prefect_command

    prefect_command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
