"""The benchmarks' side virtual environments (MLServer, NannyML): each built from its hash-pinned lock
file when absent, with the uv of the project's .venv, so a baseline never shares the service's packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".venv" / "bin" / "uv"


def ensure_venv(venv: Path, lock: Path) -> Path:
    """The python of `venv`, created and synced from `lock` when it does not exist yet."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(UV), "pip", "sync", "--quiet", "--python", str(python), str(lock)], check=True)
    return python
