"""A stand-in for `UploadManager` with the same public surface, driven by the test instead of threads."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from app.core.commands import Command, CommandResult
from app.core.errors import InvalidRequestError, UploadError
from app.core.models import AddResult, TransferSettings, UploadRequest, UploadState, UploadStatus
from app.core.remote import RemoteUnfinished


class FakeManager:
    """Records every call; `push(status)` plays the engine reporting a change (from any thread)."""

    def __init__(self, restored: list[UploadStatus] | None = None, history: list[UploadStatus] | None = None):
        self.calls: list[tuple[str, object]] = []
        self.requests: list[UploadRequest] = []
        self.refuse: set[str] = set()  # file names add_many refuses
        self._restored = restored or []
        self._history = history or []
        self._subscribers: list[Callable[[UploadStatus], None]] = []
        self._statuses: dict[int, UploadStatus] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.shut_down = False
        self.remote: list[RemoteUnfinished] = []  # what remote_uploads answers
        self.remote_error: UploadError | None = None  # raised by remote_uploads instead
        self.remote_gate = threading.Event()  # remote_uploads waits for it (set: answers at once)
        self.remote_gate.set()

    def subscribe(self, callback: Callable[[UploadStatus], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def push(self, status: UploadStatus) -> None:
        with self._lock:
            self._statuses[status.id] = status
        for callback in list(self._subscribers):
            callback(status)

    def set_state(self, upload_id: int, state: UploadState, **changes: object) -> UploadStatus:
        status = replace(self._statuses[upload_id], state=state, **changes)  # type: ignore[arg-type]
        self.push(status)
        return status

    def add_many(self, requests: list[UploadRequest]) -> AddResult:
        """Like the manager's: every request is queued or refused; one call is one entry in `calls`."""
        self.calls.append(("add_many", len(requests)))
        added: list[UploadStatus] = []
        refused: list[tuple[UploadRequest, UploadError]] = []
        for request in requests:
            if request.path.name in self.refuse:
                error = InvalidRequestError(f"{request.path.name} cannot be read (permission denied).")
                refused.append((request, error))
                continue
            self.requests.append(request)
            status = UploadStatus(
                id=next(self._ids),
                path=request.path,
                key=request.key,
                api_url=request.api_url,
                size=request.path.stat().st_size,
                bytes_done=0,
                state=UploadState.QUEUED,
            )
            with self._lock:
                self._statuses[status.id] = status
            added.append(status)
        return AddResult(added, refused)

    def _command(self, name: str, upload_id: int) -> None:
        self.calls.append((name, upload_id))

    def pause(self, upload_id: int) -> None:
        self._command("pause", upload_id)
        self.set_state(upload_id, UploadState.PAUSED)

    def resume(self, upload_id: int) -> None:
        self._command("resume", upload_id)
        self.set_state(upload_id, UploadState.QUEUED)

    def cancel(self, upload_id: int) -> None:
        self._command("cancel", upload_id)
        self.set_state(upload_id, UploadState.CANCELLED)

    def retry(self, upload_id: int) -> None:
        self._command("retry", upload_id)

    def remove(self, upload_id: int) -> None:
        self._command("remove", upload_id)

    def execute(self, command: Command) -> CommandResult:
        method = getattr(self, command.action.value)
        done, refused = [], []
        for upload_id in command.upload_ids:
            try:
                method(upload_id)
            except UploadError as error:
                refused.append((upload_id, error))
            else:
                done.append(upload_id)
        return CommandResult(tuple(done), tuple(refused))

    def resolve_conflict(
        self, upload_id: int, *, overwrite: bool = False, new_key: str | None = None
    ) -> None:
        self.calls.append(("resolve_conflict", (upload_id, overwrite, new_key)))
        changes: dict[str, object] = {"key": new_key} if new_key else {}
        self.set_state(upload_id, UploadState.QUEUED, message=None, **changes)

    def pause_all(self) -> None:
        self.calls.append(("pause_all", None))

    def resume_all(self) -> None:
        self.calls.append(("resume_all", None))

    def statuses(self) -> list[UploadStatus]:
        with self._lock:
            return list(self._statuses.values())

    def restore(self) -> list[UploadStatus]:
        for status in self._restored:
            self._statuses[status.id] = status
        return list(self._restored)

    def history(self, limit: int = 500) -> list[UploadStatus]:
        return self._history[:limit]

    def credentials_changed(self, api_url: str) -> None:
        self.calls.append(("credentials_changed", api_url))

    def update_settings(self, settings: TransferSettings) -> None:
        self.calls.append(("update_settings", settings))

    def remote_uploads(self, api_url: str) -> list[RemoteUnfinished]:
        self.calls.append(("remote_uploads", api_url))
        assert self.remote_gate.wait(10)
        if self.remote_error is not None:
            raise self.remote_error
        return list(self.remote)

    def adopt_remote(self, api_url: str, file_id: str, path: Path) -> UploadStatus:
        self.calls.append(("adopt_remote", (file_id, path)))
        raise InvalidRequestError(f"{path.name} is not the file this upload was started with.")

    def abort_remote(self, api_url: str, file_id: str) -> None:
        self.calls.append(("abort_remote", file_id))
        self.remote = [upload for upload in self.remote if upload.file_id != file_id]

    def shutdown(self, timeout: float = 5.0) -> None:
        self.shut_down = True
