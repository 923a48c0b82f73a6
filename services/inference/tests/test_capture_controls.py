"""Capture controls: the sampling decision by request id and the keyed hash of PII features."""

from __future__ import annotations

import uuid

import pytest
from driftwatch_capture.schema import CaptureControls
from driftwatch_inference.capture_controls import CaptureControlsError, build_controls, keyed_hash, sampler

pytestmark = pytest.mark.unit


def test_rate_one_tenth_keeps_one_tenth_of_a_large_id_set() -> None:
    keep = sampler(0.1)
    assert keep is not None
    ids = [uuid.UUID(int=i * 7919 + 13).hex for i in range(50_000)]
    kept = sum(keep(i) for i in ids)
    assert abs(kept / len(ids) - 0.1) < 0.005  # binomial sd is 0.0013


def test_the_same_id_gets_the_same_decision() -> None:
    keep = sampler(0.3)
    assert keep is not None
    ids = [uuid.uuid4().hex for _ in range(2_000)]
    assert [keep(i) for i in ids] == [keep(i) for i in ids]
    assert [keep(i) for i in ids] == [sampler(0.3)(i) for i in ids]  # type: ignore[misc]


def test_rate_one_decides_nothing_and_a_rate_outside_the_interval_is_refused() -> None:
    assert sampler(1.0) is None
    for rate in (0.0, -0.1, 1.5):
        with pytest.raises(CaptureControlsError):
            sampler(rate)


def test_hashed_values_are_not_the_raw_ones_and_are_stable_for_a_key() -> None:
    values = ["alice@example.com", 42, 3.5, None]
    first, again = keyed_hash(b"k1")(values), keyed_hash(b"k1")(values)
    other = keyed_hash(b"k2")(values)
    assert first == again
    assert first[3] is None
    pairs = zip(first[:3], values[:3], strict=True)
    assert all(h is not None and len(h) == 64 and h != str(v) for h, v in pairs)
    assert first[:3] != other[:3]


def test_controls_name_real_features_and_hashing_needs_a_key() -> None:
    features = ("age", "email", "plan")
    with pytest.raises(CaptureControlsError, match="nope"):
        build_controls(features, 1.0, ["nope"], [], None)
    with pytest.raises(CaptureControlsError, match="key"):
        build_controls(features, 1.0, [], ["email"], None)
    built = build_controls(features, 0.5, ["age"], ["email"], "secret")
    assert built.controls == CaptureControls(0.5, ("age",), ("email",))
    assert CaptureControls.from_metadata(built.controls.to_metadata()) == built.controls
