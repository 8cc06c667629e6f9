from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import Any

import pytest

from app.core import fingerprint
from app.core.fingerprint import SAMPLE_BYTES, FileIdentity, check_unchanged, identify


def write(path: Path, size: int, seed: int = 1) -> Path:
    block = bytes((seed + i) % 251 for i in range(4096))
    path.write_bytes((block * (size // len(block) + 1))[:size])
    return path


def test_identity_is_size_mtime_and_a_stable_fingerprint(tmp_path: Path) -> None:
    path = write(tmp_path / "a.bin", 3 * SAMPLE_BYTES + 17)
    identity = identify(path)
    assert identity.size == 3 * SAMPLE_BYTES + 17
    assert identity.mtime_ns == os.stat(path).st_mtime_ns
    assert len(identity.fingerprint) == 64
    assert identify(path) == identity
    assert identify(write(tmp_path / "b.bin", 3 * SAMPLE_BYTES + 17)).fingerprint == identity.fingerprint


@pytest.mark.parametrize(
    "size", [0, 1, SAMPLE_BYTES - 1, SAMPLE_BYTES, SAMPLE_BYTES + 1, 2 * SAMPLE_BYTES + 5]
)
def test_small_and_boundary_sizes(tmp_path: Path, size: int) -> None:
    identity = identify(write(tmp_path / "f", size))
    other = identify(write(tmp_path / "g", size, seed=2))
    assert identity.size == other.size == size
    # Different content of the same size differs (an empty file has no content to differ).
    assert (other.fingerprint == identity.fingerprint) == (size == 0)


def test_reads_at_most_two_mib_whatever_the_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "sparse.bin"
    with path.open("wb") as file:
        file.truncate(10 * 1024**3)  # 10 GiB, sparse
    read = 0
    real_open = builtins.open

    class Counting:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def read(self, n: int) -> bytes:
            nonlocal read
            data = self.handle.read(n)
            read += len(data)
            return data

        def seek(self, offset: int) -> int:
            return self.handle.seek(offset)

    monkeypatch.setattr(fingerprint, "open", lambda *a, **k: Counting(real_open(*a, **k)), raising=False)
    assert identify(path).size == 10 * 1024**3
    assert read == 2 * SAMPLE_BYTES


def test_unchanged_file_passes(tmp_path: Path) -> None:
    path = write(tmp_path / "a.bin", 5000)
    assert check_unchanged(path, identify(path)) is None


def test_deleted_or_moved(tmp_path: Path) -> None:
    path = write(tmp_path / "a.bin", 5000)
    identity = identify(path)
    path.rename(tmp_path / "moved.bin")
    message = check_unchanged(path, identity)
    assert message is not None
    assert "no longer exists at" in message
    assert str(path) in message
    assert "remove this upload and add the file again" in message


def test_not_a_regular_file(tmp_path: Path) -> None:
    path = write(tmp_path / "a.bin", 10)
    identity = identify(path)
    path.unlink()
    path.mkdir()
    assert "no longer a regular file" in (check_unchanged(path, identity) or "")
    with pytest.raises(IsADirectoryError):
        identify(path)


def test_size_changed(tmp_path: Path) -> None:
    path = write(tmp_path / "a.bin", 5000)
    identity = identify(path)
    with path.open("ab") as file:
        file.write(b"more")
    message = check_unchanged(path, identity) or ""
    assert "changed size" in message
    assert "5,000 → 5,004" in message


def test_modified_time(tmp_path: Path) -> None:
    path = write(tmp_path / "a.bin", 5000)
    identity = identify(path)
    os.utime(path, ns=(identity.mtime_ns, identity.mtime_ns + 1_000_000_000))
    assert "was modified" in (check_unchanged(path, identity) or "")


def test_modified_content_with_same_size_and_mtime(tmp_path: Path) -> None:
    path = write(tmp_path / "a.bin", 3 * SAMPLE_BYTES)
    identity = identify(path)
    with path.open("r+b") as file:
        file.seek(3 * SAMPLE_BYTES - 10)  # in the last MiB
        file.write(b"X" * 10)
    os.utime(path, ns=(identity.mtime_ns, identity.mtime_ns))
    assert "content of" in (check_unchanged(path, identity) or "")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "a.bin", 5000)
    identity = identify(path)

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fingerprint, "open", denied, raising=False)
    assert "permission denied" in (check_unchanged(path, identity) or "")
    monkeypatch.setattr(fingerprint.os, "stat", denied)
    assert "permission denied" in (check_unchanged(path, identity) or "")


def test_other_os_errors_are_sentences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fingerprint.os, "stat", broken)
    message = check_unchanged(tmp_path / "x", FileIdentity(1, 1, "f"))
    assert message is not None
    assert "Input/output error" in message
