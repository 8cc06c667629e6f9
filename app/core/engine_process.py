"""The engine in a process of its own, seen from the app: `EngineProcess` has `UploadManager`'s controls
(`engine_wire.EngineControls`) and forwards each one over a pipe to `engine_host.host_engine`.

Why: the upload threads and the window's thread share one interpreter lock in one process. With 10,000
small files in flight, each paint of the table waited for that lock and the event loop stalled for
100-140 ms. In its own process the engine keeps the uploads, the journal and the network; the app keeps
the keyring, and answers the engine's token questions.

If the engine process dies, the calls waiting for it raise `EngineStoppedError` (a sentence for the user)
and a new engine process starts on the same journal, which has every part sent: `when_restarted`
callbacks then restore and resume the uploads. After `MAX_RESTARTS` deaths within `RESTART_WINDOW`
seconds it is not started again: every call raises `EngineStoppedError`, and `when_stopped` callbacks say
so (quitting and starting the app again resumes from the journal).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from app.core.commands import Command, CommandResult
from app.core.core import TokenSource
from app.core.engine_launch import EngineArguments, LaunchedEngine, launch_engine
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
MAX_RESTARTS = 3  # deaths within RESTART_WINDOW after which the engine is left stopped (a crash loop)
RESTART_WINDOW = 300.0

GONE_FOR_GOOD = (
    "The upload engine stopped unexpectedly, several times in a row. Quit s3up and start it again: your "
    "uploads resume where they stopped (the log folder has the details)."
)
STOPPED_WHILE_BUSY = (
    "The upload engine stopped unexpectedly while it was doing this, and was started again. Try again; "
    "the uploads that were running continue by themselves."
)


class EngineStoppedError(UploadError):
    """The engine process is gone (it crashed, or was killed)."""

    def __init__(self, message: str = GONE_FOR_GOOD) -> None:
        super().__init__(message)


class _Child:
    """One engine process and the app's end of its pipe."""

    def __init__(self, process: LaunchedEngine, pipe: Connection) -> None:
        self.process = process
        self.pipe = pipe
        self.send_lock = threading.Lock()
        self.reader: threading.Thread | None = None

    def send(self, message: object) -> bool:
        with self.send_lock:
            try:
                self.pipe.send(message)
            except (OSError, EOFError, ValueError):
                return False
        return True

    def end(self, grace: float) -> None:
        """Wait `grace` seconds for the process to end, kill it if it has not, and close the pipe."""
        self.process.end(grace)
        self.pipe.close()
        if self.reader is not None and self.reader is not threading.current_thread():
            self.reader.join(STOP_GRACE)


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
        max_restarts: int = MAX_RESTARTS,
    ) -> None:
        """Start the engine process and wait until it has opened the journal.

        Raises the engine's `JournalError` (or another `UploadError`) when it cannot start.
        """
        self._token_source = token_source
        self._settings = settings
        self._journal_path = journal_path
        self._log_folder = log_folder
        self._max_restarts = max_restarts
        self._deaths: deque[float] = deque()
        self._subscribers: list[Subscriber] = []
        self._on_stopped: list[Callable[[EngineStoppedError], None]] = []
        self._on_restarted: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._waiting: dict[int, Future[Any]] = {}
        self._ids = itertools.count(STARTUP_ID + 1)
        self._ready = threading.Event()  # set while an engine takes calls
        self._starting = False  # an engine process is being started: its death fails the start
        self._stopping = False
        self._gone = False  # for good
        self._restarter: threading.Thread | None = None
        # Token questions may wait on a keyring: answered beside the reader, so statuses keep flowing.
        self._keyring = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3up-engine-token")
        self._child = self._start_child()

    def _start_child(self) -> _Child:
        """Start an engine process and wait until it has opened the journal (or raise why it could not)."""
        process, pipe = launch_engine(EngineArguments(self._settings, self._journal_path, self._log_folder))
        child = _Child(process, pipe)
        started: Future[Any] = Future()
        with self._lock:
            self._starting = True
            self._waiting[STARTUP_ID] = started
        child.reader = threading.Thread(
            target=self._read, args=(child,), name="s3up-engine-reader", daemon=True
        )
        with self._lock:
            self._child = child
        child.reader.start()
        try:
            started.result(START_TIMEOUT)
        except BaseException:
            child.end(0.0)
            raise
        finally:
            with self._lock:
                self._starting = False
        self._ready.set()
        return child

    @property
    def pid(self) -> int | None:
        """The engine process's id (a new one after a restart)."""
        with self._lock:
            return self._child.process.pid

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
        self._settings = settings  # a restarted engine starts with them

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(status)` for every status the engine reports (on the reader thread)."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def when_restarted(self, callback: Callable[[], None]) -> None:
        """Call `callback()` (on an engine thread of the app) once a new engine process has replaced one
        that died: it knows no upload until `restore` loads the journal's unfinished ones."""
        with self._lock:
            self._on_restarted.append(callback)

    def when_stopped(self, callback: Callable[[EngineStoppedError], None]) -> None:
        """Call `callback(error)` (on an engine thread of the app) when the engine has died and will not be
        started again."""
        with self._lock:
            self._on_stopped.append(callback)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the engine (running uploads stay resumable), wait for it to close the journal and end the
        process. Idempotent."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            restarter = self._restarter
        self._ready.set()  # calls waiting for an engine to start fail at once
        if restarter is not None:
            restarter.join(START_TIMEOUT)
        with self._lock:
            child = self._child
            stopped: Future[Any] = Future()
            self._waiting[STARTUP_ID] = stopped
        if not self._gone and child.send(Stop(timeout)):
            try:
                stopped.result(timeout + STOP_GRACE)
            except (FutureTimeout, UploadError):
                log.warning("The engine process did not stop in time; it is ended")
        child.end(STOP_GRACE)
        self._keyring.shutdown(wait=True, cancel_futures=True)

    # --- the pipe -----------------------------------------------------------------------------------

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        answer: Future[Any] = Future()
        while True:
            if not self._ready.wait(START_TIMEOUT):  # an engine being started again
                raise EngineStoppedError()
            with self._lock:
                if self._gone or self._stopping:
                    raise EngineStoppedError()
                if self._ready.is_set():
                    call_id = next(self._ids)
                    self._waiting[call_id] = answer
                    child = self._child
                    break
        if not child.send(Call(call_id, method, args, kwargs)):
            self._settle(call_id, error=EngineStoppedError(STOPPED_WHILE_BUSY))
        return answer.result()

    def _read(self, child: _Child) -> None:
        while True:
            try:
                message = child.pipe.recv()
            except (EOFError, OSError):
                break
            if isinstance(message, Statuses):
                self._deliver(message.statuses)
            elif isinstance(message, TokenQuestion):
                self._keyring.submit(self._answer_token, child, message)
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
        self._child_ended(child)

    def _deliver(self, statuses: list[UploadStatus]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for status in statuses:
            for subscriber in subscribers:
                try:
                    subscriber(status)
                except Exception:
                    log.exception("A status subscriber failed")

    def _answer_token(self, child: _Child, question: TokenQuestion) -> None:
        try:
            token = self._token_source(question.api_url)
        except Exception:
            log.exception("The token for %s could not be looked up", question.api_url)
            token = None
        child.send(TokenAnswer(question.id, token))

    def _settle(self, call_id: int, *, value: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            answer = self._waiting.pop(call_id, None)
        if answer is None or answer.done():
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(value)

    def _child_ended(self, child: _Child) -> None:
        """A pipe closed. After a shutdown that is its end; at start-up, the start fails; else the engine
        died: fail the calls waiting for it, and start a new one unless it keeps dying."""
        with self._lock:
            if child is not self._child:
                return
            waiting = list(self._waiting.items())
            self._waiting.clear()
            stopping, starting = self._stopping, self._starting
            died = not stopping and not starting
            now = time.monotonic()
            while self._deaths and now - self._deaths[0] > RESTART_WINDOW:
                self._deaths.popleft()
            restart = died and len(self._deaths) < self._max_restarts
            if died:
                self._deaths.append(now)
                self._gone = not restart
                if restart:
                    self._ready.clear()  # calls wait for the new engine
        for call_id, answer in waiting:
            if answer.done():
                continue
            if call_id == STARTUP_ID and stopping:
                answer.set_result(None)
            elif call_id == STARTUP_ID:
                answer.set_exception(
                    EngineStoppedError("The upload engine could not start; the log folder has the details.")
                )
            else:
                answer.set_exception(EngineStoppedError(STOPPED_WHILE_BUSY if restart else GONE_FOR_GOOD))
        if not died:
            return
        log.error("The engine process ended unexpectedly (exit code %s)", child.process.exit_code)
        if restart:
            with self._lock:
                self._restarter = threading.Thread(
                    target=self._restart, args=(child,), name="s3up-engine-restart", daemon=True
                )
                self._restarter.start()
        else:
            self._tell_stopped()

    def _restart(self, dead: _Child) -> None:
        dead.end(STOP_GRACE)
        while not self._stopping:
            try:
                self._start_child()
                break
            except Exception:
                log.exception("The engine process could not be started again")
                with self._lock:
                    self._deaths.append(time.monotonic())
                    self._gone = len(self._deaths) > self._max_restarts
                if self._gone:
                    self._ready.set()  # calls waiting for it fail at once
                    self._tell_stopped()
                    return
        else:
            return
        log.warning("A new engine process (%s) took over", self.pid)
        with self._lock:
            callbacks = list(self._on_restarted)
        for callback in callbacks:
            callback()

    def _tell_stopped(self) -> None:
        with self._lock:
            callbacks = list(self._on_stopped)
        for callback in callbacks:
            callback(EngineStoppedError())
