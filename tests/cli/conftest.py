"""Fixtures for the command line's tests: the real local stack and a fresh S3UP_HOME per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.local import LocalStack


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(port=0) as local:
        yield local


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "s3up-home"
    path.mkdir()
    return path
