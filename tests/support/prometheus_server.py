"""Start the real Prometheus (Debian package) on 127.0.0.1 with a temporary TSDB, for the monitoring tests.

with running_prometheus(tmp_path, scrape_configs, rule_files=[rules]) as prom:
    prom.query('sum(rate(driftwatch_http_requests_total[1m]))')
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from support.processes import free_port, stop_gracefully

T = TypeVar("T")


class QueryError(RuntimeError):
    """Prometheus answered a query with an error (bad PromQL, a type error, a timeout)."""


@dataclass(frozen=True)
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        body = response.json()
        if body.get("status") != "success":
            raise QueryError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query at now; the result as a list of series (a scalar becomes one series)."""
        data = self.api("query", query=expr)
        if data["resultType"] in {"scalar", "string"}:
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def wait_for(self, probe: Callable[[], T | None], *, timeout: float = 60.0, what: str = "condition") -> T:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}:\n{self.logs()}")
            time.sleep(0.25)
        raise TimeoutError(f"timed out after {timeout}s waiting for {what}\n{self.logs()[-3000:]}")

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def binary() -> str:
    found = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(found).exists():
        raise FileNotFoundError("prometheus not found: run `make tools` (Debian package prometheus)")
    return found


@contextmanager
def running_prometheus(
    workdir: Path,
    scrape_configs: Sequence[dict[str, Any]],
    *,
    rule_files: Sequence[Path] = (),
    interval: str = "1s",
    timeout: float = 60.0,
) -> Iterator[PrometheusServer]:
    """Prometheus scraping `scrape_configs` every `interval` and evaluating `rule_files`; stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": list(scrape_configs),
    }
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    log_path = workdir / "prometheus.log"
    command = [
        binary(),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
        "--log.level=info",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = PrometheusServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)

    def ready() -> bool:
        try:
            return httpx.get(f"{server.url}/-/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        server.wait_for(ready, timeout=timeout, what="prometheus /-/ready")
        yield server
    finally:
        stop_gracefully(process, timeout=15)
