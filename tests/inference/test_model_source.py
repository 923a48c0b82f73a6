"""Copying a model directory from a URI into the local directory the service loads (fetch-model)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from driftwatch_inference.cli import main
from driftwatch_inference.model_card import CARD_FILE, MODEL_FILE, REFERENCE_FILE
from driftwatch_inference.model_source import ModelSourceError, fetch_model, parse_storage_options
from driftwatch_inference.settings import Settings
from support.inference_server import trained_model_dir

pytestmark = pytest.mark.unit

FILES = (MODEL_FILE, CARD_FILE, REFERENCE_FILE)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A copy of the session's demo model directory that a test may change."""
    folder = tmp_path / "source" / "churn"
    shutil.copytree(trained_model_dir(), folder)
    return folder


def test_fetch_copies_the_files_the_card_names_byte_for_byte(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "models" / "churn"
    assert fetch_model(source.as_uri(), target) == FILES
    assert sorted(p.name for p in target.iterdir()) == sorted(FILES)
    for name in FILES:
        assert (target / name).read_bytes() == (source / name).read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["churn"]  # no staging directory left


def test_fetch_takes_the_reference_file_the_card_names(source: Path, tmp_path: Path) -> None:
    card = json.loads((source / CARD_FILE).read_text())
    card["reference"]["file"] = "ref-2026.parquet"
    (source / CARD_FILE).write_text(json.dumps(card))
    (source / REFERENCE_FILE).rename(source / "ref-2026.parquet")
    assert fetch_model(source.as_uri(), tmp_path / "m") == (MODEL_FILE, CARD_FILE, "ref-2026.parquet")
    assert (tmp_path / "m" / "ref-2026.parquet").is_file()


def test_fetch_replaces_an_existing_directory_whole(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "m"
    target.mkdir()
    (target / "stale.txt").write_text("from an older model")
    fetch_model(source.as_uri(), target)
    assert sorted(p.name for p in target.iterdir()) == sorted(FILES)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("missing", [MODEL_FILE, REFERENCE_FILE, CARD_FILE])
def test_a_missing_file_names_uri_and_file_and_leaves_the_old_directory(
    missing: str, source: Path, tmp_path: Path
) -> None:
    target = tmp_path / "m"
    fetch_model(source.as_uri(), target)
    before = {name: (target / name).read_bytes() for name in FILES}
    (source / missing).unlink()
    with pytest.raises(ModelSourceError) as refused:
        fetch_model(source.as_uri(), target)
    assert str(refused.value) == f"{source.as_uri()}/{missing}: not found"
    assert {name: (target / name).read_bytes() for name in FILES} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "source"]


def test_a_card_that_is_not_json_is_refused_naming_it(source: Path, tmp_path: Path) -> None:
    (source / CARD_FILE).write_text("{not json")
    with pytest.raises(ModelSourceError, match=rf"/{CARD_FILE}: JSONDecodeError: Expecting property name"):
        fetch_model(source.as_uri(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("name", ["../../etc/passwd", "sub/reference.parquet", ".."])
def test_a_card_naming_a_file_outside_the_directory_is_refused(
    name: str, source: Path, tmp_path: Path
) -> None:
    card = json.loads((source / CARD_FILE).read_text())
    card["reference"]["file"] = name
    (source / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelSourceError, match="is not a plain file name"):
        fetch_model(source.as_uri(), tmp_path / "m")


def test_a_card_that_is_a_json_list_is_refused(source: Path, tmp_path: Path) -> None:
    (source / CARD_FILE).write_text("[]")
    with pytest.raises(ModelSourceError, match="the card is not a JSON object"):
        fetch_model(source.as_uri(), tmp_path / "m")


def test_an_unknown_protocol_is_refused_naming_the_uri(tmp_path: Path) -> None:
    with pytest.raises(ModelSourceError, match=r"^nope://models/x: ValueError: Protocol not known: nope"):
        fetch_model("nope://models/x", tmp_path / "m")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", {}), ("  ", {}), ('{"anon": true}', {"anon": True}), (None, {})],
)
def test_storage_options_are_a_json_object(text: str | None, expected: dict[str, object]) -> None:
    assert parse_storage_options(text) == expected


@pytest.mark.parametrize("text", ["{bad", "[1]", '"s3"'])
def test_storage_options_that_are_not_a_json_object_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"not JSON|must be a JSON object"):
        parse_storage_options(text)


def test_settings_read_the_model_source_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTWATCH_MODEL_URI", "s3://models/churn")
    monkeypatch.setenv(
        "DRIFTWATCH_MODEL_STORAGE_OPTIONS", '{"client_kwargs": {"endpoint_url": "http://s3:9000"}}'
    )
    settings = Settings()
    assert settings.model_uri == "s3://models/churn"
    assert settings.model_storage_options == {"client_kwargs": {"endpoint_url": "http://s3:9000"}}


def test_fetch_model_command_copies_and_says_so(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["fetch-model", "--model-uri", source.as_uri(), "--model-dir", str(tmp_path / "m")])
    out = capsys.readouterr().out
    assert code == 0
    assert out == f"fetched {', '.join(FILES)} from {source.as_uri()} into {tmp_path / 'm'}\n"
    assert (tmp_path / "m" / MODEL_FILE).is_file()


def test_fetch_model_command_failure_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = (tmp_path / "absent").as_uri()
    code = main(["fetch-model", "--model-uri", uri, "--model-dir", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 1
    prefix = "driftwatch-inference fetch-model: error: cannot fetch the model directory"
    assert err == f"{prefix}: {uri}/{CARD_FILE}: not found\n"


def test_fetch_model_command_bad_storage_options_are_exit_2_without_echoing_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTWATCH_MODEL_STORAGE_OPTIONS", '{"secret": "hunter2"')
    code = main(["fetch-model", "--model-uri", tmp_path.as_uri(), "--model-dir", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("driftwatch-inference fetch-model: error: DRIFTWATCH_MODEL_STORAGE_OPTIONS: ")
    assert "hunter2" not in err
    assert err.count("\n") == 1


def test_fetch_model_command_needs_a_uri(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch-model", "--model-dir", str(tmp_path / "m")]) == 2
    assert "--model-uri / DRIFTWATCH_MODEL_URI is required" in capsys.readouterr().err


def test_fetch_model_help_names_environment_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["fetch-model", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for needle in (
        "DRIFTWATCH_MODEL_STORAGE_OPTIONS",
        "AWS_ACCESS_KEY_ID",
        "exit codes",
        "default artifacts/model",
    ):
        assert needle in text
