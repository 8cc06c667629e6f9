"""Which process is sending an upload: one OS file lock per upload, next to the journal.

The GUI and the CLI share one journal, so both can see the same unfinished upload. Only the process
that holds an upload's lock may send, finalize or abort it. The OS releases the lock when its process
ends, even by `kill -9` or a crash, so a lock is never left behind. The lock file holds the owner's
process id, for the message the other process shows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from pathlib import Path

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
        self._held: dict[int, int] = {}  # upload number -> open file descriptor
        self._lock = threading.Lock()
        self._folder_made = False  # made (and tightened) by this process once

    def acquire(self, upload_ref: int) -> None:
        """Take the upload's lock (a no-op when this process holds it). Raises BusyElsewhereError."""
        with self._lock:
            if upload_ref in self._held:
                return
            try:
                fd = self._open(upload_ref)
            except OSError as error:  # no lock is better than no upload; the journal still works
                log.warning("Cannot lock upload %s (%s); go on without the lock", upload_ref, error)
                return
            if not _try_lock(fd):
                owner = _read_pid(fd)
                os.close(fd)
                raise BusyElsewhereError(upload_ref, owner)
            try:
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, str(os.getpid()).encode())
            except OSError as error:  # e.g. a full disk: the lock holds all the same, only the pid is missing
                log.warning("Cannot write the owner of upload %s's lock (%s)", upload_ref, error)
            self._held[upload_ref] = fd

    def release(self, upload_ref: int, *, finished: bool = False) -> None:
        """Let the upload go. A finished upload's lock file is deleted too, so that the folder does not
        keep one file per upload ever made (nobody sends a finished upload again). Windows refuses to
        delete a file another process has open; then it stays, which is harmless."""
        with self._lock:
            fd = self._held.pop(upload_ref, None)
            if fd is None:
                return
            if finished and sys.platform != "win32":  # POSIX: delete it while still locked
                with contextlib.suppress(OSError):
                    os.unlink(self._path(upload_ref))
            _close(fd)
            if finished and sys.platform == "win32":
                with contextlib.suppress(OSError):
                    os.unlink(self._path(upload_ref))

    def holds(self, upload_ref: int) -> bool:
        with self._lock:
            return upload_ref in self._held

    def release_all(self) -> None:
        with self._lock:
            held, self._held = self._held, {}
            for fd in held.values():
                _close(fd)

    def _open(self, upload_ref: int) -> int:
        """The lock file's descriptor; its folder is made the first time (or again, if it went)."""
        path = self._path(upload_ref)
        if self._folder_made:
            with contextlib.suppress(FileNotFoundError):
                return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        private_dir(self._folder)
        self._folder_made = True
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def _path(self, upload_ref: int) -> str:
        # A string, not a Path: a folder of many files takes and lets go of a lock per file.
        return os.path.join(self._folder, f"upload-{upload_ref}.lock")


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
