"""The HTML report of a run: driftwatch's own summary of the status on top, Evidently's drift view below.

The summary is the status the run writes (verdict, recommendation, per-column thresholds, data quality,
prediction/target drift, performance); Evidently's part is configured with the check's own methods,
thresholds and investigateShare, and never states a dataset verdict the status contradicts (issue 11).
Written locally or to an fsspec location; a failure is logged and never fails the run.
"""

from __future__ import annotations

import html
import logging
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fsspec
import pandas as pd

from driftwatch_controller.api.spec import PolicySpec
from driftwatch_controller.engine import datasets, drift_stats, report
from driftwatch_controller.engine.measure import ColumnResult

if TYPE_CHECKING:
    from driftwatch_controller.engine.evidently_adapter import DriftReportHtml

log = logging.getLogger(__name__)

# Evidently's HTML report is slow and large; it is built on a seeded sample of at most this many rows.
REPORT_SAMPLE_ROWS = 50_000

_VERDICT_COLOURS = {"Drift": "#c62828", "NoDrift": "#2e7d32", "DataQualityIssue": "#ef6c00"}
_STYLE = """
#driftwatch-summary { font-family: system-ui, sans-serif; font-size: 14px; color: #212121;
  max-width: 1200px; margin: 16px auto; padding: 16px 24px; border: 1px solid #ddd; border-radius: 6px; }
#driftwatch-summary h1 { font-size: 20px; margin: 0 0 8px; }
#driftwatch-summary h2 { font-size: 16px; margin: 18px 0 6px; }
#driftwatch-summary .badge { color: #fff; padding: 2px 8px; border-radius: 4px; }
#driftwatch-summary table { border-collapse: collapse; margin: 4px 0; }
#driftwatch-summary th, #driftwatch-summary td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
#driftwatch-summary th { background: #f5f5f5; }
#driftwatch-summary tr.drifted td { background: #ffebee; }
#driftwatch-summary .note { color: #555; }
"""


def _text(value: Any) -> str:
    """A status value as it reads in the status: floats to the 6 significant digits it is rounded to."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _metric(value: Any) -> str:
    return "—" if value is None else f"{float(value):.4g}"


def _table(table_id: str, headers: Sequence[str], rows: Sequence[tuple[Sequence[Any], bool]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        ('<tr class="drifted">' if marked else "<tr>")
        + "".join(f"<td>{html.escape(_text(cell))}</td>" for cell in cells)
        + "</tr>"
        for cells, marked in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _field(label: str, value: str, field_id: str) -> str:
    return f'<div><b>{html.escape(label)}:</b> <span id="{field_id}">{html.escape(value)}</span></div>'


def _output_cells(label: str, entry: Mapping[str, Any]) -> list[Any]:
    cells = [entry["column"], label, entry["method"], entry["score"], entry["threshold"], entry["drifted"]]
    return [*cells, entry.get("labelledRows")]


def _policy_line(policy: PolicySpec) -> str:
    line = (
        f"investigateShare {policy.investigate_share:g}, retrainShare {policy.retrain_share:g}, "
        f"consecutiveRuns {policy.consecutive_runs}, cooldown {policy.cooldown}"
    )
    performance = getattr(policy, "performance", None)  # spec.policy.performance (issue 11), when known
    if performance is not None and getattr(performance, "active", False):
        line += (
            f"; performance: metric {performance.metric or 'task default'}, "
            f"maxDrop {performance.max_drop:g}, kind {performance.kind}, "
            f"minLabelledRows {performance.min_labelled_rows}"
        )
    return line


def _interval(entry: Mapping[str, Any] | None) -> str:
    if not entry:
        return "—"
    value = _metric(entry.get("value"))
    if entry.get("lower") is None or entry.get("upper") is None:
        return value
    return f"{value} [{_metric(entry['lower'])}, {_metric(entry['upper'])}]"


def _beyond_the_estimate(by_kind: Mapping[str, Mapping[str, Mapping[str, Any]]], metric: str) -> str:
    """A note when the realized headline metric lies outside CBPE's band: its assumption does not hold."""
    realized, estimated = by_kind["realized"].get(metric), by_kind["estimated"].get(metric)
    if not realized or not estimated or None in (estimated.get("lower"), estimated.get("upper")):
        return ""
    value = realized.get("value")
    if value is None or estimated["lower"] <= value <= estimated["upper"]:
        return ""
    return (
        f"The realized {metric} ({_metric(value)}) lies outside CBPE's band "
        f"[{_metric(estimated['lower'])}, {_metric(estimated['upper'])}]: the labels no longer relate to "
        "the inputs as in the reference (concept drift), which a label-free estimate cannot see."
    )


def _confusion_html(kind: str, confusion: Mapping[str, Any]) -> str:
    labels = [str(label) for label in confusion.get("labels") or []]
    rows = [
        ([f"actual {label}", *counts], False)
        for label, counts in zip(labels, confusion.get("matrix") or [], strict=False)
    ]
    headers = [f"{kind} confusion", *(f"predicted {label}" for label in labels)]
    return _table(f"driftwatch-confusion-{kind}", headers, rows)


def _performance_html(performance: Mapping[str, Any]) -> str:
    """`status.performance`: the three blocks side by side, each metric with its 95% interval."""
    kinds = ("reference", "realized", "estimated")
    blocks = {kind: performance.get(kind) or None for kind in kinds}
    by_kind = {
        kind: {str(m.get("name")): m for m in (block or {}).get("metrics") or []}
        for kind, block in blocks.items()
    }
    names = list(dict.fromkeys(name for kind in kinds for name in by_kind[kind]))
    headline = performance.get("metric")
    estimated = blocks["estimated"] or {}
    header = ["metric", "reference", "realized", f"estimated ({estimated.get('method', 'CBPE')})"]
    rows: list[tuple[Sequence[Any], bool]] = [
        (["rows", *((blocks[k] or {}).get("rows") for k in kinds)], False)
    ]
    rows += [
        ([name, *(_interval(by_kind[k].get(name)) if blocks[k] else "—" for k in kinds)], name == headline)
        for name in names
    ]
    coverage = performance.get("labelCoverage")
    parts = [
        "<h2>Performance</h2>",
        _field("summary", str(performance.get("summary") or "—"), "driftwatch-performance-summary"),
        _field(
            "task / headline metric",
            f"{performance.get('task')} / {headline}",
            "driftwatch-performance-metric",
        ),
        _field(
            "labels",
            f"{_text(performance.get('labelledRows'))} labelled rows, coverage "
            + ("—" if coverage is None else f"{float(coverage):.1%}"),
            "driftwatch-performance-labels",
        ),
        _table("driftwatch-performance", header, rows),
    ]
    drop = performance.get("drop")
    if drop:
        significant = "significant" if drop.get("significant") else "not significant"
        parts.append(
            _field(
                "drop",
                f"{drop.get('metric')} {drop.get('kind')}: {_metric(drop.get('value'))} ({significant})",
                "driftwatch-performance-drop",
            )
        )
    if estimated.get("assumption"):
        parts.append(
            _field(
                f"{estimated.get('method', 'CBPE')} assumes", str(estimated["assumption"]), "driftwatch-cbpe"
            )
        )
    concept = _beyond_the_estimate(by_kind, str(headline))
    if concept:
        parts.append(f'<div class="note" id="driftwatch-concept">{html.escape(concept)}</div>')
    for kind in kinds:
        if blocks[kind] is None:
            parts.append(f'<div class="note">no {kind} block</div>')
    for kind in ("reference", "realized"):
        confusion = (blocks[kind] or {}).get("confusion")
        if confusion:
            parts.append(_confusion_html(kind, confusion))
    if performance.get("reason"):
        parts.append(_field("reason", str(performance["reason"]), "driftwatch-performance-reason"))
    return "".join(parts)


def summary_html(status: Mapping[str, Any], policy: PolicySpec, evidently_note: str = "") -> str:
    """driftwatch's summary of a status as an HTML section (ids name each part for readers and tests)."""
    verdict = str(status.get("verdict"))
    colour = _VERDICT_COLOURS.get(verdict, "#455a64")
    rows = status.get("rows") or {}
    window = status.get("window") or {}
    parts = [
        '<section id="driftwatch-summary">',
        f"<h1>driftwatch check {html.escape(str(status.get('runId', '')))}: "
        f'<span class="badge" style="background:{colour}" id="driftwatch-verdict">'
        f"{html.escape(verdict)}</span>"
        f' / recommendation <span id="driftwatch-recommendation">'
        f"{html.escape(str(status.get('recommendation')))}</span></h1>",
        _field("reason", str(status.get("reason")), "driftwatch-reason"),
        _field(
            "drift share",
            f"{_text(status.get('driftShare'))} ({status.get('driftedColumns', 0)} of "
            f"{status.get('monitoredColumns', 0)} monitored columns drifted; investigateShare "
            f"{policy.investigate_share:g}, retrainShare {policy.retrain_share:g})",
            "driftwatch-drift-share",
        ),
        _field("policy", _policy_line(policy), "driftwatch-policy"),
        _field("thresholds", str(status.get("thresholds")), "driftwatch-thresholds"),
        _field(
            "rows",
            f"reference {rows.get('reference', '—')}, current {rows.get('current', '—')}, "
            f"labelled {rows.get('labelled', 0)}",
            "driftwatch-rows",
        ),
    ]
    if window:
        parts.append(_field("window", f"{window.get('start')} .. {window.get('end')}", "driftwatch-window"))
    parts.append("<h2>Columns</h2>")
    parts.append(
        _table(
            "driftwatch-columns",
            ["column", "type", "method", "score", "threshold", "drifted"],
            [
                (
                    [c["name"], c["type"], c["method"], c["score"], c["threshold"], c["drifted"]],
                    bool(c["drifted"]),
                )
                for c in status.get("columns") or []
            ],
        )
    )
    outputs = report.output_rows(status)
    parts.append("<h2>Prediction and target drift</h2>")
    if outputs:
        parts.append(
            _table(
                "driftwatch-outputs",
                ["column", "role", "method", "score", "threshold", "drifted", "labelled rows"],
                [(_output_cells(label, p), bool(p["drifted"])) for label, p in outputs],
            )
        )
    else:
        parts.append('<div class="note">no prediction or target column measured</div>')
    notes = report.quality_notes(status.get("dataQuality"))
    parts.append("<h2>Data quality</h2>")
    parts.append(
        '<ul id="driftwatch-quality">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
        if notes
        else '<div class="note" id="driftwatch-quality">no findings</div>'
    )
    if status.get("performance"):
        parts.append(_performance_html(status["performance"]))
    if evidently_note:
        parts.append(
            '<h2>Evidently</h2><div class="note" id="driftwatch-evidently">'
            f"{html.escape(evidently_note)}</div>"
        )
    parts.append("</section>")
    return "".join(parts)


def with_summary(page: str, summary: str) -> str:
    """`page` with `summary` (and its style) first in its body."""
    styled = f"<style>{_STYLE}</style>{summary}"
    match = re.search(r"<body[^>]*>", page)
    if match is None:
        return styled + page
    return page[: match.end()] + styled + page[match.end() :]


def expected_dataset_drift(status: Mapping[str, Any], policy: PolicySpec) -> bool:
    """The dataset-level drift the report may state: the verdict's, else the feature share's."""
    verdict = status.get("verdict")
    if verdict in ("Drift", "NoDrift"):
        return verdict == "Drift"
    return float(status.get("driftShare") or 0.0) >= policy.investigate_share


def evidently_note(
    status: Mapping[str, Any],
    policy: PolicySpec,
    view: DriftReportHtml,
    reference_rows: int,
    current_rows: int,
) -> str:
    """What the Evidently part below is, and where (on its sample) it sees the columns differently."""
    note = (
        f"Below, Evidently's DataDriftPreset with the check's methods, its {status.get('thresholds')} "
        f"thresholds and investigateShare {policy.investigate_share:g} as its dataset drift share, on a "
        f"seeded sample of {reference_rows} reference and {current_rows} current rows: it counts "
        f"{view.drifted_columns} drifted columns (share {view.drift_share:.2f})."
    )
    differ = [
        c["name"]
        for c in status.get("columns") or []
        if c["name"] in view.scores
        and c["threshold"] is not None
        and drift_stats.is_drifted(c["method"], view.scores[c["name"]], c["threshold"]) != c["drifted"]
    ]
    if differ:
        note += f" On its sample it flags these columns differently from the check: {', '.join(differ)}."
    if not view.dataset_verdict_shown:
        note += (
            f" Its dataset-level verdict is left out: the check's verdict is {status.get('verdict')} "
            f"({status.get('reason')}), decided on all rows; Evidently's per-column view follows."
        )
    return note


def write_report(
    report_dir: str | Path,
    rid: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    results: Sequence[ColumnResult],
    seed: int,
    status: Mapping[str, Any] | None = None,
    policy: PolicySpec | None = None,
) -> tuple[Path | None, str | None]:
    """Write the HTML report of `status`; returns the local file (if local) and the report's URI."""
    status = status or {}
    policy = policy or PolicySpec()
    target = str(report_dir).rstrip("/")
    remote = "://" in target and not target.startswith("file://")
    directory = (
        Path(tempfile.mkdtemp(prefix="driftwatch-report-"))
        if remote
        else Path(target.removeprefix("file://"))
    )
    path = directory / f"{rid}.html"
    numerical = [r.name for r in results if r.type == "numerical"]
    categorical = [r.name for r in results if r.type == "categorical"]
    columns = numerical + categorical
    if not columns:
        return None, None

    def sample(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[columns]
        if len(frame) > REPORT_SAMPLE_ROWS:
            frame = frame.sample(REPORT_SAMPLE_ROWS, random_state=seed)
        frame = frame.copy()
        for name in numerical:
            frame[name] = datasets.as_float(frame[name])
        for name in categorical:
            frame[name] = frame[name].astype(object)
        return frame.reset_index(drop=True)

    from driftwatch_controller.engine import evidently_adapter  # lazy: importing Evidently costs seconds

    try:
        ref_sample, cur_sample = sample(reference), sample(current)
        view = evidently_adapter.drift_report_html(
            ref_sample,
            cur_sample,
            numerical,
            categorical,
            {r.name: r.method for r in results},
            {r.name: r.threshold for r in results},
            drift_share=policy.investigate_share,
            expected_dataset_drift=expected_dataset_drift(status, policy),
        )
        note = evidently_note(status, policy, view, len(ref_sample), len(cur_sample))
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(with_summary(view.html, summary_html(status, policy, note)), encoding="utf-8")
        if remote:
            uri = f"{target}/{rid}.html"
            fs, remote_path = fsspec.core.url_to_fs(uri)
            fs.put_file(str(path), remote_path)
            shutil.rmtree(directory, ignore_errors=True)
            return None, uri
    except Exception as exc:  # the verdict must survive a report failure; say why in the log
        log.warning("HTML report not written to %s: %s", target, exc)
        return None, None
    return path, path.resolve().as_uri()
