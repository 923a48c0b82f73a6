"""The benchmarks' merge of wrk rounds into one latency distribution (scripts/bench/wrk.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "bench"))
import wrk  # scripts/bench is not a package

pytestmark = pytest.mark.unit


def uniform(high_us: float) -> list[tuple[float, float]]:
    """The percentile table of latencies spread evenly over 0..high_us."""
    return [(p, high_us * p / 100) for p in wrk.PERCENTILES]


def test_one_round_gives_back_its_own_percentiles() -> None:
    assert wrk.merged_percentile([(1000, uniform(10_000))], 99) == pytest.approx(9_900, abs=1)
    assert wrk.merged_percentile([(1000, uniform(10_000))], 50) == pytest.approx(5_000, abs=1)


def test_rounds_are_weighted_by_their_requests() -> None:
    # Equal counts over 0..10 ms and 0..20 ms: F(x) = (x/10 + x/20) / 2, so the median is 6.67 ms.
    assert wrk.merged_percentile([(100, uniform(10_000)), (100, uniform(20_000))], 50) == pytest.approx(
        20_000 / 3, abs=1
    )
    # One slow round of a hundred: the merged p99 stays near the fast rounds', not the slow round's.
    fast, slow = [(10_000, uniform(10_000))] * 99, [(10_000, uniform(100_000))]
    merged = wrk.merged_percentile(fast + slow, 99)
    assert 9_000 < merged < 11_000
    assert wrk.merged_percentile(slow, 99) == pytest.approx(99_000, abs=1)


def test_the_pctl_line_is_read_back_in_order() -> None:
    table = uniform(5_000)
    line = "PCTL " + ",".join(f"{p:g}:{us:.0f}" for p, us in table)
    done = subprocess.CompletedProcess([], 0, stdout=f"Running 1s test\n{line}\n", stderr="")
    parsed = wrk.wrk_percentiles(done)
    assert [p for p, _ in parsed] == [float(p) for p in wrk.PERCENTILES]
    assert parsed[-1] == (100.0, 5_000.0)
    assert "latency:percentile(p)" in wrk.PCTL_LUA
    assert '"100:" .. latency.max' in wrk.PCTL_LUA


@pytest.mark.integration
def test_real_wrk_prints_a_table_whose_merge_is_its_own_p99(tmp_path: Path) -> None:
    """wrk (Debian's, as `make bench` runs it) for one second against a static file on 127.0.0.1."""
    from support.control_plane import wait_until
    from support.processes import free_port, stop_gracefully

    (tmp_path / "index.html").write_text("ok")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        script = tmp_path / "done.lua"
        script.write_text(
            "done = function(summary, latency, requests)\n"
            '  io.write(string.format("RESULT requests=%d p99_us=%d\\n", summary.requests,'
            " latency:percentile(99)))\n" + wrk.PCTL_LUA + "end\n"
        )
        url = f"http://127.0.0.1:{port}/"
        wait_until(lambda: _answers(url), timeout=30, what="the static server")
        done = subprocess.run(
            ["wrk", "-t1", "-c2", "-d1s", "-s", str(script), url],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    finally:
        stop_gracefully(server)
    fields, table = wrk.wrk_result(done), wrk.wrk_percentiles(done)
    assert fields["requests"] > 0
    assert len(table) == len(wrk.PERCENTILES)
    assert [us for _, us in table] == sorted(us for _, us in table)
    merged = wrk.merged_percentile([(fields["requests"], table)], 99)
    assert merged == pytest.approx(fields["p99_us"], rel=0.02, abs=5)


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
