"""Timestamps as the DriftCheck status writes them (RFC 3339, UTC, to the second) and read back."""

from __future__ import annotations

import datetime as dt
from typing import Any


def rfc3339(moment: dt.datetime) -> str:
    """UTC timestamp to the second, as Kubernetes writes them."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_or_none(moment: dt.datetime | None) -> str | None:
    return None if moment is None else rfc3339(moment)


def parse_iso(text: str) -> dt.datetime:
    """ISO 8601 (a trailing Z included) to an aware datetime, UTC when no offset is given; ValueError else."""
    moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_time(text: Any) -> dt.datetime | None:
    """A status timestamp, or None when absent or unreadable (status is written by others too)."""
    if not text:
        return None
    try:
        return parse_iso(str(text))
    except ValueError:
        return None


def timestamp(text: Any) -> float | None:
    """A status timestamp as Unix seconds (for metrics), or None."""
    moment = parse_time(text)
    return None if moment is None else moment.timestamp()


def run_id(now: dt.datetime) -> str:
    """The run's identifier (`driftwatch.io/approve-retrain=<runId>`)."""
    return now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
