"""The engine in a process of its own, seen from the app: `EngineProcess` has `UploadManager`'s controls
(`engine_wire.EngineControls`) and forwards each one over a pipe to `engine_host.host_engine`.

Why: the upload threads and the window's thread share one interpreter lock in one process. With 10,000
small files in flight, each paint of the table waited for that lock and the event loop stalled for
100-140 ms. In its own process the engine keeps the uploads, the journal and the network; the app keeps
the keyring, and answers the engine's token questions.

If the engine process dies, every call waiting for it and every later one raises `EngineStoppedError`
(a sentence for the user); the journal keeps what was sent, so the next start resumes.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from app.core.commands import Command, CommandResult
from app.core.core import TokenSource
from app.core.engine_host import host_engine
from app.core.engine_wire import (
    STARTUP_ID,
    Call,
    Failure,
    Ready,
    Reply,
    Statuses,
    Stop,
    Subscriber,
    TokenAnswer,
    TokenQuestion,
)
from app.core.errors import UploadError
from app.core.models import AddResult, TransferSettings, UploadRequest, UploadStatus
from app.core.remote import RemoteUnfinished

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # a cold start on a slow disk; a journal that cannot be opened answers at once
STOP_GRACE = 5.0  # beyond the engine's own shutdown time, before the process is killed


class EngineStoppedError(UploadError):
    """The engine process is gone (it crashed, or was killed)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "The upload engine stopped unexpectedly. Quit s3up and start it again: your uploads "
            "resume where they stopped (the log folder has the details)."
        )


class EngineProcess:
    """The app's handle on an engine running in a child process. Thread-safe; every call blocks until the
    engine answers, so call them off the GUI thread (as `UploadManager`'s)."""

    def __init__(
        self,
        token_source: TokenSource,
        settings: TransferSettings,
        *,
        journal_path: Path | None = None,
        log_folder: Path | None = None,
    ) -> None:
        """Start the engine process and wait until it has opened the journal.

        Raises the engine's `JournalError` (or another `UploadError`) when it cannot start.
        """
        self._token_source = token_source
        self._subscribers: list[Subscriber] = []
        self._on_stopped: list[Callable[[EngineStoppedError], None]] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._waiting: dict[int, Future[Any]] = {}
        self._ids = itertools.count(STARTUP_ID + 1)
        self._stopping = False
        self._gone = False
        # Token questions may wait on a keyring: answered beside the reader, so statuses keep flowing.
        self._keyring = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3up-engine-token")
        context = multiprocessing.get_context("spawn")  # no fork: the app has Qt and threads running
        self._pipe, child_end = context.Pipe(duplex=True)
        self._process = context.Process(
            target=host_engine,
            args=(child_end, settings, journal_path, log_folder),
            name="s3up-engine",
            daemon=True,
        )
        started: Future[Any] = Future()
        self._waiting[STARTUP_ID] = started
        self._process.start()
        child_end.close()
        self._reader = threading.Thread(target=self._read, name="s3up-engine-reader", daemon=True)
        self._reader.start()
        try:
            started.result(START_TIMEOUT)
        except BaseException:
            self._end_process(0.0)
            raise

    @property
    def pid(self) -> int | None:
        return self._process.pid

    # --- the controls -------------------------------------------------------------------------------

    def add_many(self, requests: Sequence[UploadRequest]) -> AddResult:
        return self._call("add_many", list(requests))

    def restore(self) -> list[UploadStatus]:
        return self._call("restore")

    def history(self, limit: int = 500) -> list[UploadStatus]:
        return self._call("history", limit)

    def execute(self, command: Command) -> CommandResult:
        return self._call("execute", command)

    def resolve_conflict(
        self, upload_id: int, *, overwrite: bool = False, new_key: str | None = None
    ) -> None:
        self._call("resolve_conflict", upload_id, overwrite=overwrite, new_key=new_key)

    def remote_uploads(self, api_url: str) -> list[RemoteUnfinished]:
        return self._call("remote_uploads", api_url)

    def adopt_remote(self, api_url: str, file_id: str, path: Path) -> UploadStatus:
        return self._call("adopt_remote", api_url, file_id, path)

    def abort_remote(self, api_url: str, file_id: str) -> None:
        self._call("abort_remote", api_url, file_id)

    def pause_all(self) -> None:
        self._call("pause_all")

    def resume_all(self) -> None:
        self._call("resume_all")

    def credentials_changed(self, api_url: str) -> None:
        self._call("credentials_changed", api_url)

    def update_settings(self, settings: TransferSettings) -> None:
        self._call("update_settings", settings)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(status)` for every status the engine reports (on the reader thread)."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def when_stopped(self, callback: Callable[[EngineStoppedError], None]) -> None:
        """Call `callback(error)` (on the reader thread) if the engine process ends without being asked."""
        with self._lock:
            self._on_stopped.append(callback)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the engine (running uploads stay resumable), wait for it to close the journal and end the
        process. Idempotent."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            stopped: Future[Any] = Future()
            self._waiting[STARTUP_ID] = stopped
        if self._send(Stop(timeout)):
            try:
                stopped.result(timeout + STOP_GRACE)
            except (FutureTimeout, UploadError):
                log.warning("The engine process did not stop in time; it is ended")
        self._end_process(STOP_GRACE)

    # --- the pipe -----------------------------------------------------------------------------------

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        answer: Future[Any] = Future()
        with self._lock:
            if self._gone or self._stopping:
                raise EngineStoppedError()
            call_id = next(self._ids)
            self._waiting[call_id] = answer
        if not self._send(Call(call_id, method, args, kwargs)):
            self._engine_gone()
        return answer.result()

    def _send(self, message: object) -> bool:
        with self._send_lock:
            try:
                self._pipe.send(message)
            except (OSError, EOFError, ValueError):
                return False
        return True

    def _read(self) -> None:
        while True:
            try:
                message = self._pipe.recv()
            except (EOFError, OSError):
                break
            if isinstance(message, Statuses):
                self._deliver(message.statuses)
            elif isinstance(message, TokenQuestion):
                self._keyring.submit(self._answer_token, message)
            elif isinstance(message, Reply):
                self._settle(message.id, value=message.value)
            elif isinstance(message, Failure):
                error = message.error or UploadError(
                    "Something went wrong in the upload engine; the log folder has the details."
                )
                if message.description:
                    log.error("The engine failed:\n%s", message.description)
                self._settle(message.id, error=error)
            elif isinstance(message, Ready):
                self._settle(STARTUP_ID, value=None)
        self._engine_gone()

    def _deliver(self, statuses: list[UploadStatus]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for status in statuses:
            for subscriber in subscribers:
                try:
                    subscriber(status)
                except Exception:
                    log.exception("A status subscriber failed")

    def _answer_token(self, question: TokenQuestion) -> None:
        try:
            token = self._token_source(question.api_url)
        except Exception:
            log.exception("The token for %s could not be looked up", question.api_url)
            token = None
        self._send(TokenAnswer(question.id, token))

    def _settle(self, call_id: int, *, value: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            answer = self._waiting.pop(call_id, None)
        if answer is None:
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(value)

    def _engine_gone(self) -> None:
        """The pipe closed: fail every call still waiting (after a shutdown, its wait ends)."""
        with self._lock:
            unexpected = not self._stopping and not self._gone
            self._gone = True
            waiting = list(self._waiting.items())
            self._waiting.clear()
            on_stopped = list(self._on_stopped) if unexpected else []
        if unexpected:
            log.error("The engine process ended unexpectedly (exit code %s)", self._process.exitcode)
        for callback in on_stopped:
            callback(EngineStoppedError())
        for call_id, answer in waiting:
            if answer.done():
                continue
            if call_id == STARTUP_ID and self._stopping:
                answer.set_result(None)
            else:
                answer.set_exception(EngineStoppedError())

    def _end_process(self, grace: float) -> None:
        self._process.join(grace)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(STOP_GRACE)
        self._pipe.close()
        self._reader.join(STOP_GRACE)
        self._keyring.shutdown(wait=True, cancel_futures=True)
