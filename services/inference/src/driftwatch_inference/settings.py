"""Service settings: every `serve` flag, also settable as a DRIFTWATCH_* environment variable."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from driftwatch_inference.model_source import parse_storage_options

ENV_PREFIX = "DRIFTWATCH_"


class ModelSourceSettings(BaseSettings):
    """Where the model directory is, and where it comes from: all that `fetch-model` reads."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    model_dir: Path = Path("artifacts/model")
    # When set, the model directory is copied from here into `model_dir` before the model loads.
    model_uri: str | None = None
    # fsspec storage options of `model_uri` (JSON in the environment), beside the standard AWS_* variables.
    model_storage_options: Annotated[dict[str, Any], NoDecode] = {}

    @field_validator("model_storage_options", mode="before")
    @classmethod
    def _storage_options(cls, value: Any) -> Any:
        """One parser for the variable, shared with `fetch-model` (a ValueError names what is wrong)."""
        return parse_storage_options(value)


class Settings(ModelSourceSettings):
    """What `create_app` needs; built by the CLI (or a test), never at import time."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    capture_uri: str = "file:///data/capture"
    max_batch_size: int = Field(default=1000, ge=1, le=100_000)
    metrics_enabled: bool = True
    capture_enabled: bool = True
    capture_queue_size: int = Field(default=200_000, ge=1)
    capture_flush_rows: int = Field(default=20_000, ge=1)
    capture_flush_interval_s: float = Field(default=5.0, gt=0)
    # A `.sketch` summary beside each prediction file, built in the flusher (docs/drift-engine.md, "Scale").
    capture_sketches: bool = True
    capture_host: str = Field(default_factory=socket.gethostname)
    # fsspec storage options of `capture_uri` (JSON in the environment), beside the standard AWS_* variables.
    capture_storage_options: Annotated[dict[str, Any], NoDecode] = {}
    # The durable mode: rows fsync'd to a local spool in groups, replayed into Parquet at start.
    capture_durable: bool = False
    capture_spool_dir: Path = Path("/tmp/driftwatch-spool")
    capture_group_interval_s: float = Field(default=0.02, gt=0, le=1.0)
    # Capture controls (capture_controls.py): the share of predictions captured, decided by request id,
    # and features never written or written as a keyed hash (the key from a Secret, environment only).
    capture_sample_rate: float = Field(default=1.0, gt=0, le=1.0)
    capture_exclude: Annotated[tuple[str, ...], NoDecode] = ()
    capture_hash: Annotated[tuple[str, ...], NoDecode] = ()
    capture_hash_key: SecretStr | None = None
    log_level: str = "INFO"
    access_log: bool = False
    # skops types to load beyond the card's `trusted_types`; each one reviewed by whoever sets it.
    trust: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("capture_storage_options", mode="before")
    @classmethod
    def _capture_storage_options(cls, value: Any) -> Any:
        """The model source's parser: the same JSON object, the same messages."""
        return parse_storage_options(value)

    @field_validator("trust", "capture_exclude", "capture_hash", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """DRIFTWATCH_TRUST=a.B,c.D: one variable, a comma between types (a flag is repeated instead)."""
        if isinstance(value, str):
            return tuple(t.strip() for t in value.split(",") if t.strip())
        return value
