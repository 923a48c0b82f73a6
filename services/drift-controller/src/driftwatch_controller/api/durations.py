"""The spec's one duration grammar (Go-style `90s`, `1h30m`, `7d`) and cron schedules' longest gap."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re

# The CRD's pattern for spec.current.window and spec.policy.cooldown. As in Go's time.ParseDuration,
# units may come in any order and add up: `30m1h` is 90 minutes.
DURATION_PATTERN = r"^([0-9]+(s|m|h|d))+$"
_DURATION = re.compile(r"(\d+)(s|m|h|d)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, start=1)}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}


def parse_duration(text: str) -> dt.timedelta:
    """`1h30m` -> 5400 s; raise ValueError on anything else (the CRD pattern is the same)."""
    text = text.strip()
    if not re.match(DURATION_PATTERN, text):
        raise ValueError(f"invalid duration {text!r}: use digits with s, m, h or d, e.g. 1h30m")
    try:
        return dt.timedelta(seconds=sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(text)))
    except OverflowError:  # the pattern has no length limit; a timedelta stops at 999,999,999 days
        raise ValueError(f"duration {text!r} is too long") from None


def _value(text: str, part: str, names: dict[str, int]) -> int:
    if text in names:
        return names[text]
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"{part!r} is neither a number nor a name (CronJobs support no L, W or #)")
    return int(text)


def _field(text: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    """One field's values, with the rules of the CronJob's parser (robfig/cron v3, `ParseStandard`)."""
    values: set[int] = set()
    for part in text.lower().split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isascii() and step_text.isdigit() else (0 if step_text else 1)
        if step < 1:
            raise ValueError(f"invalid step in {part!r}")
        if rng in ("*", "?"):
            start, end = low, high
        else:
            first, dash, last = rng.partition("-")
            if dash and not last:
                raise ValueError(f"{part!r} is an open range: give its end")
            start = _value(first, part, names)
            end = _value(last, part, names) if last else (high if step_text else start)
        if not low <= start <= end <= high:
            raise ValueError(f"{part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def schedule_interval_seconds(schedule: str, *, start: dt.datetime | None = None) -> float:
    """Longest gap between two consecutive runs of a 5-field cron schedule, over two years.

    A dashboard and the stale alert use it ("no run for twice the interval"). Raises ValueError
    on a schedule it cannot parse (L, W and # are not supported by CronJobs either).
    """
    expr = _MACROS.get(schedule.strip(), schedule.strip())
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"invalid schedule {schedule!r}: want five fields")
    minutes = sorted(_field(fields[0], 0, 59, {}))
    hours = sorted(_field(fields[1], 0, 23, {}))
    doms = _field(fields[2], 1, 31, {})
    months = _field(fields[3], 1, 12, _MONTHS)
    # 0-6 only: a CronJob refuses 7 for Sunday (robfig/cron v3), although other crons take it.
    dows = _field(fields[4], 0, 6, _DAYS)
    dom_any = fields[2] in ("*", "?")
    dow_any = fields[4] in ("*", "?")
    day = (start or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    times_of_day = [h * 3600 + m * 60 for h in hours for m in minutes]  # ascending
    # The gaps inside a day are the same on every firing day, so only the first and last runs of
    # consecutive firing days need a look: a day per step, not a run per step (an every-minute schedule
    # stepped run by run cost the controller 0.15 s of CPU per reconcile).
    within_day = max((b - a for a, b in itertools.pairwise(times_of_day)), default=0)
    previous_last: float | None = None
    longest = 0.0
    for _ in range(2 * 366):
        if day.month in months:
            dom_ok = day.day in doms
            dow_ok = (day.isoweekday() % 7) in dows
            # Cron's rule: when both day fields are restricted, either one matching is enough.
            matches = (dom_ok or dow_ok) if not dom_any and not dow_any else (dom_ok and dow_ok)
            if matches:
                base = day.timestamp()
                if previous_last is not None:
                    longest = max(longest, base + times_of_day[0] - previous_last)
                previous_last = base + times_of_day[-1]
        day += dt.timedelta(days=1)
    if previous_last is None:
        raise ValueError(f"schedule {schedule!r} never fires")
    return float(max(longest, within_day))


@functools.lru_cache(maxsize=512)
def cached_schedule_interval_seconds(schedule: str) -> float:
    """`schedule_interval_seconds` for metric scrapes and spec checks, computed once per schedule text."""
    return schedule_interval_seconds(schedule)
