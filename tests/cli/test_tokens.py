"""Where a command's token comes from, and that every token is trimmed, checked and kept out of logs."""

from __future__ import annotations

import argparse
import io
import json
import os
from pathlib import Path

import pytest

from app.cli import tokens
from app.cli.tokens import TokenSourceError, given_token, read_token_file
from app.core.credentials import TokenFormatError
from app.core.logs import REDACTED, redact
from backend.local import LocalStack
from tests.cli.support import METADATA, make_file, one_sentence, run_cli
from tests.core.conftest import fetch


def options(token: str | None = None, token_file: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(token=token, token_file=token_file)


class Stdin(io.StringIO):
    def __init__(self, text: str, tty: bool = False) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_the_order_is_token_then_file_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3UP_TOKEN", " env-token-123\n")
    (tmp_path / "t").write_text("file-token-123\n")
    assert given_token(options("  option-token-123 ")) == "option-token-123"
    assert given_token(options(token_file=str(tmp_path / "t"))) == "file-token-123"
    assert given_token(options()) == "env-token-123"
    assert given_token(options(), use_environment=False) is None
    monkeypatch.setenv("S3UP_TOKEN", "  \n")  # set but blank: as if unset
    assert given_token(options()) is None


@pytest.mark.parametrize("source", ["option", "file", "stdin", "environment", "typed"])
def test_every_source_registers_its_token_with_the_log_redactor(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"{source}-secret-token-{os.getpid()}"
    (tmp_path / "t").write_text(secret + "\n")
    monkeypatch.setattr("sys.stdin", Stdin(secret + "\n", tty=source == "typed"))
    monkeypatch.setattr(tokens.getpass, "getpass", lambda prompt: secret)
    if source == "environment":
        monkeypatch.setenv("S3UP_TOKEN", secret)
    args = {
        "option": options(secret),
        "file": options(token_file=str(tmp_path / "t")),
        "stdin": options(token_file="-"),
        "environment": options(),
        "typed": options(token_file="-"),
    }[source]
    assert given_token(args) == secret
    assert redact(f"sent {secret} to the API") == f"sent {REDACTED} to the API"


def test_standard_input_and_files_are_read_whole_and_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", Stdin("line-one-token\nline-two\n"))
    with pytest.raises(TokenFormatError) as caught:
        read_token_file("-")
    assert caught.value.message.startswith("The token read from standard input has a space or a line break")
    big = tmp_path / "big"
    big.write_text("x" * 20_000)
    with pytest.raises(TokenSourceError) as too_big:
        read_token_file(str(big))
    assert "more than 16 KiB" in too_big.value.message
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00tok")
    with pytest.raises(TokenSourceError) as not_text:
        read_token_file(str(binary))
    assert "is not text (UTF-8)" in not_text.value.message
    with pytest.raises(TokenSourceError) as missing:
        read_token_file(str(tmp_path / "nope"))
    assert (
        missing.value.message == f"Cannot read the token file {tmp_path / 'nope'}: No such file or directory."
    )
    with_bom = tmp_path / "bom"
    with_bom.write_bytes("\ufeffbom-token-123\r\n".encode())
    assert read_token_file(str(with_bom)) == "bom-token-123"


@pytest.mark.skipif(os.name != "posix", reason="file modes are a POSIX matter")
def test_a_token_file_others_may_read_gets_a_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "token"
    path.write_text("shared-token-123")
    path.chmod(0o644)
    assert read_token_file(str(path)) == "shared-token-123"
    assert f"other users of this computer may read the token file {path}" in capsys.readouterr().err
    path.chmod(0o600)
    read_token_file(str(path))
    assert capsys.readouterr().err == ""


# --- end to end: what the user sees -------------------------------------------------------------------


@pytest.mark.parametrize("how", ["environment", "option", "file", "stdin"])
def test_a_token_with_surrounding_white_space_works_from_every_source(
    stack: LocalStack, home: Path, tmp_path: Path, how: str
) -> None:
    path = make_file(tmp_path, "spaced.bin", 1000)
    padded = f"  {stack.token}\r\n"
    (tmp_path / "token").write_text(padded)
    extra: dict[str, str] = {}
    args = ["upload", str(path), "--api", stack.api_url, "--key", f"cli/spaced-{how}.bin", "--json"]
    if how == "environment":
        extra["S3UP_TOKEN"] = padded
    elif how == "option":
        args += ["--token", padded]
    else:
        args += ["--token-file", str(tmp_path / "token") if how == "file" else "-"]
    result = run_cli(home, *args, stdin=padded if how == "stdin" else "", **extra)
    assert result.returncode == 0, result.stderr
    assert fetch(json.loads(result.stdout)["url"]) == path.read_bytes()
    leaked = [p for p in home.rglob("*") if p.is_file() and stack.token.encode() in p.read_bytes()]
    assert leaked == []


@pytest.mark.parametrize(
    ("token", "words"),
    [
        ("tok en-12345678", "The token given with --token has a space or a line break inside it"),
        ("tøken-☃-12345678", "holds the character “☃” (U+2603), which an HTTP header cannot carry"),
        ("token\x1b[31m-123", "holds an invisible or control character (U+001B)"),
        ("   ", "The token given with --token is empty"),
    ],
)
def test_an_unusable_token_is_refused_with_a_sentence_before_any_request(
    stack: LocalStack, home: Path, tmp_path: Path, token: str, words: str
) -> None:
    path = make_file(tmp_path, "refused.bin", 10)
    before = stack.s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", [])
    result = run_cli(
        home, "upload", str(path), "--api", stack.api_url, "--token", token, "--metadata", METADATA
    )
    assert result.returncode == 2
    assert words in result.stderr
    assert one_sentence(result.stderr)
    assert stack.s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", []) == before


def test_resume_and_abort_read_the_token_file_too(stack: LocalStack, home: Path, tmp_path: Path) -> None:
    (tmp_path / "bad").write_text("two words")
    for command in (["resume", "--all"], ["abort", "1"], ["login", "--api", stack.api_url]):
        result = run_cli(home, *command, "--token-file", str(tmp_path / "bad"))
        assert result.returncode == 2, (command, result.stderr)
        assert f"The token in {tmp_path / 'bad'} has a space or a line break inside it" in result.stderr


def test_login_without_a_keyring_says_how_to_give_the_token_instead(stack: LocalStack, home: Path) -> None:
    result = run_cli(
        home, "login", "--api", stack.api_url, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring"
    )
    assert result.returncode == 2
    assert "No keyring" in result.stderr or "no keyring" in result.stderr
    for way in ("--token-file PATH", "--token-file -", "$S3UP_TOKEN", "--token TOKEN"):
        assert way in result.stderr
