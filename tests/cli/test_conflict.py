"""An upload refused because an object exists at its key: listed with its choices, never sent again as it
is, and finished by `s3up resume ID --overwrite` or `--key NEWKEY` (UploadManager.resolve_conflict)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.journal import Journal
from app.core.models import MIB
from backend.local import LocalStack
from tests.cli.support import (
    make_file,
    one_sentence,
    run_cli,
    upload_stopped_by_ctrl_c,
)
from tests.core.conftest import fetch


@pytest.fixture
def initialize_calls(stack: LocalStack) -> Iterator[list[str]]:
    """The keys /initialize is asked for, in order."""
    keys: list[str] = []
    original = stack.routes["/initialize"]

    def spy(event: dict[str, Any], context: Any) -> dict[str, Any]:
        keys.append(json.loads(event["body"] or "{}").get("pluginPayload", {}).get("imageKey", ""))
        return original(event, context)

    stack.routes["/initialize"] = spy
    yield keys
    stack.routes["/initialize"] = original


def refused_upload(stack: LocalStack, home: Path, tmp_path: Path, key: str) -> tuple[Path, int, str]:
    """Publish one file at `key`, then try another there without --overwrite: (that file, its upload
    number, the line the CLI printed for it)."""
    first = make_file(tmp_path, "first.bin", 1000)
    second = make_file(tmp_path, "second.bin", 2000)
    common = ["--api", stack.api_url, "--token", stack.token, "--key", key]
    assert run_cli(home, "upload", str(first), *common).returncode == 0
    refused = run_cli(home, "upload", str(second), *common)
    assert refused.returncode == 1
    (line,) = refused.stdout.splitlines()
    upload_ref = int(line.split("[upload ")[1].split("]")[0])
    return second, upload_ref, line


def test_a_refused_key_is_listed_with_its_choices_and_resume_all_does_not_send_it_again(
    stack: LocalStack, home: Path, tmp_path: Path, initialize_calls: list[str]
) -> None:
    _, upload_ref, line = refused_upload(stack, home, tmp_path, "cli/conflict/listed.bin")
    assert line.startswith(f"conflict  second.bin [upload {upload_ref}]: ")
    assert f"`s3up resume {upload_ref} --overwrite` replaces that object" in line
    assert f"`s3up resume {upload_ref} --key NEWKEY`" in line
    assert "tried again" not in line
    asked = len(initialize_calls)
    resumed = run_cli(home, "resume", "--all", "--token", stack.token)
    assert resumed.returncode == 1
    assert "--overwrite` replaces that object" in resumed.stdout
    assert len(initialize_calls) == asked  # not sent again as it was
    assert "Key exists" in run_cli(home, "list").stdout


def test_resume_with_overwrite_replaces_the_object(stack: LocalStack, home: Path, tmp_path: Path) -> None:
    second, upload_ref, _ = refused_upload(stack, home, tmp_path, "cli/conflict/overwrite.bin")
    resumed = run_cli(home, "resume", str(upload_ref), "--overwrite", "--json", "--token", stack.token)
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads(resumed.stdout.splitlines()[-1])
    assert record["key"] == "cli/conflict/overwrite.bin"
    assert fetch(record["url"]) == second.read_bytes()


def test_resume_with_a_new_key_uploads_it_there(stack: LocalStack, home: Path, tmp_path: Path) -> None:
    second, upload_ref, _ = refused_upload(stack, home, tmp_path, "cli/conflict/renamed.bin")
    resumed = run_cli(
        home,
        "resume",
        str(upload_ref),
        "--key",
        "cli/conflict/renamed-2.bin",
        "--json",
        "--token",
        stack.token,
    )
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads(resumed.stdout.splitlines()[-1])
    assert record["key"] == "cli/conflict/renamed-2.bin"
    assert fetch(record["url"]) == second.read_bytes()


def test_overwrite_or_key_for_an_upload_that_was_not_refused_says_so(
    stack: LocalStack, home: Path, tmp_path: Path
) -> None:
    path = make_file(tmp_path, "paused.bin", 24 * MIB)
    upload_stopped_by_ctrl_c(
        home, path, "--api", stack.api_url, "--token", stack.token, "--key", "cli/conflict/paused.bin"
    )
    with Journal(home / "data" / "journal.sqlite3") as journal:
        (upload,) = journal.unfinished()
    result = run_cli(home, "resume", str(upload.id), "--overwrite", "--token", stack.token)
    assert result.returncode == 2
    assert f"Upload {upload.id} was not refused for its key (it is paused)" in result.stderr
    assert f"`s3up resume {upload.id}` continues it." in result.stderr
    assert one_sentence(result.stderr)
