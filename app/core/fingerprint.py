"""A cheap identity of a file's content, to tell at resume time whether the file is still the same.

The fingerprint is the SHA-256 (hex) of the size, the first MiB and the last MiB, so it costs at most
2 MiB of reading whatever the file's size. With the size and the modification time it catches the
usual ways a file changes between a pause and a resume; it is not a checksum of the whole content
(the engine checks each part's MD5 against S3's ETag for that).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

SAMPLE_BYTES = 1024 * 1024  # read from the head and from the tail


@dataclass(frozen=True)
class FileIdentity:
    """What the journal remembers of a file: its size, its mtime in nanoseconds and its fingerprint."""

    size: int
    mtime_ns: int
    fingerprint: str


def _fingerprint(path: Path, size: int) -> str:
    """Hash the size, the first MiB and the last MiB (without reading any byte twice)."""
    digest = hashlib.sha256(f"s3up-fp1:{size}:".encode())
    with open(path, "rb") as file:
        digest.update(file.read(min(size, SAMPLE_BYTES)))
        tail_start = max(SAMPLE_BYTES, size - SAMPLE_BYTES)
        if tail_start < size:
            file.seek(tail_start)
            digest.update(file.read(size - tail_start))
    return digest.hexdigest()


def identify(path: Path) -> FileIdentity:
    """Return the identity of the regular file at `path`.

    Raises OSError when the file cannot be read (the caller reports that to the user) and
    IsADirectoryError when `path` is not a regular file.
    """
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise IsADirectoryError(f"{path} is not a regular file")
    return FileIdentity(info.st_size, info.st_mtime_ns, _fingerprint(path, info.st_size))


@dataclass(frozen=True)
class FileProblem:
    """Why a file is no longer the one an upload began with; `message` is a sentence for the user."""

    missing: bool  # deleted, moved, no longer a regular file, or unreadable (rather than changed)
    message: str


def quick_problem(path: Path, expected: FileIdentity) -> FileProblem | None:
    """`file_problem` from one `stat` (missing, not a file, other size or date), without reading the
    file: for listing many uploads at once; their content is checked when they are resumed."""
    return file_problem(path, expected, read=False)


def file_problem(path: Path, expected: FileIdentity, *, read: bool = True) -> FileProblem | None:
    """None when the file at `path` still has the `expected` identity, else what is wrong with it.

    File-system problems never raise; only programming errors do.
    """
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return FileProblem(
            True,
            f"The file no longer exists at {path}; put it back or remove this upload and add the file again.",
        )
    except OSError as error:
        return _unreadable(path, error)
    if not stat.S_ISREG(info.st_mode):
        return FileProblem(
            True,
            f"{path} is no longer a regular file; put the original file back or remove this upload "
            "and add the file again.",
        )
    restart = "remove this upload and add the file again to upload the new version."
    if info.st_size != expected.size:
        return FileProblem(
            False,
            f"The file {path} changed size ({expected.size:,} → {info.st_size:,} bytes) since the upload "
            f"began; {restart}",
        )
    if info.st_mtime_ns != expected.mtime_ns:
        return FileProblem(False, f"The file {path} was modified since the upload began; {restart}")
    if not read:
        return None
    try:
        fingerprint = _fingerprint(path, info.st_size)
    except OSError as error:
        return _unreadable(path, error)
    if fingerprint != expected.fingerprint:
        return FileProblem(False, f"The content of {path} was modified since the upload began; {restart}")
    return None


def _unreadable(path: Path, error: OSError) -> FileProblem:
    if isinstance(error, PermissionError):
        return FileProblem(
            True, f"The file at {path} cannot be read (permission denied); allow reading it, then resume."
        )
    return FileProblem(
        True, f"The file at {path} cannot be read ({error.strerror or error}); fix that, then resume."
    )


def check_unchanged(path: Path, expected: FileIdentity) -> str | None:
    """None when the file at `path` still has the `expected` identity, else a sentence for the user
    that says what happened (deleted or moved, not a file, unreadable, size changed, modified) and
    what to do."""
    problem = file_problem(path, expected)
    return problem.message if problem else None
