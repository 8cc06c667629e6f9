"""The command line's grammar: ranges, sentences, help and version (in process, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import __version__
from app.cli.parser import build_parser
from tests.cli.support import one_sentence, run_cli


def parse_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (
            ["upload", "f", "--concurrency", "0"],
            "--concurrency must be a whole number from 1 to 64 (it is '0').",
        ),
        (
            ["upload", "f", "--concurrency", "65"],
            "--concurrency must be a whole number from 1 to 64 (it is '65').",
        ),
        (["resume", "--all", "--concurrency", "2.5"], "--concurrency must be a whole number from 1 to 64"),
        (
            ["upload", "f", "--part-size", "0"],
            "--part-size must be a whole number of MiB from 5 to 5120 (it is '0').",
        ),
        (["upload", "f", "--part-size", "5121"], "--part-size must be a whole number of MiB from 5 to 5120"),
        (
            ["upload", "f", "--bandwidth-limit", "-1"],
            "--bandwidth-limit must be 0 (no limit) or a number of MiB/s",
        ),
        (["upload", "f", "--bandwidth-limit", "nan"], "--bandwidth-limit must be 0 (no limit)"),
        (["upload", "f", "--bandwidth-limit", "inf"], "--bandwidth-limit must be 0 (no limit)"),
        (["upload", "f", "--bandwidth-limit", "0.001"], "from 0.01 to 100,000 (it is '0.001')."),
        (
            ["upload", "f", "--cdn-base-url", "d111.cloudfront.net"],
            '--cdn-base-url: The CDN base URL must start with https:// (or http://), like "https://',
        ),
        (["list", "--recent", "-1"], "--recent must be a whole number from 0 to 1000 (it is '-1')."),
        (["list", "--recent", "1001"], "--recent must be a whole number from 0 to 1000"),
        (["resume", "0"], "The upload number must be a whole number from 1 up, as `s3up list` shows them"),
        (["abort", "-4"], "The upload number must be a whole number from 1 up"),
        (["abort", "twelve"], "The upload number must be a whole number from 1 up"),
        (["abort", "99999999999999999999"], "The upload number must be a whole number from 1 up"),
    ],
)
def test_every_number_outside_its_range_is_refused_with_a_sentence(
    capsys: pytest.CaptureFixture[str], argv: list[str], sentence: str
) -> None:
    err = parse_error(capsys, *argv)
    assert err.startswith("s3up: ")
    assert sentence in err
    assert f"`s3up {argv[0]} --help` lists the options." in err
    assert err.count("\n") == 1  # one line, no usage dump


@pytest.mark.parametrize(
    ("argv", "attribute", "value"),
    [
        (["upload", "f", "--concurrency", "64"], "concurrency", 64),
        (["upload", "f", "--concurrency", " 1 "], "concurrency", 1),
        (["upload", "f", "--part-size", "5"], "part_size", 5),
        (["upload", "f", "--part-size", "5120"], "part_size", 5120),
        (["upload", "f", "--bandwidth-limit", "0"], "bandwidth_limit", 0.0),
        (["upload", "f", "--bandwidth-limit", "0.5"], "bandwidth_limit", 0.5),
        (
            ["upload", "f", "--cdn-base-url", " https://d111.cloudfront.net/ "],
            "cdn_base_url",
            "https://d111.cloudfront.net",
        ),
        (["list", "--recent", "0"], "recent", 0),
        (["abort", "12"], "id", 12),
    ],
)
def test_values_inside_the_ranges_are_taken(argv: list[str], attribute: str, value: object) -> None:
    assert getattr(build_parser().parse_args(argv), attribute) == value


def test_token_sources_are_exclusive_and_unknown_options_are_a_sentence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = parse_error(capsys, "upload", "f", "--token", "a", "--token-file", "b")
    assert "s3up: --token-file and --token cannot be used together." in err
    err = parse_error(capsys, "upload", "f", "--colour")
    assert "Unrecognized arguments: --colour." in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"s3up {__version__}\n"


def test_upload_help_names_the_fields_the_api_needs_and_why_token_is_for_scripts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["upload", "--help"])
    text = capsys.readouterr().out
    assert '"organizationId" and "objectRecordId"' in text
    assert "existing deployment" in text
    assert "--token-file PATH" in text
    assert "process list (ps)" in text
    assert "history" in text
    assert ".DS_Store" in text
    assert "(1 to 64; default: automatic, from 2 to 64" in " ".join(text.split())


@pytest.mark.parametrize("command", ["list", "resume", "abort"])
def test_help_tells_how_to_reach_the_uploads_on_the_server(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--remote" in text
    assert "`s3up resume --remote FILE_ID --file PATH`" in text
    assert "`s3up abort --remote FILE_ID` deletes the parts" in text
    assert "the existing deployment cannot list them" in text
    if command == "abort":
        assert "parts already sent stay in the bucket until the bucket's clean-up rule" in text


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (["resume", "3", "--remote", "abc123"], "--remote and an upload number cannot be used together."),
        (["resume", "--all", "--remote", "abc123"], "--remote and --all cannot be used together."),
        (["abort", "3", "--remote", "x"], "--remote and an upload number cannot be used together."),
        (["resume"], "Give an upload number, --all or --remote."),
        (["abort"], "Give an upload number or --remote."),
    ],
)
def test_an_upload_is_named_one_way(
    capsys: pytest.CaptureFixture[str], argv: list[str], sentence: str
) -> None:
    err = parse_error(capsys, *argv)
    assert err == f"s3up: {sentence} `s3up {argv[0]} --help` lists the options.\n"


def test_an_out_of_range_value_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = run_cli(home, "upload", str(tmp_path), "--api", "http://127.0.0.1:9/prod", "--part-size", "4")
    assert result.returncode == 2
    assert one_sentence(result.stderr)
    assert not home.exists()  # not even the journal, the settings or the log folder


@pytest.mark.parametrize(
    ("argv", "attribute", "value"),
    [
        (["resume", "--remote", "-x7Qk2", "--token", "t"], "remote", "-x7Qk2"),  # an upload id with a dash
        (["abort", "--remote", "--x7Qk2"], "remote", "--x7Qk2"),
        (["upload", "a.bin", "--key", "-weird"], "key", "-weird"),
        (["upload", "a.bin", "--token-file", "-"], "token_file", "-"),
        (["list", "--remote", "--json"], "remote", True),  # a flag takes no value: --json stays an option
    ],
)
def test_a_value_that_starts_with_a_dash_is_taken_as_the_value(
    argv: list[str], attribute: str, value: object
) -> None:
    assert str(getattr(build_parser().parse_args(argv), attribute)) == str(value)
