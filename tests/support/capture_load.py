"""Steady load on a real inference process, a SIGKILL at a chosen moment, and the capture counted back:
what the durability test and scripts/bench/capture_kill.py share.

    load = run_until_killed(svc.url, svc.process, rate=300, kill_after_s=2.0)
    lost = load.answered.keys() - set(captured_ids(capture_dir / "churn"))
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Load:
    """One phase of load: every 2xx answer's request id and when it arrived (monotonic seconds)."""

    answered: dict[str, float] = field(default_factory=dict)
    non_2xx: int = 0
    errors: int = 0
    started: float = 0.0
    killed_at: float = 0.0

    @property
    def rate(self) -> float:
        """Answers per second while the server lived."""
        return len(self.answered) / max(self.killed_at - self.started, 1e-9)

    def lost_in_last(self, lost: set[str]) -> float:
        """How long before the kill the earliest lost row was answered (0 when nothing was lost)."""
        return max((self.killed_at - self.answered[r] for r in lost), default=0.0)


@dataclass(frozen=True)
class _Target:
    url: str
    record: dict[str, Any]
    load: Load
    stop: threading.Event


async def _worker(client: httpx.AsyncClient, target: _Target, period: float, offset: float) -> None:
    load, stop = target.load, target.stop
    next_at = time.monotonic() + offset
    while not stop.is_set():
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        next_at = max(next_at + period, time.monotonic() - period)
        try:
            response = await client.post(target.url, json=target.record)
        except httpx.HTTPError:
            load.errors += 1
            if load.killed_at:
                return
            continue
        if response.status_code // 100 == 2:
            load.answered[response.json()["request_id"]] = time.monotonic()
        else:
            load.non_2xx += 1


def _run_load(target: _Target, rate: float, connections: int) -> None:
    async def main() -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(limits=limits, timeout=5.0) as client:
            period = connections / rate
            offsets = [i * period / connections for i in range(connections)]
            await asyncio.gather(*(_worker(client, target, period, offset) for offset in offsets))

    asyncio.run(main())


def run_until_killed(
    url: str,
    process: subprocess.Popen[bytes],
    record: dict[str, Any],
    *,
    rate: float,
    kill_after_s: float,
    connections: int = 8,
) -> Load:
    """`rate` single-row predictions per second on `connections` connections; SIGKILL after `kill_after_s`."""
    load, stop = Load(), threading.Event()
    target = _Target(f"{url}/v1/predict", record, load, stop)
    thread = threading.Thread(target=_run_load, args=(target, rate, connections), daemon=True)
    load.started = time.monotonic()
    thread.start()
    time.sleep(kill_after_s)
    process.send_signal(signal.SIGKILL)
    load.killed_at = time.monotonic()
    process.wait(10)
    stop.set()
    thread.join(15)
    return load


def captured_ids(dataset: Path) -> list[str]:
    """Every request id in the prediction files of a capture dataset (not feedback; not `.partial` files)."""
    import pyarrow.parquet as pq

    files = sorted(p for p in dataset.glob("date=*/hour=*/*.parquet") if not p.name.startswith("."))
    return [str(r) for f in files for r in pq.read_table(f, columns=["request_id"]).column(0).to_pylist()]


def duplicates(ids: list[str]) -> int:
    """Rows beyond the first of each request id."""
    return sum(n - 1 for n in Counter(ids).values())
