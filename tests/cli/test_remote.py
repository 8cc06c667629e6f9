"""`s3up list --remote`, `resume --remote` and `abort --remote`: the uploads the server holds, from any
computer (two S3UP_HOMEs stand for two computers of one user)."""

from __future__ import annotations

import calendar
import json
import time
from pathlib import Path

import pytest

from app.core.models import MIB
from backend.local import LocalStack
from tests.cli.support import make_file, one_sentence, run_cli, upload_stopped_by_ctrl_c
from tests.core.conftest import fetch


def interrupted_upload(stack: LocalStack, home: Path, path: Path, key: str) -> None:
    """An upload with its first part on S3, then stopped by Ctrl-C."""
    upload_stopped_by_ctrl_c(home, path, "--api", stack.api_url, "--token", stack.token, "--key", key)


def remote_records(home: Path, stack: LocalStack) -> list[dict[str, object]]:
    listed = run_cli(home, "list", "--remote", "--json", "--api", stack.api_url, "--token", stack.token)
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line) for line in listed.stdout.splitlines()]


def test_an_upload_started_on_one_computer_is_listed_and_finished_on_another(
    stack: LocalStack, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    path = make_file(tmp_path / "files", "survey.bin", 40 * MIB)
    interrupted_upload(stack, first, path, "remote/survey.bin")

    listed = run_cli(first, "list", "--remote", "--api", stack.api_url, "--token", stack.token)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:4] == ["STARTED", "SIZE", "ON", "S3"]
    (row,) = [row for row in rows if row.endswith(" remote/survey.bin")]
    assert "40 MiB" in row
    assert "upload 1" in row  # this computer started it: `s3up resume 1` works here too
    assert "s3up resume --remote FILE_ID --file PATH" in listed.stderr

    (record,) = [r for r in remote_records(second, stack) if r["key"] == "remote/survey.bin"]
    assert record["localId"] is None  # not started on this computer
    assert record["name"] == "survey.bin"
    assert record["size"] == 40 * MIB
    assert record["single"] is False
    assert record["partsHeld"] >= 1  # type: ignore[operator]
    assert record["bytesHeld"] == record["partsHeld"] * 5 * MIB  # type: ignore[operator]
    started = calendar.timegm(time.strptime(str(record["startedAt"]), "%Y-%m-%dT%H:%M:%SZ"))
    expires = calendar.timegm(time.strptime(str(record["partsExpireAt"]), "%Y-%m-%dT%H:%M:%SZ"))
    assert expires % 86400 == 0  # S3's lifecycle rule ends at midnight UTC
    assert 7 * 86400 <= expires - started < 8 * 86400  # the stack keeps parts 7 days
    file_id = str(record["fileId"])
    assert file_id[:16] in row  # the table shows the start of the id

    impostor = make_file(tmp_path / "files", "impostor.bin", 40 * MIB)  # same size, other bytes
    refused = run_cli(
        second, "resume", "--remote", file_id[:10], "--file", str(impostor), "--api", stack.api_url,
        "--token", stack.token,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "Part 1 already sent for “remote/survey.bin” differs from impostor.bin" in refused.stderr
    assert one_sentence(refused.stderr)
    no_file = run_cli(second, "resume", "--remote", file_id, "--api", stack.api_url, "--token", stack.token)
    assert no_file.returncode == 2
    assert "Give the local file with --file PATH" in no_file.stderr

    resumed = run_cli(
        second, "resume", "--remote", file_id[:10], "--file", str(path), "--api", stack.api_url,
        "--token", stack.token, "--json",
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "already on the server match survey.bin" in resumed.stderr
    (done,) = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert done["status"] == "done"
    assert done["uploadId"] == file_id
    assert fetch(done["url"]) == path.read_bytes()
    assert [r for r in remote_records(first, stack) if r["key"] == "remote/survey.bin"] == []


def test_resume_remote_of_an_upload_this_computer_started_needs_no_file(
    stack: LocalStack, home: Path, tmp_path: Path
) -> None:
    path = make_file(tmp_path, "mine.bin", 40 * MIB)
    interrupted_upload(stack, home, path, "remote/mine.bin")
    (record,) = [r for r in remote_records(home, stack) if r["key"] == "remote/mine.bin"]
    assert record["localFile"] == str(path)
    resumed = run_cli(home, "resume", "--remote", str(record["fileId"]), "--token", stack.token, "--json")
    assert resumed.returncode == 0, resumed.stderr
    (done,) = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert done["id"] == record["localId"]  # the same upload went on, not a second one
    assert fetch(done["url"]) == path.read_bytes()


def test_abort_remote_deletes_the_parts_and_cancels_the_upload_where_it_was_started(
    stack: LocalStack, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    paths = [make_file(tmp_path, f"drop-{n}.bin", 40 * MIB) for n in (1, 2)]
    for path in paths:
        interrupted_upload(stack, first, path, f"remote/{path.name}")
    records = {r["key"]: r for r in remote_records(first, stack)}
    elsewhere, here = (records[f"remote/{path.name}"] for path in paths)

    aborted = run_cli(second, "abort", "--remote", str(elsewhere["fileId"]), "--token", stack.token,
                      "--api", stack.api_url)  # fmt: skip
    assert aborted.returncode == 0, aborted.stderr
    assert (
        aborted.stdout == "Aborted the upload of “remote/drop-1.bin”: the server deleted the parts it held.\n"
    )
    uploads = stack.s3.list_multipart_uploads(Bucket=stack.bucket).get("Uploads", [])
    assert elsewhere["fileId"] not in [upload["UploadId"] for upload in uploads]

    aborted = run_cli(first, "abort", "--remote", str(here["fileId"]), "--token", stack.token)
    assert aborted.returncode == 0, aborted.stderr
    assert aborted.stdout == (
        f"Aborted the upload of “remote/drop-2.bin” (upload {here['localId']} of this computer is cancelled "
        "too): the server deleted the parts it held.\n"
    )
    assert "drop-2.bin" not in run_cli(first, "list").stdout
    left = {r["key"] for r in remote_records(first, stack)}
    assert left.isdisjoint({"remote/drop-1.bin", "remote/drop-2.bin"})


def test_a_file_id_must_name_one_unfinished_upload(stack: LocalStack, home: Path, tmp_path: Path) -> None:
    unknown = run_cli(
        home, "abort", "--remote", "no-such-upload", "--api", stack.api_url, "--token", stack.token
    )
    assert unknown.returncode == 2
    assert "No unfinished upload on the server has the FILE ID 'no-such-upload'" in unknown.stderr
    assert one_sentence(unknown.stderr)
    path = make_file(tmp_path, "short.bin", 40 * MIB)
    interrupted_upload(stack, home, path, "remote/short-id.bin")
    (record,) = [r for r in remote_records(home, stack) if r["key"] == "remote/short-id.bin"]
    too_short = run_cli(home, "abort", "--remote", str(record["fileId"])[:3], "--token", stack.token)
    assert too_short.returncode == 2
    assert "Give at least 6 characters of the FILE ID" in too_short.stderr
    assert [r["key"] for r in remote_records(home, stack)].count("remote/short-id.bin") == 1  # untouched


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (["resume", "3", "--file", "x.bin"], "--file goes with --remote FILE_ID"),
        (["resume", "--all", "--api", "http://127.0.0.1:9/prod"], "--api goes with --remote FILE_ID"),
        (["resume", "--remote", "abcdefgh", "--overwrite"], "give its number instead of --remote"),
        (["abort", "3", "--api", "http://127.0.0.1:9/prod"], "--api goes with --remote FILE_ID"),
        (["list", "--api", "http://127.0.0.1:9/prod"], "--api goes with --remote"),
        (["list", "--remote", "--recent", "3"], "--recent counts finished uploads of this computer"),
    ],
)
def test_options_of_the_remote_commands_are_checked_first(home: Path, argv: list[str], sentence: str) -> None:
    result = run_cli(home, *argv)
    assert result.returncode == 2
    assert sentence in result.stderr
    assert one_sentence(result.stderr)
    assert not (home / "data" / "journal.sqlite3").exists()


def test_an_empty_list_says_so(home: Path) -> None:
    with LocalStack(port=0) as fresh:
        listed = run_cli(home, "list", "--remote", "--api", fresh.api_url, "--token", fresh.token)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == f"No unfinished uploads on {fresh.api_url}.\n"
