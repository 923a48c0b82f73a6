"""Cross-service tests: puts tests/ on sys.path so test modules import `support.*` (launchers, emulators)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
