"""What the flow shows in Prefect: the verdict line of its logs and the Markdown artefact's verdict table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def verdict_line(name: str, status: Mapping[str, Any]) -> str:
    """The line `driftwatch check` logs for a run: verdict / recommendation: reason."""
    return f"check {name}: {status['verdict']} / {status['recommendation']}: {status['reason']}"


def _cell(value: Any) -> str:
    text = "" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))
    return text.replace("|", "\\|").replace("\n", " ")


def verdict_markdown(name: str, status: Mapping[str, Any]) -> str:
    """The verdict table, then one row per measured column (the status' own numbers)."""
    window = status.get("window") or {}
    rows = status.get("rows") or {}
    summary = [
        ("Verdict", status.get("verdict")),
        ("Recommendation", status.get("recommendation")),
        ("Reason", status.get("reason")),
        ("Run", status.get("runId")),
        ("Drift share", status.get("driftShare")),
        ("Drifted columns", f"{status.get('driftedColumns')} of {status.get('monitoredColumns')}"),
        ("Rows (reference / current)", f"{rows.get('reference')} / {rows.get('current')}"),
        ("Window", f"{window.get('start')} to {window.get('end')}" if window else "whole file"),
        ("Thresholds", status.get("thresholds")),
    ]
    lines = [f"# DriftCheck {name}", "", "| | |", "|---|---|"]
    lines += [f"| {label} | {_cell(value)} |" for label, value in summary]
    columns = status.get("columns") or []
    if columns:
        lines += ["", "| Column | Type | Method | Score | Threshold | Drifted |", "|---|---|---|---|---|---|"]
        keys = ("name", "type", "method", "score", "threshold", "drifted")
        lines += ["| " + " | ".join(_cell(c.get(k)) for k in keys) + " |" for c in columns]
    return "\n".join(lines) + "\n"
