"""`driftwatch-demo traffic`: paced single-record requests from the synthetic generator.

Bounded by construction: it sends `rate * duration` records, then posts the labels still due
(at most `feedback_delay` seconds later), and stops.
"""

from __future__ import annotations

import heapq
import secrets
import time
from dataclasses import asdict, dataclass
from typing import TextIO

import httpx

from driftwatch_demo import synthetic

# The scenario whose records are broken on purpose: a 4xx is the service answering it correctly.
REJECTED_ON_PURPOSE = frozenset({"quality"})


@dataclass(frozen=True)
class TrafficPlan:
    """What to send, how fast, for how long; `feedback_delay=None` sends no labels.

    `seed=None` draws a fresh seed for this run (reported, so the run can be replayed): two phases
    started with the default seed then send different rows, as two hours of real traffic would.
    """

    url: str
    rate: float
    duration: float
    scenario: str = "none"
    feedback_delay: float | None = None
    seed: int | None = None


@dataclass
class TrafficReport:
    """Counts by outcome (rejected = 4xx, the expected answer to the quality scenario)."""

    seed: int
    scenario: str = "none"
    sent: int = 0
    ok: int = 0
    rejected: int = 0
    errors: int = 0
    feedback_sent: int = 0
    feedback_failed: int = 0
    elapsed_s: float = 0.0

    @property
    def requests(self) -> int:
        """Every request made: predictions and label posts."""
        return self.sent + self.feedback_sent + self.feedback_failed

    @property
    def unexpected_rejections(self) -> int:
        """4xx answers outside the quality scenario: the generator's records are valid there."""
        return 0 if self.scenario in REJECTED_ON_PURPOSE else self.rejected

    @property
    def failed(self) -> int:
        """Requests without the answer the scenario expects: transport errors and 5xx, unexpected
        rejections, label posts not accepted."""
        return self.errors + self.unexpected_rejections + self.feedback_failed

    def failed_share(self) -> float:
        return self.failed / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, float | int | str]:
        return {**asdict(self), "requests": self.requests, "failed": self.failed}


def _progress_line(report: TrafficReport, total: int) -> str:
    return (
        f"traffic: {report.sent}/{total} sent, {report.ok} ok, {report.rejected} rejected, "
        f"{report.errors} errors, {report.feedback_sent} labels, {report.failed} failed"
    )


def failure_message(report: TrafficReport, max_failed_share: float) -> str | None:
    """Why the run failed, when more than `max_failed_share` of its requests did; else None."""
    if report.failed_share() <= max_failed_share:
        return None
    return (
        f"traffic: {report.failed} of {report.requests} requests failed "
        f"({report.failed_share():.1%}, more than the {max_failed_share * 100:g}% allowed): "
        f"{report.errors} transport errors or 5xx, {report.unexpected_rejections} unexpected 4xx, "
        f"{report.feedback_failed} labels not accepted"
    )


def run_traffic(
    plan: TrafficPlan, progress: TextIO | None = None, client: httpx.Client | None = None
) -> TrafficReport:
    """Send the plan's records at its rate; returns the counts (also printed to `progress` each second)."""
    if plan.rate <= 0 or plan.duration <= 0:
        raise ValueError("rate and duration must be positive")
    total = max(1, int(plan.rate * plan.duration))
    seed = secrets.randbits(32) if plan.seed is None else plan.seed
    frame = synthetic.generate(total, seed=seed, scenario=plan.scenario)
    rows = synthetic.records(frame)
    labels = [int(v) for v in frame[synthetic.TARGET]]
    base = plan.url.rstrip("/")
    report = TrafficReport(seed=seed, scenario=plan.scenario)
    if progress is not None:
        print(f"traffic: scenario {plan.scenario}, seed {seed} (--seed {seed} replays it)", file=progress)
    due: list[tuple[float, str, int]] = []
    own_client = client is None
    http = client or httpx.Client(timeout=10.0)
    start = time.monotonic()
    next_progress = start + 1.0
    try:
        for i, row in enumerate(rows):
            _sleep_until(start + i / plan.rate)
            _send_due_feedback(http, base, due, report, now=time.monotonic())
            report.sent += 1
            try:
                response = http.post(f"{base}/v1/predict", json=row)
            except httpx.HTTPError:
                report.errors += 1
                continue
            if response.status_code == 200:
                report.ok += 1
                if plan.feedback_delay is not None:
                    request_id = response.json()["request_id"]
                    heapq.heappush(due, (time.monotonic() + plan.feedback_delay, request_id, labels[i]))
            elif response.status_code < 500:
                report.rejected += 1
            else:
                report.errors += 1
            if progress is not None and time.monotonic() >= next_progress:
                print(_progress_line(report, total), file=progress, flush=True)
                next_progress += 1.0
        while due:
            _sleep_until(due[0][0])
            _send_due_feedback(http, base, due, report, now=time.monotonic())
    finally:
        if own_client:
            http.close()
    report.elapsed_s = round(time.monotonic() - start, 3)
    if progress is not None:
        print(_progress_line(report, total) + " (done)", file=progress, flush=True)
    return report


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _send_due_feedback(
    http: httpx.Client, base: str, due: list[tuple[float, str, int]], report: TrafficReport, now: float
) -> None:
    while due and due[0][0] <= now:
        _, request_id, label = heapq.heappop(due)
        try:
            response = http.post(f"{base}/v1/feedback", json={"request_id": request_id, "label": label})
        except httpx.HTTPError:
            report.feedback_failed += 1
            continue
        if response.status_code == 202:
            report.feedback_sent += 1
        else:
            report.feedback_failed += 1
