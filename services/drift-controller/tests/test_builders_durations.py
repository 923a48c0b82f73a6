"""Durations of the spec and the longest gap of a cron schedule (for the stale-check metric)."""

from __future__ import annotations

import datetime as dt

import pytest
from driftwatch_controller.api.durations import parse_duration, schedule_interval_seconds

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("24h", 86400)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1 hour", "1h30", "h", "-1h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [
        ("*/15 * * * *", 900),
        ("5 * * * *", 3600),
        ("@hourly", 3600),
        ("0 9-17 * * *", 16 * 3600),
        ("0 0 * * 1-5", 3 * 86400),
        ("@daily", 86400),
        ("0 0 1 * *", 31 * 86400),
        ("15 */2 * * *", 7200),
    ],
)
def test_longest_gap_of_a_schedule(schedule: str, seconds: int) -> None:
    assert schedule_interval_seconds(schedule) == seconds


@pytest.mark.parametrize("schedule", ["61 * * * *", "* * *", "0 0 31 2 *"])
def test_unusable_schedules_are_refused(schedule: str) -> None:
    with pytest.raises(ValueError, match=r"outside|five fields|never fires"):
        schedule_interval_seconds(schedule)


def test_a_duration_beyond_what_a_timedelta_holds_is_refused_as_too_long() -> None:
    """Found by the spec fuzz (tests/cluster/test_cluster_spec_fuzz.py): the CRD's pattern has no length
    limit, and an OverflowError escaped the spec's validation as a reconcile traceback."""
    with pytest.raises(ValueError, match="too long"):
        parse_duration("866843737221s073813367920204332h")


# Found by the spec fuzz: accepted here, so the DriftCheck went Ready, but the CronJob was refused by the
# API server (robfig/cron v3's ParseStandard, what CronJob validation uses), and kopf retried it forever.
@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("0 0 * * 7", "'7' is outside 0-6"),
        ("0 0 * * 5-7", "'5-7' is outside 0-6"),
        ("0- 0 1 1 0", "'0-' is an open range"),
        ("* * 16- * *", "'16-' is an open range"),
        ("0 0 1W * *", "'1w' is neither a number nor a name"),
        ("0 0 * * 1#2", "'1#2' is neither a number nor a name"),
    ],
)
def test_schedules_a_cronjob_refuses_are_refused(schedule: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        schedule_interval_seconds(schedule)
