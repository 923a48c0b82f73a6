"""The machine line the benchmarks print and record next to their figures (docs/benchmarks.md)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """`2 CPUs (AMD EPYC ...), Linux 6.18..., Python 3.11.7`."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{os.cpu_count()} CPUs ({model}), {system}"
