"""Kubernetes-style status conditions: set one, keep the others, move lastTransitionTime only on change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any


def rfc3339(moment: dt.datetime) -> str:
    """UTC timestamp to the second, as Kubernetes writes them."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_condition(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    for condition in conditions or ():
        if condition.get("type") == type_:
            return dict(condition)
    return None


def set_condition(
    conditions: Iterable[Mapping[str, Any]] | None,
    *,
    type_: str,
    status: bool | str,
    reason: str,
    message: str,
    generation: int | None,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Return the whole new list (a merge patch replaces lists, so callers send all of it)."""
    status_text = status if isinstance(status, str) else ("True" if status else "False")
    previous = get_condition(conditions, type_)
    changed = previous is None or previous.get("status") != status_text
    condition: dict[str, Any] = {
        "type": type_,
        "status": status_text,
        "reason": reason,
        "message": message[:1024],
        "lastTransitionTime": rfc3339(now)
        if changed or previous is None
        else previous.get("lastTransitionTime", rfc3339(now)),
    }
    if generation is not None:
        condition["observedGeneration"] = int(generation)
    result = [dict(c) for c in conditions or () if c.get("type") != type_]
    result.append(condition)
    return sorted(result, key=lambda c: _ORDER.get(str(c.get("type")), len(_ORDER)))


def merge_conditions(
    existing: Iterable[Mapping[str, Any]] | None, updates: Iterable[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """Conditions `updates` sets replace the same types in `existing`; the others are kept as they were."""
    merged = {str(c.get("type")): dict(c) for c in existing or ()}
    for condition in updates or ():
        type_ = str(condition.get("type"))
        previous = merged.get(type_)
        new = dict(condition)
        if previous is not None and previous.get("status") == new.get("status"):
            new["lastTransitionTime"] = previous.get("lastTransitionTime", new.get("lastTransitionTime"))
        merged[type_] = new
    return sorted(merged.values(), key=lambda c: _ORDER.get(str(c.get("type")), len(_ORDER)))


_ORDER = {"Ready": 0, "Drifted": 1, "RetrainRecommended": 2}
