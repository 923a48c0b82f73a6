"""Turn pydantic validation errors into a 4xx body that names each field, and into metric labels."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from driftwatch_inference.request_model import BATCH_TAG, RECORD_TAG

_RANGE_TYPES = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_BATCH_LIMIT_TYPES = {"too_long": "batch_too_large", "too_short": "empty_batch"}


@dataclass
class Rejection:
    """Why a request was refused: one reason for the request, and the rows' bad features."""

    reason: str
    missing: list[str] = field(default_factory=list)  # one entry per rejected row and feature
    invalid: list[str] = field(default_factory=list)
    detail: list[dict[str, Any]] = field(default_factory=list)

    @property
    def message(self) -> str:
        first = self.detail[0] if self.detail else {"field": "body", "msg": "invalid request"}
        more = f" (and {len(self.detail) - 1} more)" if len(self.detail) > 1 else ""
        return f"{first['msg']}{more}"


def _clean_loc(loc: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(part for part in loc if part not in (RECORD_TAG, BATCH_TAG))


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = loc[1:] if loc and loc[0] == "body" else loc
    if not parts:
        return "body"
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _reason(error_type: str, value: Any, loc: tuple[Any, ...]) -> str:
    if error_type == "json_invalid":
        return "malformed_json"
    if error_type == "model_error":
        return "model_error"
    if error_type in _BATCH_LIMIT_TYPES and loc[-1:] == ("instances",):
        return _BATCH_LIMIT_TYPES[error_type]
    if error_type == "missing" or (value is None and error_type != "extra_forbidden"):
        return "missing_field"
    if error_type == "extra_forbidden":
        return "extra_field"
    if error_type == "finite_number" or (isinstance(value, float) and not math.isfinite(value)):
        return "not_finite"
    if error_type in _RANGE_TYPES:
        return "out_of_range"
    if error_type in {"literal_error", "enum"}:
        return "unknown_category"
    return "wrong_type"


# FastAPI answers a body it cannot decode at all (e.g. not UTF-8) with a bare 400; the app turns it
# into this error so it is reported and counted like any other malformed body.
UNDECODABLE_BODY = {"type": "json_invalid", "loc": ("body",), "msg": "not decodable as UTF-8 JSON"}


def classify(errors: Sequence[dict[str, Any]], features: Collection[str]) -> Rejection:
    """The request's reason is its first error's; feature counters get one entry per row and feature."""
    rejection = Rejection(reason="")
    seen: set[tuple[Any, ...]] = set()
    for error in errors:
        loc = _clean_loc(error.get("loc", ()))
        value = error.get("input")
        reason = _reason(str(error.get("type", "")), value, loc)
        rejection.reason = rejection.reason or reason
        message = str(error.get("msg", "invalid"))
        if reason == "malformed_json":
            # FastAPI puts the byte offset where a field name would be; the field is the body.
            where = f" at position {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
            message = f"{message}{where}: the body must be a JSON object"
            loc = ("body",)
        name = _field_name(loc)
        rejection.detail.append(
            {
                "loc": list(loc),
                "field": name,
                "type": error.get("type"),
                "reason": reason,
                "msg": f"{name}: {message}",
            }
        )
        feature = loc[-1] if loc and loc[-1] in features and reason != "extra_field" else None
        if feature is None or loc in seen:
            continue
        seen.add(loc)
        (rejection.missing if reason == "missing_field" else rejection.invalid).append(str(feature))
    rejection.reason = rejection.reason or "wrong_type"
    return rejection
