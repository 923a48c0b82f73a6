"""What the benchmarks read from wrk: the `RESULT key=value ...` line their Lua `done` hook prints."""

from __future__ import annotations

import re
import subprocess

# The latency percentiles a `done` hook prints on its PCTL line (`p:us,...`): fine in the tail, so that
# rounds can be merged into one distribution (`merged_percentile`).
PERCENTILES = (
    *range(1, 90),
    *(90 + i / 2 for i in range(18)),
    *(99 + i / 20 for i in range(20)),
    99.99,
    100,
)
PCTL_LUA = (
    "  local parts = {}\n"
    "  for _, p in ipairs({" + ", ".join(f"{p:g}" for p in PERCENTILES[:-1]) + "}) do\n"
    '    parts[#parts + 1] = p .. ":" .. latency:percentile(p)\n'
    "  end\n"
    '  parts[#parts + 1] = "100:" .. latency.max\n'
    '  io.write("PCTL " .. table.concat(parts, ",") .. "\\n")\n'
)


def wrk_percentiles(done: subprocess.CompletedProcess[str]) -> list[tuple[float, float]]:
    """The PCTL line: (percentile, latency µs) pairs, ascending."""
    match = re.search(r"PCTL (.*)", done.stdout)
    if match is None:
        raise RuntimeError(done.stdout + done.stderr)
    return [(float(p), float(us)) for p, us in (kv.split(":") for kv in match.group(1).split(","))]


def merged_percentile(rounds: list[tuple[int, list[tuple[float, float]]]], q: float) -> float:
    """The q-th percentile (µs) of the requests of every round together.

    Each round is (its request count, its percentile table); its CDF is read between table points by
    linear interpolation, and the merged CDF is the request-weighted mean of the rounds' CDFs.
    """
    total = sum(n for n, _ in rounds)

    def below(x: float) -> float:  # share of all requests at most x
        share = 0.0
        for n, table in rounds:
            if x >= table[-1][1]:
                share += n
                continue
            prev_p, prev_x = 0.0, 0.0
            for p, v in table:
                if x < v:  # hence v > prev_x
                    share += n * (prev_p + (p - prev_p) * (x - prev_x) / (v - prev_x)) / 100
                    break
                prev_p, prev_x = p, v
        return share / total

    low, high = 0.0, max(table[-1][1] for _, table in rounds)
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if below(mid) < q / 100 else (low, mid)
    return high


def wrk_result(done: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """The RESULT line's fields (requests, duration_us, p50_us, p99_us, non2xx, socket_errors)."""
    match = re.search(r"RESULT (.*)", done.stdout)
    if match is None:
        raise RuntimeError(done.stdout + done.stderr)
    return {k: int(v) for k, v in (kv.split("=") for kv in match.group(1).split())}
