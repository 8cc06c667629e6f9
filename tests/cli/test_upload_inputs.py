"""What `s3up upload` checks before it starts: the fields the existing deployment needs, folders, keys."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.models import MIB
from backend.local import LocalStack
from tests.cli.support import METADATA, make_file, one_sentence, run_cli
from tests.core.conftest import fetch


@pytest.fixture(scope="module")
def core_only() -> Iterator[LocalStack]:
    """The existing deployment as API Gateway answers it."""
    with LocalStack(port=0, core_only=True) as local:
        yield local


@pytest.fixture
def initialize_calls(core_only: LocalStack) -> Iterator[list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []
    original = core_only.routes["/initialize"]

    def spy(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event)
        return original(event, context)

    core_only.routes["/initialize"] = spy
    yield calls
    core_only.routes["/initialize"] = original


@pytest.mark.parametrize(
    ("metadata", "missing"),
    [
        (None, '"organizationId" and "objectRecordId"'),
        ('{"organizationId": "org-7"}', '"objectRecordId"'),
        ('{"organizationId": "org-7", "objectRecordId": "  "}', '"objectRecordId"'),
        ('{"organizationId": [1], "objectRecordId": "rec-1"}', '"organizationId"'),
    ],
)
def test_the_existing_deployment_needs_its_two_fields_before_anything_starts(
    core_only: LocalStack,
    initialize_calls: list[dict[str, Any]],
    home: Path,
    tmp_path: Path,
    metadata: str | None,
    missing: str,
) -> None:
    path = make_file(tmp_path, "core.bin", 100)
    args = ["upload", str(path), "--api", core_only.api_url, "--token", core_only.token]
    result = run_cli(home, *args, *(["--metadata", metadata] if metadata else []))
    assert result.returncode == 2
    assert f"This API (the existing deployment) needs {missing} in --metadata" in result.stderr
    assert one_sentence(result.stderr)
    assert [call for call in initialize_calls if call["headers"].get("Authorization")] == []
    assert core_only.s3.list_multipart_uploads(Bucket=core_only.bucket).get("Uploads", []) == []


def test_the_existing_deployment_with_its_fields_uploads(
    core_only: LocalStack, home: Path, tmp_path: Path
) -> None:
    path = make_file(tmp_path, "core-ok.bin", 6 * MIB)
    result = run_cli(
        home, "upload", str(path), "--api", core_only.api_url, "--token", core_only.token,
        "--metadata", METADATA, "--cdn-base-url", core_only.cdn_base_url, "--key", "cli/core-ok.bin",
        "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert fetch(json.loads(result.stdout)["url"]) == path.read_bytes()


def test_this_projects_api_takes_any_metadata(stack: LocalStack, home: Path, tmp_path: Path) -> None:
    path = make_file(tmp_path, "any.bin", 10)
    result = run_cli(
        home, "upload", str(path), "--api", stack.api_url, "--token", stack.token,
        "--metadata", '{"project": "p"}', "--key", "cli/any-metadata.bin",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_folders_skip_desktop_junk_and_a_file_given_twice_goes_once(
    stack: LocalStack, home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "shoot"
    first = make_file(folder, "a.jpg", 100)
    make_file(folder / "raw", "b.cr2", 200)
    for junk in (".DS_Store", "._a.jpg", "Thumbs.db", "raw/desktop.ini", ".Trashes/501/old.jpg"):
        make_file(folder, junk, 10)
    result = run_cli(
        home, "upload", str(folder), str(first), "--api", stack.api_url, "--token", stack.token,
        "--key-prefix", "cli/junk", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    keys = [json.loads(line)["key"] for line in result.stdout.splitlines()]
    assert sorted(keys) == ["cli/junk/shoot/a.jpg", "cli/junk/shoot/raw/b.cr2"]


def test_a_symlink_loop_is_named_as_such_and_nothing_starts(
    stack: LocalStack, home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "looped"
    make_file(folder, "a.txt", 10)
    os.symlink(".", folder / "again")
    os.symlink("self", tmp_path / "self")
    result = run_cli(
        home, "upload", str(folder), str(tmp_path / "self"), "--api", stack.api_url, "--token", stack.token
    )
    assert result.returncode == 2
    assert (
        f"{folder / 'again'}: a symbolic link loop (it leads back to {folder}, a folder it is in)."
        in result.stderr
    )
    assert f"{tmp_path / 'self'}: a symbolic link loop (the link leads back to itself)." in result.stderr
    assert "no such file" not in result.stderr
    assert not (home / "data" / "journal.sqlite3").exists()


def test_two_files_with_one_key_are_refused(stack: LocalStack, home: Path, tmp_path: Path) -> None:
    one = make_file(tmp_path / "a" / "photos", "x.jpg", 10)
    make_file(tmp_path / "b" / "photos", "x.jpg", 10)
    result = run_cli(
        home, "upload", str(one.parent), str(tmp_path / "b" / "photos"), "--api", stack.api_url,
        "--token", stack.token,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Several files would get the key photos/x.jpg" in result.stderr
