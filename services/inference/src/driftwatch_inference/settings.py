"""Service settings: every `serve` flag, also settable as a DRIFTWATCH_* environment variable."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "DRIFTWATCH_"


class Settings(BaseSettings):
    """What `create_app` needs; built by the CLI (or a test), never at import time."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    model_dir: Path = Path("artifacts/model")
    capture_uri: str = "file:///data/capture"
    max_batch_size: int = Field(default=1000, ge=1, le=100_000)
    metrics_enabled: bool = True
    capture_enabled: bool = True
    capture_queue_size: int = Field(default=200_000, ge=1)
    capture_flush_rows: int = Field(default=20_000, ge=1)
    capture_flush_interval_s: float = Field(default=5.0, gt=0)
    capture_host: str = Field(default_factory=socket.gethostname)
    log_level: str = "INFO"
    access_log: bool = False
