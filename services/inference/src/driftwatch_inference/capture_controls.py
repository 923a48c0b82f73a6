"""Capture controls per model (issue 13): sampling by request id, features excluded or stored hashed.

Sampling is decided from the request id alone (the first 8 bytes of its BLAKE2b digest, read as a
fraction of 2**64, below the rate), so a label posted later to /v1/feedback is kept exactly when its
prediction was. Excluded features are never written; hashed ones are written as the hex HMAC-SHA256 of
their value's text under a key from the environment (a Secret), so equal values stay equal (a check can
still count them) and the raw value never reaches the capture. The request, the response and the metrics
are unchanged: only what is captured changes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from driftwatch_capture.schema import CaptureControls

_SCALE = float(2**64)


class CaptureControlsError(ValueError):
    """The controls name a feature the model does not have, or ask for hashing without a key."""


def sampled_fraction(request_id: str) -> float:
    """Where the id falls in [0, 1): stable across processes and restarts (no per-process hash seed)."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def sampler(rate: float) -> Callable[[str], bool] | None:
    """The keep decision of a rate in (0, 1]; None at 1 (everything is kept, nothing to decide)."""
    if not 0.0 < rate <= 1.0:
        raise CaptureControlsError(f"capture sample rate {rate!r} is not in (0, 1]")
    if rate >= 1.0:
        return None
    return lambda request_id: sampled_fraction(request_id) < rate


def value_text(value: Any) -> str:
    """The text a value is hashed from: a string as is, a number as Python writes it (14, 14.5)."""
    return value if isinstance(value, str) else repr(value)


def keyed_hash(key: bytes) -> Callable[[Sequence[Any]], list[str | None]]:
    """A column transform: each value's hex HMAC-SHA256 under `key` (None stays None)."""

    def transform(values: Sequence[Any]) -> list[str | None]:
        return [
            None if v is None else hmac.new(key, value_text(v).encode(), hashlib.sha256).hexdigest()
            for v in values
        ]

    return transform


@dataclass(frozen=True)
class ModelCaptureControls:
    """The controls of one served model, checked against its features."""

    controls: CaptureControls
    hash_key: bytes | None

    @property
    def keep(self) -> Callable[[str], bool] | None:
        return sampler(self.controls.sample_rate)


def build_controls(
    features: Sequence[str],
    sample_rate: float,
    exclude: Sequence[str],
    hash_features: Sequence[str],
    hash_key: str | None,
) -> ModelCaptureControls:
    """Validated controls, or CaptureControlsError naming the setting that is wrong."""
    sampler(sample_rate)  # the rate's own check
    known = set(features)
    for setting, names in (("capture exclude", exclude), ("capture hash", hash_features)):
        unknown = [n for n in names if n not in known]
        if unknown:
            raise CaptureControlsError(
                f"{setting} names {', '.join(unknown)}: not a feature of the model ({', '.join(features)})"
            )
    both = sorted(set(exclude) & set(hash_features))
    if both:
        raise CaptureControlsError(f"{', '.join(both)} both excluded and hashed: choose one")
    if hash_features and not hash_key:
        raise CaptureControlsError("capture hash needs a key: DRIFTWATCH_CAPTURE_HASH_KEY (from a Secret)")
    controls = CaptureControls(float(sample_rate), tuple(exclude), tuple(hash_features))
    return ModelCaptureControls(controls, hash_key.encode() if hash_key else None)
