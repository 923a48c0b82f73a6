"""Model directories served from a URI: the card's files copied from file://, s3:// or http(s):// into the
local directory the service loads, atomically and verified, before the model loads (docs/inference.md).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec

from driftwatch_inference.model_card import CARD_FILE, MODEL_FILE, REFERENCE_FILE

# fsspec storage options of the model URI (JSON), beside the standard AWS_* variables that s3fs reads.
STORAGE_OPTIONS_ENV = "DRIFTWATCH_MODEL_STORAGE_OPTIONS"


class ModelSourceError(RuntimeError):
    """The model directory at a URI cannot be copied: unreachable, a file missing, a card unreadable."""


def parse_storage_options(value: Any) -> dict[str, Any]:
    """fsspec storage options from JSON text (the environment) or a mapping; empty text means none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc.msg} at character {exc.pos}") from exc
    if not isinstance(value, Mapping):
        raise ValueError("must be a JSON object of fsspec storage options")
    return dict(value)


def filesystem(uri: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec filesystem and root path of `uri` (s3fs, HTTP or local), with the given options."""
    fs, root = fsspec.core.url_to_fs(uri, **dict(storage_options or {}))
    return fs, str(root).rstrip("/")


def card_files(card: Mapping[str, Any]) -> tuple[str, ...]:
    """The files a model directory holds: the model, its card and the reference the card names."""
    reference = card.get("reference")
    name = reference.get("file", REFERENCE_FILE) if isinstance(reference, Mapping) else REFERENCE_FILE
    # The card is data from elsewhere: its file name must stay inside the directory.
    if not isinstance(name, str) or PurePosixPath(name).name != name or name in ("", ".", ".."):
        raise ValueError(f"the card's reference.file {name!r} is not a plain file name")
    return (MODEL_FILE, CARD_FILE, name)


def fetch_model(
    uri: str, model_dir: Path, storage_options: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """Copy the model directory at `uri` into `model_dir`; the files copied, or ModelSourceError.

    The files land in a staging directory beside `model_dir`, are checked (each one present, the card a
    JSON object), and only then take `model_dir`'s place: a reader never sees a partial directory, and
    a failed copy leaves an earlier `model_dir` as it was.
    """
    where = uri.rstrip("/")
    try:
        fs, root = filesystem(uri, storage_options)
    except Exception as exc:  # an unknown protocol, a missing backend, bad storage options
        raise ModelSourceError(f"{uri}: {_first_line(exc)}") from exc
    card_bytes = _read(fs, root, where, CARD_FILE)
    try:
        card = json.loads(card_bytes)
        if not isinstance(card, dict):
            raise ValueError("the card is not a JSON object")
        files = card_files(card)
    except ValueError as exc:  # JSONDecodeError is one
        raise ModelSourceError(f"{where}/{CARD_FILE}: {_first_line(exc)}") from exc

    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = model_dir.parent / f".{model_dir.name}.staging-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        (staging / CARD_FILE).write_bytes(card_bytes)  # the bytes parsed above, not a second read
        for name in files:
            if name != CARD_FILE:
                _copy(fs, root, where, name, staging / name)
        _replace(staging, model_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return files


def _read(fs: Any, root: str, where: str, name: str) -> bytes:
    try:
        data: bytes = fs.cat_file(f"{root}/{name}")
    except FileNotFoundError as exc:
        raise ModelSourceError(f"{where}/{name}: not found") from exc
    except Exception as exc:  # network, permission, endpoint errors: each backend has its own kinds
        raise ModelSourceError(f"{where}/{name}: {_first_line(exc)}") from exc
    return data


def _copy(fs: Any, root: str, where: str, name: str, target: Path) -> None:
    try:
        fs.get_file(f"{root}/{name}", str(target))
    except FileNotFoundError as exc:
        raise ModelSourceError(f"{where}/{name}: not found") from exc
    except Exception as exc:
        raise ModelSourceError(f"{where}/{name}: {_first_line(exc)}") from exc
    if not target.is_file():  # a backend that "copied" a directory or nothing at all
        raise ModelSourceError(f"{where}/{name}: not found")


def _replace(staging: Path, model_dir: Path) -> None:
    """Rename `staging` to `model_dir`; an existing `model_dir` is moved aside first, then removed."""
    old = None
    if model_dir.exists() or model_dir.is_symlink():
        old = model_dir.parent / f".{model_dir.name}.old-{uuid.uuid4().hex[:12]}"
        model_dir.rename(old)
    try:
        staging.rename(model_dir)
    except BaseException:
        if old is not None:
            old.rename(model_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
