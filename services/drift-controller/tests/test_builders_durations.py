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
