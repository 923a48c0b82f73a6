"""The HTML report tells the status' story: driftwatch's summary on top, Evidently never contradicting it."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from drift_fixtures import current_frame, reference_frame, settings, spec_for, write_parquet
from driftwatch_controller.api.spec import PolicySpec
from driftwatch_controller.engine import html_report, report
from driftwatch_controller.engine.check import CheckOutcome, run_check
from driftwatch_demo.synthetic import Scenario

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 27, 10, 15, tzinfo=UTC)
# Four columns the generator draws independently of the others: the "4 of 15 columns" run.
FOUR = ("age", "call_minutes", "region", "payment_method")
DETECTED = "Dataset Drift is detected."
NOT_DETECTED = "Dataset Drift is NOT detected."

PERFORMANCE: dict[str, Any] = {
    "summary": "roc_auc 0.681 realized (reference 0.812, drop 0.131, significant)",
    "task": "binary",
    "metric": "roc_auc",
    "labelledRows": 1500,
    "labelCoverage": 0.75,
    "reference": {
        "rows": 10000,
        "metrics": [
            {"name": "roc_auc", "value": 0.8123, "lower": 0.8031, "upper": 0.8214},
            {"name": "accuracy", "value": 0.7741, "lower": 0.7662, "upper": 0.7823},
        ],
    },
    "realized": {
        "rows": 1500,
        "metrics": [
            {"name": "roc_auc", "value": 0.6812, "lower": 0.6532, "upper": 0.7094},
            {"name": "accuracy", "value": 0.6905, "lower": 0.6671, "upper": 0.7138},
        ],
        "confusion": {"labels": ["0", "1"], "matrix": [[800, 290], [174, 236]]},
    },
    "estimated": {
        "method": "CBPE",
        "assumption": "no concept drift: P(y|x) as in the reference; the calibrated probabilities hold",
        "rows": 2000,
        "metrics": [{"name": "roc_auc", "value": 0.8087, "lower": 0.7902, "upper": 0.8271}],
    },
    "drop": {"metric": "roc_auc", "kind": "realized", "value": 0.1311, "significant": True},
    "reason": "realized on 1500 labelled rows; estimated by CBPE on 2000 rows",
}


class _Summary(HTMLParser):
    """The text of each element with an id inside the summary, and the rows of each table in it."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: dict[str, str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self._open: list[str] = []  # ids of the open elements with an id
        self._stack: list[str | None] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = dict(attrs).get("id")
        self._stack.append(ident)
        if ident:
            self._open.append(ident)
            self.texts[ident] = ""
            if tag == "table":
                self._table, self.tables[ident] = ident, []
        if tag == "tr" and self._table:
            self.tables[self._table].append([])
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        ident = self._stack.pop() if self._stack else None
        if ident:
            self._open.remove(ident)
            if ident == self._table:
                self._table = None
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        for ident in self._open:
            self.texts[ident] += data
        if self._cell is not None:
            self._cell.append(data)


def summary_of(page: str) -> _Summary:
    start = page.index('<section id="driftwatch-summary">')
    parser = _Summary()
    parser.feed(page[start : page.index("</section>", start) + len("</section>")])
    return parser


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("html-report")


@pytest.fixture(scope="module")
def reference_uri(workdir) -> str:
    return write_parquet(reference_frame(), workdir / "reference.parquet")


def checked(workdir: Path, reference_uri: str, name: str, scenario: Scenario | str = "none") -> CheckOutcome:
    current = write_parquet(current_frame(2000, 11, scenario), workdir / f"{name}.parquet")
    return run_check(
        spec_for(reference_uri, current),
        now=NOW,
        report_dir=workdir / "reports" / name,
        force_report=True,
        settings=settings(workdir / "cache"),
    )


@pytest.fixture(scope="module")
def four_of_fifteen(workdir, reference_uri) -> CheckOutcome:
    return checked(workdir, reference_uri, "four", Scenario(kind="covariate", features=FOUR))


@pytest.fixture(scope="module")
def undrifted(workdir, reference_uri) -> CheckOutcome:
    return checked(workdir, reference_uri, "none")


def page_of(outcome: CheckOutcome) -> str:
    assert outcome.report_path is not None
    return outcome.report_path.read_text(encoding="utf-8")


def test_drift_in_4_of_15_columns_is_a_detected_dataset_drift_at_the_investigate_share(
    four_of_fifteen,
) -> None:
    status = four_of_fifteen.status
    assert (status["verdict"], status["recommendation"]) == ("Drift", "Investigate")
    assert sorted(c["name"] for c in status["columns"] if c["drifted"]) == sorted(FOUR)
    assert status["driftedColumns"] == 4
    assert status["driftShare"] < 0.5  # Evidently's default dataset drift share
    page = page_of(four_of_fifteen)
    assert f"{DETECTED} Dataset drift detection threshold is 0.2" in page
    assert NOT_DETECTED not in page
    assert status["report"]["uri"] == four_of_fifteen.report_path.resolve().as_uri()


def test_no_drift_status_yields_a_report_that_detects_no_dataset_drift(undrifted) -> None:
    assert undrifted.status["verdict"] == "NoDrift"
    page = page_of(undrifted)
    assert f"{NOT_DETECTED} Dataset drift detection threshold is 0.2" in page
    assert DETECTED not in page


def test_the_summary_at_the_top_is_the_status(four_of_fifteen) -> None:
    status, page = four_of_fifteen.status, page_of(four_of_fifteen)
    assert page.index('id="driftwatch-summary"') < page.index('<div id="root_')  # before Evidently's part
    summary = summary_of(page)
    assert summary.texts["driftwatch-verdict"] == status["verdict"]
    assert summary.texts["driftwatch-recommendation"] == status["recommendation"]
    assert summary.texts["driftwatch-reason"] == status["reason"]
    assert summary.texts["driftwatch-drift-share"] == (
        f"{status['driftShare']} (4 of 15 monitored columns drifted; investigateShare 0.2, retrainShare 0.5)"
    )
    assert summary.texts["driftwatch-thresholds"] == "calibrated"
    header, *rows = summary.tables["driftwatch-columns"]
    assert header == ["column", "type", "method", "score", "threshold", "drifted"]
    as_status = [
        {"name": n, "type": t, "method": m, "score": float(s), "threshold": float(th), "drifted": d == "yes"}
        for n, t, m, s, th, d in rows
    ]
    assert as_status == status["columns"]
    target = status["targetDrift"]
    drifted = "yes" if target["drifted"] else "no"
    assert summary.tables["driftwatch-outputs"][1:] == [
        [
            *("churned", "target", target["method"], f"{target['score']:.6g}", f"{target['threshold']:.6g}"),
            *(drifted, str(target["labelledRows"])),
        ]
    ]
    assert "4 drifted columns" in summary.texts["driftwatch-evidently"]
    # The window's labels give a performance block; with no model output in the file it only says why.
    performance = status["performance"]
    assert summary.texts["driftwatch-performance-summary"] == performance["summary"]
    assert summary.texts["driftwatch-performance-reason"] == performance["reason"]
    assert summary.texts["driftwatch-performance-labels"] == "2000 labelled rows, coverage 100.0%"


def test_data_quality_findings_are_listed_in_the_summary(workdir, reference_uri) -> None:
    outcome = checked(workdir, reference_uri, "quality", Scenario(kind="quality"))
    assert outcome.status["verdict"] == "DataQualityIssue"
    findings = summary_of(page_of(outcome)).texts["driftwatch-quality"]
    assert "missing columns: call_minutes" in findings
    assert "type mismatch: tenure_months is string, expected int" in findings
    assert "new categories: internet_service satellite" in findings


@pytest.mark.parametrize(
    ("verdict", "recommendation", "outcome", "scenario"),
    [
        ("Drift", "Retrain", "undrifted", Scenario()),
        ("NoDrift", "None", "four_of_fifteen", Scenario(kind="covariate", features=FOUR)),
    ],
)
def test_evidently_dataset_verdict_that_disagrees_with_the_status_is_left_out(
    request, tmp_path, verdict: str, recommendation: str, outcome: str, scenario: Scenario
) -> None:
    # A concept shift is Drift/Retrain with every feature undrifted; a sample may see what all rows do not.
    measured: CheckOutcome = request.getfixturevalue(outcome)
    status = {**copy.deepcopy(measured.status), "verdict": verdict, "recommendation": recommendation}
    status["reason"] = "realized roc_auc dropped by 0.13 (significant) on 1500 labelled rows"
    current = current_frame(2000, 11, scenario)
    path, _ = html_report.write_report(
        tmp_path, "r", reference_frame(), current, measured.columns, 0, status, PolicySpec()
    )
    assert path is not None
    page = path.read_text(encoding="utf-8")
    assert DETECTED not in page
    assert NOT_DETECTED not in page
    summary = summary_of(page)
    assert summary.texts["driftwatch-verdict"] == verdict
    note = summary.texts["driftwatch-evidently"]
    assert f"Its dataset-level verdict is left out: the check's verdict is {verdict}" in note
    # Evidently's per-column view is still there, one panel per measured column.
    panels = re.findall(r"Drift in column '([a-z_0-9]+)'", page)
    assert sorted(panels) == sorted(c["name"] for c in status["columns"])


def test_no_performance_section_when_the_status_has_none(four_of_fifteen) -> None:
    status = {**four_of_fifteen.status, "performance": None}
    page = html_report.summary_html(status, PolicySpec())
    assert "<h2>Performance</h2>" not in page
    assert "driftwatch-performance" not in summary_of(page).tables


def test_performance_section_shows_the_three_blocks_with_intervals_and_the_cbpe_assumption(
    four_of_fifteen,
) -> None:
    status = {**four_of_fifteen.status, "performance": copy.deepcopy(PERFORMANCE)}
    summary = summary_of(html_report.summary_html(status, PolicySpec()))
    header, rows, *metrics = summary.tables["driftwatch-performance"]
    assert header == ["metric", "reference", "realized", "estimated (CBPE)"]
    assert rows == ["rows", "10000", "1500", "2000"]
    assert metrics == [
        ["roc_auc", "0.8123 [0.8031, 0.8214]", "0.6812 [0.6532, 0.7094]", "0.8087 [0.7902, 0.8271]"],
        ["accuracy", "0.7741 [0.7662, 0.7823]", "0.6905 [0.6671, 0.7138]", "—"],
    ]
    assert summary.texts["driftwatch-performance-metric"] == "binary / roc_auc"
    assert summary.texts["driftwatch-performance-labels"] == "1500 labelled rows, coverage 75.0%"
    assert summary.texts["driftwatch-performance-drop"] == "roc_auc realized: 0.1311 (significant)"
    assert summary.texts["driftwatch-cbpe"] == PERFORMANCE["estimated"]["assumption"]
    assert summary.texts["driftwatch-performance-reason"] == PERFORMANCE["reason"]
    assert summary.texts["driftwatch-performance-summary"] == PERFORMANCE["summary"]
    assert summary.tables["driftwatch-confusion-realized"] == [
        ["realized confusion", "predicted 0", "predicted 1"],
        ["actual 0", "800", "290"],
        ["actual 1", "174", "236"],
    ]
    assert "driftwatch-confusion-reference" not in summary.tables  # that block has no counts
    # Realized 0.6812 outside CBPE's [0.7902, 0.8271]: what concept drift looks like.
    assert "lies outside CBPE's band [0.7902, 0.8271]" in summary.texts["driftwatch-concept"]


def test_realized_within_the_cbpe_band_makes_no_concept_note(four_of_fifteen) -> None:
    performance = copy.deepcopy(PERFORMANCE)
    performance["realized"]["metrics"][0].update(value=0.80, lower=0.77, upper=0.83)
    summary = summary_of(
        html_report.summary_html({**four_of_fifteen.status, "performance": performance}, PolicySpec())
    )
    assert "driftwatch-concept" not in summary.texts
    assert summary.tables["driftwatch-performance"][2][2] == "0.8 [0.77, 0.83]"


def test_performance_without_enough_labels_says_which_block_is_missing(four_of_fifteen) -> None:
    performance = {**copy.deepcopy(PERFORMANCE), "realized": None, "drop": None, "labelledRows": 12}
    performance["reason"] = "realized: 12 labelled rows, fewer than minLabelledRows 200"
    status = {**four_of_fifteen.status, "performance": performance}
    summary = summary_of(html_report.summary_html(status, PolicySpec()))
    assert summary.tables["driftwatch-performance"][1] == ["rows", "10000", "—", "2000"]
    assert summary.tables["driftwatch-performance"][2][2] == "—"
    assert "driftwatch-performance-drop" not in summary.texts
    assert summary.texts["driftwatch-performance-reason"] == performance["reason"]


def test_policy_shares_and_performance_policy_are_named_in_the_summary(four_of_fifteen) -> None:
    policy = PolicySpec.model_validate(
        {"investigateShare": 0.3, "retrainShare": 0.6, "performance": {"metric": "roc_auc", "maxDrop": 0.04}}
    )
    summary = summary_of(html_report.summary_html(four_of_fifteen.status, policy))
    assert summary.texts["driftwatch-policy"] == (
        "investigateShare 0.3, retrainShare 0.6, consecutiveRuns 2, cooldown 24h; "
        "performance: metric roc_auc, maxDrop 0.04, kind realized, minLabelledRows 200"
    )


def test_the_table_output_names_the_performance_summary_under_the_rows(four_of_fifteen) -> None:
    lines = report.to_table({**four_of_fifteen.status, "performance": PERFORMANCE}).splitlines()
    rows = next(i for i, line in enumerate(lines) if line.startswith("rows:"))
    assert (
        lines[rows + 1] == "performance:    roc_auc 0.681 realized (reference 0.812, drop 0.131, significant)"
    )
    assert not any(line.startswith("performance:") for line in report.to_table({}).splitlines())
