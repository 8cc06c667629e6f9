"""A process killed at each boundary of an upload, then resumed by another: the upload ends done, the
object is the file byte for byte, and no multipart upload is left behind on the server.

The kill is real (`os._exit` in a child process, as kill -9 leaves it: no clean-up runs), placed by
patching the boundary rather than by a timer, so every run kills at the same moment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.journal import Journal
from app.core.manager import UploadManager
from app.core.models import MIB, UploadState
from backend.local import LocalStack
from tests.core.conftest import fetch, wait_for
from tests.core.crash_child import KILLED

MakeManager = Callable[..., UploadManager]
MakeFile = Callable[[str, int], Path]
ROOT = Path(__file__).resolve().parents[2]
ENDED = {UploadState.DONE, UploadState.FAILED, UploadState.CONFLICT, UploadState.FILE_CHANGED}


@pytest.fixture(scope="module")
def api() -> Iterator[LocalStack]:
    with LocalStack(port=0) as local:
        yield local


@pytest.fixture(scope="module")
def legacy() -> Iterator[LocalStack]:
    """The existing deployment: core routes, and a /finalize that fails for an upload S3 completed
    already (its handler calls CompleteMultipartUpload again, which S3 refuses)."""
    with LocalStack(port=0, core_only=True) as local:
        finalize = local.routes["/finalize"]
        completed: set[str] = set()

        def once(event: dict[str, Any], context: Any) -> dict[str, Any]:
            file_id = json.loads(event.get("body") or "{}").get("fileId")
            if file_id in completed:
                return {"statusCode": 502, "body": '{"message": "Internal server error"}', "headers": {}}
            answer = finalize(event, context)
            if answer["statusCode"] == 200:
                completed.add(file_id)
            return answer

        local.routes["/finalize"] = once
        yield local


def crash(journal: Path, local: LocalStack, path: Path, key: str, boundary: str, part: int = 0) -> None:
    """Upload in a child process that dies at `boundary`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "S3UP_TEST_CDN": local.cdn_base_url}
    command = [sys.executable, "-m", "tests.core.crash_child", str(journal), local.api_url, local.token]
    command += [str(path), key, boundary, str(part)]
    child = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == KILLED, f"the child never reached {boundary}: {child.stderr[-2000:]}"


def resume_after_crash(journal_path: Path, local: LocalStack, make_manager: MakeManager) -> tuple[Any, Any]:
    journal = Journal(journal_path)
    manager = make_manager(journal, local.token)
    (restored,) = manager.restore()
    assert restored.state is UploadState.PAUSED
    manager.resume(restored.id)
    return wait_for(manager, restored.id, ENDED, timeout=90), journal


def orphans(local: LocalStack, key: str) -> list[Any]:
    return local.s3.list_multipart_uploads(Bucket=local.bucket, Prefix=key).get("Uploads", [])


@pytest.mark.parametrize(
    ("boundary", "part"),
    [("create", 0), ("part", 1), ("part", 2), ("part", 3), ("complete", 0), ("finish-record", 0)],
)
def test_a_kill_at_any_boundary_is_repaired_by_resume(
    api: LocalStack, make_manager: MakeManager, make_file: MakeFile, tmp_path: Path, boundary: str, part: int
) -> None:
    path = make_file(f"crash-{boundary}-{part}.bin", 12 * MIB + 77)  # 3 parts of 5 MiB
    key = f"crash/{boundary}-{part}.bin"
    crash(tmp_path / "journal.sqlite3", api, path, key, boundary, part)
    status, journal = resume_after_crash(tmp_path / "journal.sqlite3", api, make_manager)
    try:
        assert status.state is UploadState.DONE, status.message
        assert status.link_verified is True
        assert status.url == f"{api.cdn_base_url}/{key}"
        assert fetch(status.url) == path.read_bytes()
        assert orphans(api, key) == [], "a multipart upload was left behind"
        assert journal.get(status.id).state is UploadState.DONE  # type: ignore[union-attr]
    finally:
        journal.close()


@pytest.mark.parametrize("boundary", ["complete", "finish-record"])
def test_on_the_existing_deployment_a_completed_upload_is_found_and_finished(
    legacy: LocalStack, make_manager: MakeManager, make_file: MakeFile, tmp_path: Path, boundary: str
) -> None:
    path = make_file(f"legacy-{boundary}.bin", 11 * MIB)
    key = f"legacy-crash/{boundary}.bin"
    crash(tmp_path / "journal.sqlite3", legacy, path, key, boundary)
    status, journal = resume_after_crash(tmp_path / "journal.sqlite3", legacy, make_manager)
    try:
        assert status.state is UploadState.DONE, status.message
        assert status.link_verified is True
        assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]
        assert orphans(legacy, key) == []
    finally:
        journal.close()


def test_a_kill_after_some_parts_on_the_existing_deployment_resumes(
    legacy: LocalStack, make_manager: MakeManager, make_file: MakeFile, tmp_path: Path
) -> None:
    path = make_file("legacy-part.bin", 16 * MIB)
    key = "legacy-crash/part.bin"
    crash(tmp_path / "journal.sqlite3", legacy, path, key, "part", 2)
    status, journal = resume_after_crash(tmp_path / "journal.sqlite3", legacy, make_manager)
    try:
        assert status.state is UploadState.DONE, status.message
        assert fetch(status.url) == path.read_bytes()  # type: ignore[arg-type]
        assert orphans(legacy, key) == []
    finally:
        journal.close()
