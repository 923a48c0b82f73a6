"""Capture controls on the real service (issue 13): 10% sampling by request id, one feature excluded and
one hashed, labels posted for 30% of every id served; then every capture file read back after SIGTERM."""

from __future__ import annotations

import json
import random
import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from driftwatch_capture.schema import CaptureControls
from driftwatch_controller.engine.datasets import Window, read_capture_window
from driftwatch_demo import synthetic
from driftwatch_inference.capture_controls import keyed_hash, sampled_fraction
from prometheus_client.parser import text_string_to_metric_families
from support.inference_server import demo_traffic, running_inference_service

pytestmark = pytest.mark.integration
RATE = 0.1
LABELLED = 0.3
EXCLUDED = "age"
HASHED = "region"
HASH_KEY = "capture-controls-test-key"
# Rows sent. Request ids are the server's (uuid4), so which rows are kept is random, and the labelled
# share of the kept rows differs from the labelled share of all by a hypergeometric error of sd
# sqrt(0.3 * 0.7 * 0.9 / kept) = 0.31 points at 20,000 kept: the 1-point bound of issue 13 is 3.2 sd
# (fails one run in 1,000). The kept set itself is checked exactly, from the ids.
ROWS = 200_000
BATCH = 5_000
# Distinct records, sent over and over (each send gets its own request id): generating and encoding
# 200,000 distinct rows would cost more time than serving them.
DISTINCT = 4 * BATCH
HEX64 = re.compile(r"[0-9a-f]{64}")


def _predict(url: str, records: list[dict[str, Any]], rows: int) -> list[str]:
    """`rows` predictions, the records sent in turn in batches, one batch at a time: id `k` is the
    prediction of `records[k % len(records)]`."""
    assert len(records) % BATCH == 0
    bodies = [
        json.dumps({"instances": records[start : start + BATCH]}).encode()
        for start in range(0, len(records), BATCH)
    ]
    ids: list[str] = []
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=60.0) as client:
        for batch in range(rows // BATCH):
            response = client.post("/v1/predict", content=bodies[batch % len(bodies)], headers=headers)
            assert response.status_code == 200, response.text
            ids += [p["request_id"] for p in response.json()["predictions"]]
    return ids


def _post_feedback_pipelined(url: str, bodies: list[dict[str, Any]], window: int = 64) -> list[int]:
    """POST /v1/feedback for each body over one keep-alive connection, up to `window` requests in flight
    (HTTP/1.1 pipelining): tens of thousands of labels in seconds, where one request at a time would
    take a minute. The statuses, in order."""
    host, port = url.removeprefix("http://").split(":")
    requests = [
        b"POST /v1/feedback HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (host.encode(), len(data), data)
        for data in (json.dumps(body).encode() for body in bodies)
    ]
    statuses: list[int] = []
    with socket.create_connection((host, int(port)), timeout=30.0) as sock, sock.makefile("rb") as answers:
        sent = 0
        while len(statuses) < len(requests):
            while sent < len(requests) and sent - len(statuses) < window:
                sock.sendall(requests[sent])
                sent += 1
            statuses.append(int(answers.readline().split()[1]))
            length = 0
            while (header := answers.readline()) not in (b"\r\n", b""):
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            answers.read(length)
    return statuses


def _sampled_out(metrics_text: str) -> dict[str, float]:
    return {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == "driftwatch_capture_sampled_out_total" and sample.labels.get("model") == "churn"
    }


def test_ten_percent_sampling_keeps_labels_joined_and_no_file_holds_an_excluded_or_raw_hashed_value(
    tmp_path: Path,
) -> None:
    records, labels = demo_traffic(DISTINCT, seed=13)
    began = datetime.now(UTC)
    args = ("--capture-sample-rate", str(RATE), "--capture-exclude", EXCLUDED, "--capture-hash", HASHED,
            "--max-batch-size", str(BATCH))  # fmt: skip
    env = {"DRIFTWATCH_CAPTURE_HASH_KEY": HASH_KEY}
    with running_inference_service(tmp_path, args=args, env=env) as svc:
        ids = _predict(svc.url, records, ROWS)
        labelled = sorted(random.Random(7).sample(range(ROWS), round(LABELLED * ROWS)))
        bodies = [{"request_id": ids[i], "label": labels[i % DISTINCT]} for i in labelled]
        assert set(_post_feedback_pipelined(svc.url, bodies)) == {202}
        sampled_out = _sampled_out(httpx.get(f"{svc.url}/metrics").text)
    # The service got SIGTERM and flushed; every file of both datasets is read as written.
    assert len(set(ids)) == ROWS
    kept = {r for r in ids if sampled_fraction(r) < RATE}
    labelled_ids = {ids[i] for i in labelled}
    root = svc.capture_dir / "churn"
    files = sorted(root.rglob("*.parquet"))
    prediction_files = [p for p in files if "feedback" not in p.relative_to(root).parts]
    feedback_files = [p for p in files if "feedback" in p.relative_to(root).parts]
    assert prediction_files
    assert feedback_files
    expected_controls = CaptureControls(RATE, (EXCLUDED,), (HASHED,))
    captured: dict[str, str] = {}
    feedback_ids: list[str] = []
    for path in files:
        table = pq.read_table(path)
        assert CaptureControls.from_metadata(table.schema.metadata) == expected_controls, path
        assert EXCLUDED not in table.column_names, path
        if path in feedback_files:
            feedback_ids += table.column("request_id").to_pylist()
            continue
        hashes = table.column(HASHED).to_pylist()
        assert all(isinstance(h, str) and HEX64.fullmatch(h) for h in hashes), path
        captured.update(zip(table.column("request_id").to_pylist(), hashes, strict=True))

    # Kept exactly when the id's fraction is under the rate, predictions and labels alike.
    assert set(captured) == kept
    assert len(captured) == sum(pq.read_metadata(p).num_rows for p in prediction_files)  # no duplicates
    assert sorted(feedback_ids) == sorted(labelled_ids & kept)
    # Each hash is the keyed hash of the value that was sent (equal values stay equal), never the value.
    by_id = {r: records[i % DISTINCT][HASHED] for i, r in enumerate(ids)}
    hash_of = keyed_hash(HASH_KEY.encode())
    assert all(captured[r] == hash_of([by_id[r]])[0] for r in captured)
    assert not set(captured.values()) & {str(r[HASHED]) for r in records}
    # The share kept is the rate, within 5 sd of a binomial draw (sd 134 rows at 200,000).
    sd = (ROWS * RATE * (1 - RATE)) ** 0.5
    assert abs(len(kept) - RATE * ROWS) <= 5 * sd
    assert sampled_out == {"prediction": ROWS - len(kept), "feedback": len(labelled_ids - kept)}

    # What a drift check reads: the engine's own reader joins the labels to the kept predictions.
    window = Window(began - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1))
    read = read_capture_window(root.as_uri(), window, target=synthetic.TARGET)
    assert read.skipped == []
    assert read.controls == expected_controls
    assert len(read.frame) == len(kept)
    assert EXCLUDED not in read.frame.columns
    share_of_all, share_of_kept = len(labelled_ids) / ROWS, read.labelled / len(read.frame)
    assert abs(share_of_kept - share_of_all) <= 0.01, (
        f"{share_of_kept:.4f} of kept, {share_of_all:.4f} of all"
    )
