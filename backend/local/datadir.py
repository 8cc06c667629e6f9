"""The local stack's data folder: its tables, its S3 objects and what it must reuse when restarted.

Layout (folder 0700, files 0600): `tables.sqlite3` (uploads and tokens), `s3/` (the embedded S3
server's objects and parts), `stack.json` (the ports, the S3 key pair and the stack's own token,
so that links, presigned URLs and the token printed last time keep working) and `lock`, held
while a stack runs on the folder so that two stacks never share one.
An ephemeral folder is a new temporary folder, deleted when the stack stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import platformdirs

APP_NAME = "s3up"
HOME_ENV = "S3UP_HOME"  # as app/core/paths.py: everything under one folder (tests, portable use)
STATE_VERSION = 1


class DataDirError(RuntimeError):
    """The data folder cannot be used; the message says why and what to do."""


class DataDirInUseError(DataDirError):
    """Another local API runs on the data folder (`path`)."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


def default_data_dir(name: str = "local-api") -> Path:
    """`<user data folder>/s3up/<name>` (or `$S3UP_HOME/data/<name>`), not created here."""
    home = os.environ.get(HOME_ENV, "").strip()
    if home:
        return Path(home).expanduser() / "data" / name
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / name


@dataclass
class StackState:
    """What a restarted stack reuses."""

    api_port: int | None = None
    s3_port: int | None = None
    s3_access_key: str = ""
    s3_secret_key: str = ""
    token: str | None = None
    version: int = STATE_VERSION


def _lock(handle: IO[bytes]) -> bool:
    """Take an exclusive, non-blocking OS lock on the open file; False when another process holds it."""
    try:
        import fcntl

        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True


class DataDir:
    """An opened data folder (locked until `close`)."""

    def __init__(self, path: Path | None) -> None:
        """`path=None`: a new temporary folder, deleted on `close`."""
        self.ephemeral = path is None
        self.path = Path(tempfile.mkdtemp(prefix="s3up-local-")) if path is None else Path(path).expanduser()
        self._lock_file: IO[bytes] | None = None
        self.state = StackState()

    @property
    def tables_path(self) -> Path:
        return self.path / "tables.sqlite3"

    @property
    def s3_root(self) -> Path:
        return self.path / "s3"

    @property
    def _state_path(self) -> Path:
        return self.path / "stack.json"

    def open(self) -> DataDir:
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.path, 0o700)
            handle = open(self.path / "lock", "a+b")  # noqa: SIM115 (held until close)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise DataDirError(f"The local API cannot use the data folder {self.path}: {reason}.") from exc
        os.chmod(handle.name, 0o600)
        if not _lock(handle):
            handle.close()
            raise DataDirInUseError(
                f"Another local API is already running on the data folder {self.path}: stop it first, "
                "or give this one another folder (--data-dir) or none (--ephemeral).",
                self.path,
            )
        self._lock_file = handle
        self.state = self._load_state()
        if not self.state.s3_access_key:
            self.state.s3_access_key = "S3UPLOCAL" + secrets.token_hex(6).upper()
            self.state.s3_secret_key = secrets.token_urlsafe(30)
            self.save()
        return self

    def _load_state(self) -> StackState:
        try:
            raw: Any = json.loads(self._state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return StackState()
        except (OSError, ValueError) as exc:
            raise DataDirError(
                f"The local API's settings file {self._state_path} is unreadable ({exc}); "
                "move it away to start afresh (the stack's S3 key and token then change)."
            ) from exc
        if not isinstance(raw, dict):
            raw = {}
        return StackState(**{name: raw[name] for name in StackState.__dataclass_fields__ if name in raw})

    def save(self) -> None:
        """Write `state` atomically, readable by the owner only."""
        temporary = self._state_path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(self.state), out, indent=2)
        os.replace(temporary, self._state_path)

    def close(self) -> None:
        """Let go of the folder (deleting it when ephemeral). Idempotent."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        if self.ephemeral and self.path.exists():
            with contextlib.suppress(OSError):
                shutil.rmtree(self.path)
