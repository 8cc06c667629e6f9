"""Which process is sending an upload: an OS lock per upload, next to the journal.

The GUI and the CLI share one journal, so both can see the same unfinished upload. Only the process
that holds an upload's lock may send, finalize or abort it. The OS releases the lock when its process
ends, even by `kill -9` or a crash, so a lock is never left behind. Beside the lock lies the owner's
process id, for the message the other process shows.

On Linux every upload's lock is a range of one shared file (`uploads.lock`): 8 bytes at 8 × the upload's
number, locked with an open-file-description lock and holding the owner's process id. Elsewhere (and on
a file system without such locks) each upload has a lock file of its own. One file matters for folders:
creating a file costs 0.7–0.8 ms of CPU on some disks (12 µs on tmpfs), which was most of the time it
took to add a folder of 10,000 files. An s3up from before the shared file locks `upload-N.lock` files
on Linux too, so the shared store honours such a file while an older process holds it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from app.core.errors import UploadError
from app.core.paths import private_dir

log = logging.getLogger(__name__)

if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)  # msvcrt locks bytes from the current position
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class BusyElsewhereError(UploadError):
    """Another s3up process (the app or a command) is sending this upload."""

    def __init__(self, upload_ref: int, owner_pid: int | None) -> None:
        who = f"another s3up process (process {owner_pid})" if owner_pid else "another s3up process"
        super().__init__(
            f"Upload {upload_ref} is being sent by {who}. Pause it there, or let it finish, "
            "before you resume or cancel it here."
        )
        self.owner_pid = owner_pid


class UploadLocks:
    """The locks this process holds, by upload number. Thread-safe."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._store: _LockStore | None = None  # opened at the first lock taken

    def acquire(self, upload_ref: int) -> None:
        """Take the upload's lock (a no-op when this process holds it). Raises BusyElsewhereError."""
        with self._lock:
            if upload_ref in self._held:
                return
            try:
                if self._store is None:
                    self._store = _open_store(self._folder)
                self._store.take(upload_ref)
            except OSError as error:  # no lock is better than no upload; the journal still works
                log.warning("Cannot lock upload %s (%s); go on without the lock", upload_ref, error)
                return
            self._held.add(upload_ref)

    def release(self, upload_ref: int, *, finished: bool = False) -> None:
        """Let the upload go (`finished`: nobody will send it again, so its lock file may go too)."""
        with self._lock:
            if upload_ref not in self._held:
                return
            self._held.remove(upload_ref)
            assert self._store is not None
            with contextlib.suppress(OSError):
                self._store.release(upload_ref, finished=finished)

    def holds(self, upload_ref: int) -> bool:
        with self._lock:
            return upload_ref in self._held

    def release_all(self) -> None:
        with self._lock:
            self._held.clear()
            if self._store is not None:
                self._store.close()
                self._store = None


class _LockStore(Protocol):
    def take(self, upload_ref: int) -> None:
        """Lock the upload. Raises BusyElsewhereError when another holder has it, OSError when the
        lock cannot be taken at all."""

    def release(self, upload_ref: int, *, finished: bool) -> None: ...

    def close(self) -> None:
        """Let go of every lock taken."""


def _open_store(folder: Path) -> _LockStore:
    private_dir(folder)
    if _SharedFile.usable():
        shared = _SharedFile.open(folder)
        if shared is not None:
            return shared
    return _FilePerUpload(folder)


class _SharedFile:
    """Linux: one file, 8 bytes per upload at 8 × its number, each range locked with an open-file-
    description lock (released when this file is closed, by this process or by its end; two opens in
    one process conflict as two processes do) and holding the owner's process id."""

    RECORD = 8
    _FLOCK = "hhqqi4x"  # struct flock: l_type, l_whence, l_start, l_len, l_pid (0 for these locks)

    def __init__(self, folder: Path, fd: int) -> None:
        self._folder = folder
        self._fd = fd

    @staticmethod
    def usable() -> bool:
        return (
            sys.platform == "linux"
            and hasattr(fcntl, "F_OFD_SETLK")
            and struct.calcsize(_SharedFile._FLOCK) == 32  # the layout of 64-bit Linux
        )

    @classmethod
    def open(cls, folder: Path) -> _SharedFile | None:
        """The shared file, or None when its file system has no such locks."""
        fd = os.open(folder / "uploads.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_GETLK, struct.pack(cls._FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 1, 0))
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EINVAL, errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP):
                return None
            raise
        return cls(folder, fd)

    def take(self, upload_ref: int) -> None:
        offset = upload_ref * self.RECORD
        if not self._set(fcntl.F_WRLCK, offset):
            raise BusyElsewhereError(upload_ref, self._owner(offset))
        try:
            _claim_older_lock_file(self._folder, upload_ref)
        except BaseException:  # busy there, or interrupted: the range must not stay taken
            with contextlib.suppress(OSError):
                self._set(fcntl.F_UNLCK, offset)
            raise
        _write_owner(upload_ref, lambda: os.pwrite(self._fd, struct.pack("<q", os.getpid()), offset))

    def release(self, upload_ref: int, *, finished: bool) -> None:
        self._set(fcntl.F_UNLCK, upload_ref * self.RECORD)

    def close(self) -> None:
        os.close(self._fd)

    def _set(self, kind: int, offset: int) -> bool:
        request = struct.pack(self._FLOCK, kind, os.SEEK_SET, offset, self.RECORD, 0)
        try:
            fcntl.fcntl(self._fd, fcntl.F_OFD_SETLK, request)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    def _owner(self, offset: int) -> int | None:
        with contextlib.suppress(OSError, struct.error):
            return struct.unpack("<q", os.pread(self._fd, self.RECORD, offset))[0] or None
        return None


class _FilePerUpload:
    """A lock file per upload (`upload-N.lock`) holding its owner's process id: macOS, Windows, and file
    systems without open-file-description locks."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._fds: dict[int, int] = {}  # upload number -> open file descriptor

    def take(self, upload_ref: int) -> None:
        fd = self._open(upload_ref)
        if not _try_lock(fd):
            owner = _read_pid(fd)
            os.close(fd)
            raise BusyElsewhereError(upload_ref, owner)

        def write() -> None:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, str(os.getpid()).encode())

        _write_owner(upload_ref, write)
        self._fds[upload_ref] = fd

    def release(self, upload_ref: int, *, finished: bool) -> None:
        """A finished upload's lock file is deleted too, so that the folder does not keep one file per
        upload ever made. Windows refuses to delete a file another process has open; then it stays,
        which is harmless."""
        fd = self._fds.pop(upload_ref, None)
        if fd is None:
            return
        if finished and sys.platform != "win32":  # POSIX: delete it while still locked
            with contextlib.suppress(OSError):
                os.unlink(self._path(upload_ref))
        _close(fd)
        if finished and sys.platform == "win32":
            with contextlib.suppress(OSError):
                os.unlink(self._path(upload_ref))

    def close(self) -> None:
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            _close(fd)

    def _open(self, upload_ref: int) -> int:
        """The lock file's descriptor; its folder is made again if it went."""
        path = self._path(upload_ref)
        with contextlib.suppress(FileNotFoundError):
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        private_dir(self._folder)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def _path(self, upload_ref: int) -> str:
        return _lock_file_path(self._folder, upload_ref)


def _lock_file_path(folder: Path, upload_ref: int) -> str:
    # A string, not a Path: a folder of many files takes and lets go of a lock per file.
    return os.path.join(folder, f"upload-{upload_ref}.lock")


def _claim_older_lock_file(folder: Path, upload_ref: int) -> None:
    """The upload's lock file of an s3up from before the shared file: while an older process holds it,
    the upload is busy (BusyElsewhereError); otherwise it is a leftover and goes. Checking costs about
    8 µs per upload (10,000 files: 0.08 s).

    This protects one way only: an older s3up that starts an upload after this process took it makes
    a new lock file and never looks at the shared one. Running two versions on one journal at once is
    only safe from the newer side."""
    path = _lock_file_path(folder, upload_ref)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # the usual case: no older s3up ever locked this upload
        return
    except OSError as error:
        log.warning("Cannot look at upload %s's older lock file (%s); go on without it", upload_ref, error)
        return
    try:
        if not _try_lock(fd):
            raise BusyElsewhereError(upload_ref, _read_pid(fd))
        with contextlib.suppress(OSError):
            os.unlink(path)  # while locked, as the older code deleted it
    finally:
        _close(fd)


def _write_owner(upload_ref: int, write: Callable[[], object]) -> None:
    """Write this process's id beside the lock just taken, for the message another process shows."""
    try:
        write()
    except OSError as error:  # e.g. a full disk: the lock holds all the same, only the pid is missing
        log.warning("Cannot write the owner of upload %s's lock (%s)", upload_ref, error)


def _close(fd: int) -> None:
    """Unlock first: on Windows, closing alone may free the lock only some time later."""
    with contextlib.suppress(OSError):
        _unlock(fd)
    os.close(fd)


def _read_pid(fd: int) -> int | None:
    """The owner's process id, when the system lets us read it (Windows does not, past a lock)."""
    with contextlib.suppress(OSError, ValueError):
        os.lseek(fd, 0, os.SEEK_SET)
        return int(os.read(fd, 32).decode().strip() or 0) or None
    return None
