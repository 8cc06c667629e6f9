"""Fixtures for the engine's tests: the real local stack, a journal per test, managers that always stop."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from app.core.journal import Journal
from app.core.manager import UploadManager
from app.core.models import MIB, TransferSettings, UploadRequest, UploadState, UploadStatus
from app.core.retry import RetryPolicy
from backend.local import LocalStack
from tests.backend.support import RcloneS3, rclone_serve_s3

METADATA = {"organizationId": "org-7", "objectRecordId": "rec-42"}


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    """One local stack for the engine tests (tests use distinct keys)."""
    with LocalStack(port=0) as local:
        yield local


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.sqlite3") as opened:
        yield opened


@pytest.fixture
def make_file(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str, size: int) -> Path:
        path = tmp_path / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        return path

    return make


@pytest.fixture
def make_manager() -> Iterator[Callable[..., UploadManager]]:
    """Managers made here are shut down after the test, whatever happens in it."""
    made: list[UploadManager] = []

    def make(journal: Journal, token: Callable[[str], str | None] | str, **settings: object) -> UploadManager:
        source = token if callable(token) else (lambda _url: token)
        values: dict[str, object] = {"max_connections": 4, "per_file_connections": 4, "part_size": 5 * MIB}
        values.update(settings)
        fast_retries = RetryPolicy(
            max_attempts=int(values.get("max_attempts", 8)), base_delay=0.05, max_delay=0.5
        )
        manager = UploadManager(journal, source, TransferSettings(**values), retry_policy=fast_retries)  # type: ignore[arg-type]
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.shutdown()


def request(path: Path, api_url: str, key: str, **extra: object) -> UploadRequest:
    return UploadRequest(path=path, api_url=api_url, key=key, metadata=METADATA, **extra)  # type: ignore[arg-type]


def fetch(url: str) -> bytes:
    response = requests.get(url, timeout=30)
    response.raise_for_status()
    return response.content


def wait_for(
    manager: UploadManager, upload_ref: int, states: set[UploadState], timeout: float = 60
) -> UploadStatus:
    """Wait until the upload reaches one of `states` (bounded)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = manager.status(upload_ref)
        if status is not None and status.state in states:
            return status
        time.sleep(0.05)
    raise AssertionError(f"upload {upload_ref} stayed {manager.status(upload_ref)}")


def wait_for_parts(journal: Journal, upload_ref: int, count: int, timeout: float = 30) -> None:
    """Wait until the journal has recorded `count` parts of the upload (bounded)."""
    import time

    deadline = time.monotonic() + timeout
    while len(journal.parts(upload_ref)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} parts recorded in time"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def rclone_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RcloneS3]:
    """`rclone serve s3` on a free 127.0.0.1 port (it checks SigV4 signatures and expiry)."""
    with rclone_serve_s3(tmp_path_factory.mktemp("rclone")) as server:
        yield server
