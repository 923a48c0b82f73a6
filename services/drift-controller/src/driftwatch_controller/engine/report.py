"""Rendering a check's status for people and pipelines: the table, deterministic JSON and YAML."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml


def to_json(status: Mapping[str, Any]) -> str:
    """The status as JSON; key order is fixed by the engine, so same inputs give the same text."""
    return json.dumps(status, indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"


def to_yaml(status: Mapping[str, Any]) -> str:
    return str(yaml.safe_dump(json.loads(to_json(status)), sort_keys=False, allow_unicode=True))


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _grid(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return lines


def output_rows(status: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, entry) of every prediction and target column the status measured, in table order."""
    rows: list[tuple[str, Mapping[str, Any]]] = []
    for label, side in (("prediction", status.get("predictionDrift")), ("target", status.get("targetDrift"))):
        side = side or {}
        # A multiclass check may have class probabilities only: the top level then has no column.
        for part in (side, side.get("class"), *(side.get("classProbabilities") or [])):
            if part and part.get("column"):
                rows.append((label, part))
    return rows


def quality_notes(dq: Mapping[str, Any] | None) -> list[str]:
    """`status.dataQuality` as one line per finding."""
    dq = dq or {}
    notes = []
    if dq.get("missingColumns"):
        notes.append(f"missing columns: {', '.join(dq['missingColumns'])}")
    if dq.get("newColumns"):
        notes.append(f"new columns: {', '.join(dq['newColumns'])}")
    notes += [
        f"type mismatch: {m['column']} is {m['actual']}, expected {m['expected']}"
        for m in dq.get("typeMismatches") or []
    ]
    notes += [f"missing values: {c} {s:.1%}" for c, s in (dq.get("missingValueShare") or {}).items()]
    notes += [
        f"new categories: {n['column']} {', '.join(map(str, n['values']))} ({n['share']:.1%})"
        for n in dq.get("newCategories") or []
    ]
    notes += [f"out of range: {c} {s:.1%}" for c, s in (dq.get("outOfRangeShare") or {}).items()]
    notes += [
        f"not monitored: {u['column']} ({u['capture']} in the capture)"
        for u in dq.get("unmonitoredColumns") or []
    ]
    return notes


def _sampled(rows: Mapping[str, Any]) -> str:
    rate = rows.get("sampleRate")
    if not isinstance(rate, int | float) or rate >= 1:
        return ""
    estimated = rows.get("estimatedCurrent")
    return f" (sample rate {rate:g}: about {estimated:,} predictions)" if isinstance(estimated, int) else ""


def to_table(status: Mapping[str, Any]) -> str:
    """Verdict, recommendation, drift share and performance on top, then one row per column (and outputs)."""
    rows = status.get("rows") or {}
    window = status.get("window") or {}
    lines = [
        f"verdict:        {status.get('verdict')}",
        f"recommendation: {status.get('recommendation')}",
        f"drift share:    {_fmt(status.get('driftShare'))} "
        f"({status.get('driftedColumns', 0)} of {status.get('monitoredColumns', 0)} columns)",
        f"reason:         {status.get('reason')}",
        f"rows:           reference {rows.get('reference', '-')}, current {rows.get('current', '-')}, "
        f"labelled {rows.get('labelled', 0)}" + _sampled(rows),
    ]
    if window:
        lines.append(f"window:         {window.get('start')} .. {window.get('end')}")
    performance = status.get("performance") or {}
    if performance.get("summary"):
        lines.append(f"performance:    {performance['summary']}")
    table_rows = [
        [c["name"], c["type"], c["method"], _fmt(c["score"]), _fmt(c["threshold"]), _fmt(c["drifted"])]
        for c in status.get("columns") or []
    ]
    table_rows += [
        [
            f"{p['column']} ({label})",
            "-",
            p["method"],
            _fmt(p["score"]),
            _fmt(p["threshold"]),
            _fmt(p["drifted"]),
        ]
        for label, p in output_rows(status)
    ]
    if table_rows:
        lines += ["", *_grid(["column", "type", "method", "score", "threshold", "drifted"], table_rows)]
    segments = [
        [
            s["segment"],
            str((s.get("rows") or {}).get("reference", "-")),
            str((s.get("rows") or {}).get("current", "-")),
            _fmt(s["driftShare"]) if s.get("measured") else "skipped (few rows)",
            ", ".join(s.get("driftedColumns") or []) or "-",
        ]
        for s in status.get("segments") or []
    ]
    if segments:  # spec.segments: the worst first, as status.segments lists them
        headers = ["segment", "reference rows", "current rows", "drift share", "drifted columns"]
        lines += ["", *_grid(headers, segments)]
    notes = quality_notes(status.get("dataQuality"))
    if notes:
        lines += ["", "data quality:", *(f"  {n}" for n in notes)]
    report = status.get("report") or {}
    if report.get("uri"):
        lines += ["", f"report: {report['uri']}"]
    return "\n".join(lines) + "\n"
