"""What the app and its engine process say to each other over their pipe (`engine_process`, `engine_host`).

The app asks with a `Call` (one `EngineControls` method, by name, with its arguments) and gets a `Reply`
(after `ReplyPart`s, for a long list) or a `Failure` with the same id. The engine sends the uploads'
newest `Statuses` in batches and asks the app for tokens (`TokenQuestion` → `TokenAnswer`): the token
stays in the app's keyring and memory and crosses the pipe, never a file. Every message is pickled by
`multiprocessing.connection`.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from app.core.commands import Command, CommandResult
from app.core.errors import UploadError
from app.core.models import AddResult, TransferSettings, UploadRequest, UploadStatus
from app.core.remote import RemoteUnfinished

Subscriber = Callable[[UploadStatus], None]


class EngineControls(Protocol):
    """What the desktop app asks of the engine: `UploadManager` in the same process, or `EngineProcess`
    for one running in a process of its own. Each method may block; call them off the GUI thread."""

    def add_many(self, requests: Sequence[UploadRequest]) -> AddResult: ...
    def restore(self) -> list[UploadStatus]: ...
    def history(self, limit: int = 500) -> list[UploadStatus]: ...
    def execute(self, command: Command) -> CommandResult: ...
    def resolve_conflict(
        self, upload_id: int, *, overwrite: bool = False, new_key: str | None = None
    ) -> None: ...
    def remote_uploads(self, api_url: str) -> list[RemoteUnfinished]: ...
    def adopt_remote(self, api_url: str, file_id: str, path: Path) -> UploadStatus: ...
    def abort_remote(self, api_url: str, file_id: str) -> None: ...
    def pause_all(self) -> None: ...
    def resume_all(self) -> None: ...
    def credentials_changed(self, api_url: str) -> None: ...
    def update_settings(self, settings: TransferSettings) -> None: ...
    def subscribe(self, callback: Subscriber) -> Callable[[], None]: ...
    def shutdown(self, timeout: float = 5.0) -> None: ...


# The methods a `Call` may name: every control but the two the app's side answers itself.
REMOTE_CALLS = frozenset(
    {
        "add_many",
        "restore",
        "history",
        "execute",
        "resolve_conflict",
        "remote_uploads",
        "adopt_remote",
        "abort_remote",
        "pause_all",
        "resume_all",
        "credentials_changed",
        "update_settings",
    }
)


@dataclass(frozen=True)
class Call:
    id: int
    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    id: int
    value: Any


@dataclass(frozen=True)
class ReplyPart:
    """The next items of a long list answer (`restore`, `history`); the `Reply` with the same id ends it.
    The app unpickles each message in one go while holding its interpreter lock: 10,000 statuses in one
    message took 108 ms."""

    id: int
    items: list[Any]


@dataclass(frozen=True)
class Failure:
    """The call raised: an `UploadError` (its sentence for the user), or another error's description."""

    id: int
    error: UploadError | None
    description: str = ""


@dataclass(frozen=True)
class Statuses:
    statuses: list[UploadStatus]


@dataclass(frozen=True)
class TokenQuestion:
    id: int
    api_url: str


@dataclass(frozen=True)
class TokenAnswer:
    id: int
    token: str | None


@dataclass(frozen=True)
class Ready:
    """The engine has opened the journal and takes calls (id 0's `Failure` says why it could not)."""


@dataclass(frozen=True)
class Stop:
    """Shut the engine down (running uploads stay resumable) and end the process."""

    timeout: float


class SharedPipe:
    """One end of the pipe, shared by the threads that send on it (a message is never interleaved)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._lock = threading.Lock()

    def send(self, message: object) -> bool:
        """False when the other side has gone (the pipe is closed); pickling errors are raised."""
        with self._lock:
            try:
                self.connection.send(message)
            except (OSError, EOFError, ValueError):
                return False
        return True


STARTUP_ID = 0  # the id of the `Failure` sent when the engine cannot start
STOPPED_ID = -1  # the id of the `Reply` sent once the engine has stopped and closed the journal
ITEMS_PER_MESSAGE = 200  # statuses per message, in status batches and long answers alike


def portable(error: UploadError) -> UploadError:
    """`error` itself when it survives pickling, else a plain `UploadError` with the same sentence and
    flags (an error class whose constructor takes other arguments cannot be rebuilt on the other side)."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        plain = UploadError(error.message, status=error.status, server_message=error.server_message)
        plain.transient = error.transient
        plain.needs_sign_in = error.needs_sign_in
        return plain
    return error


def portable_value(value: Any) -> Any:
    """A call's result with the `UploadError`s inside it (refused files, refused uploads) made portable."""
    if isinstance(value, AddResult):
        return AddResult(value.added, [(request, portable(error)) for request, error in value.refused])
    if isinstance(value, CommandResult):
        return CommandResult(value.done, tuple((ref, portable(error)) for ref, error in value.refused))
    return value
