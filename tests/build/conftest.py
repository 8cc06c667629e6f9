"""Helpers for the packaging tests: the repository's paths and the Linux tarball builder."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "packaging" / "linux"


@pytest.fixture(scope="session")
def make_tarball() -> ModuleType:
    """`packaging/linux/make_tarball.py`, loaded from its path (packaging/ is no Python package)."""
    spec = importlib.util.spec_from_file_location("s3up_make_tarball", LINUX / "make_tarball.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
