"""What the benchmarks read from wrk: the `RESULT key=value ...` line their Lua `done` hook prints."""

from __future__ import annotations

import re
import subprocess


def wrk_result(done: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """The RESULT line's fields (requests, duration_us, p50_us, p99_us, non2xx, socket_errors)."""
    match = re.search(r"RESULT (.*)", done.stdout)
    if match is None:
        raise RuntimeError(done.stdout + done.stderr)
    return {k: int(v) for k, v in (kv.split("=") for kv in match.group(1).split())}
