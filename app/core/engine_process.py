"""The engine in a process of its own, seen from the app: `EngineProcess` has `UploadManager`'s controls
(`engine_wire.EngineControls`) and forwards each one over a pipe to `engine_host.host_engine`.

Why: the upload threads and the window's thread share one interpreter lock in one process. With 10,000
small files in flight, each paint of the table waited for that lock and the event loop stalled for
100-140 ms. In its own process the engine keeps the uploads, the journal and the network; the app keeps
the keyring, and answers the engine's token questions.

If the engine process dies, the calls waiting for it raise `EngineStoppedError` (a sentence for the user)
and a new engine process starts on the same journal, which has every part sent. It loads the journal's
unfinished uploads (`restore`) before it takes calls, and `when_restarted` callbacks get them, to resume
those that were running. It is started again after each of `MAX_RESTARTS` deaths within
`RESTART_WINDOW` seconds; at the next one it stays stopped: every call raises `EngineStoppedError`, and
`when_stopped` callbacks say so (quitting and starting the app again resumes from the journal).
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
    STOPPED_ID,
    Call,
    Failure,
    Ready,
    Reply,
    ReplyPart,
    SharedPipe,
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
MAX_RESTARTS = 3  # deaths within RESTART_WINDOW that are followed by a new engine; the next one is not
RESTART_WINDOW = 300.0

GONE_FOR_GOOD = (
    "The upload engine stopped unexpectedly, several times in a row. Quit s3up and start it again: your "
    "uploads resume where they stopped (the log folder has the details)."
)
STOPPED_WHILE_BUSY = (
    "The upload engine stopped unexpectedly while it was doing this, and was started again. Try again; "
    "the uploads that were running continue by themselves."
)
QUITTING = "s3up is quitting, so this was not done; it can be done at the next start."
COULD_NOT_START = "The upload engine could not start; the log folder has the details."

RestartedCallback = Callable[[list[UploadStatus]], None]


class EngineStoppedError(UploadError):
    """The engine process is gone (it crashed, or was killed), or the app is quitting.

    `engine` says which engine died under a call: 0 the first, n the one that took over at the nth
    restart (None when no engine died under it)."""

    def __init__(self, message: str = GONE_FOR_GOOD, *, engine: int | None = None) -> None:
        super().__init__(message)
        self.engine = engine


class _Child:
    """One engine process and the app's end of its pipe."""

    def __init__(self, process: LaunchedEngine, pipe: Connection) -> None:
        self.process = process
        self.pipe = SharedPipe(pipe)
        self.reader: threading.Thread | None = None
        self.ready = False  # it said it has opened the journal: its death from now on is a crash
        self.generation = 0  # which engine this is: n took over at the nth restart
        self.parts: dict[int, list[Any]] = {}  # long answers being received, by call (reader thread only)

    def send(self, message: object) -> bool:
        return self.pipe.send(message)

    def end(self, grace: float) -> None:
        """Wait `grace` seconds for the process to end, kill it if it has not, and close the pipe."""
        self.process.end(grace)
        self.pipe.connection.close()
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

        Raises an `UploadError` when it cannot start: the engine's own (`JournalError` for a journal that
        cannot be opened) or `EngineStoppedError`.
        """
        self._token_source = token_source
        self._settings = settings
        self._journal_path = journal_path
        self._log_folder = log_folder
        self._max_restarts = max_restarts
        self._deaths: deque[float] = deque()
        self._restarts = 0  # new engines that took over
        self._subscribers: list[Subscriber] = []
        self._on_stopped: list[Callable[[EngineStoppedError], None]] = []
        self._on_restarted: list[RestartedCallback] = []
        self._lock = threading.Lock()
        self._waiting: dict[int, Future[Any]] = {}
        self._ids = itertools.count(STARTUP_ID + 1)
        self._ready = threading.Event()  # set while calls go through: an engine takes them, or they fail
        self._refusing = False  # quitting: calls fail at once
        self._shut_down = False
        self._gone = False  # for good
        self._restarting = False  # a restarter thread is starting a new engine (and counts its deaths)
        self._restarter: threading.Thread | None = None
        # Token questions may wait on a keyring: answered beside the reader, so statuses keep flowing.
        self._keyring = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3up-engine-token")
        self._child = self._start_child()
        self._ready.set()

    def _start_child(self) -> _Child:
        """Start an engine process and wait until it has opened the journal (or raise why it could not)."""
        started: Future[Any] = Future()
        with self._lock:
            self._waiting[STARTUP_ID] = started
        process, pipe = launch_engine(EngineArguments(self._settings, self._journal_path, self._log_folder))
        child = _Child(process, pipe)
        child.reader = threading.Thread(
            target=self._read, args=(child,), name="s3up-engine-reader", daemon=True
        )
        with self._lock:
            self._child = child
        child.reader.start()
        try:
            started.result(START_TIMEOUT)
        except FutureTimeout:
            log.error("The engine process did not start within %.0f s", START_TIMEOUT)
            child.end(0.0)
            raise EngineStoppedError(COULD_NOT_START) from None
        except BaseException:
            child.end(0.0)
            raise
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
        self._settings = settings  # first: an engine started again after this call starts with them
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

    def when_restarted(self, callback: RestartedCallback) -> None:
        """Call `callback(restored)` (on a thread of the app's) once a new engine process has replaced one
        that died, with the unfinished uploads it loaded from the journal (paused, or marked). It runs
        before the new engine takes calls, so it must not call the engine itself."""
        with self._lock:
            self._on_restarted.append(callback)

    def when_stopped(self, callback: Callable[[EngineStoppedError], None]) -> None:
        """Call `callback(error)` (on a thread of the app's) when the engine has died and will not be
        started again."""
        with self._lock:
            self._on_stopped.append(callback)

    def refuse_calls(self) -> None:
        """The app is quitting: calls waiting for the engine, and later ones, fail at once (so that
        nothing waits on an engine that hangs or is being started again). Idempotent."""
        with self._lock:
            self._refusing = True
            waiting = [(call_id, answer) for call_id, answer in self._waiting.items() if call_id > STARTUP_ID]
            for call_id, _answer in waiting:
                del self._waiting[call_id]
        self._ready.set()
        for _call_id, answer in waiting:
            _fail(answer, EngineStoppedError(QUITTING))

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the engine (running uploads stay resumable), wait for it to close the journal and end the
        process. Idempotent."""
        with self._lock:
            if self._shut_down:
                return
            self._shut_down = True
        self.refuse_calls()
        with self._lock:
            restarter = self._restarter
        if restarter is not None:
            restarter.join(START_TIMEOUT + STOP_GRACE)
        with self._lock:
            child = self._child
            stopped: Future[Any] = Future()
            self._waiting[STOPPED_ID] = stopped
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
                raise EngineStoppedError(COULD_NOT_START)
            with self._lock:
                if self._refusing:
                    raise EngineStoppedError(QUITTING)
                if self._gone:
                    raise EngineStoppedError()
                if self._ready.is_set():
                    call_id = next(self._ids)
                    self._waiting[call_id] = answer
                    child = self._child
                    break
        try:
            child.send(Call(call_id, method, args, kwargs))  # a closed pipe: the reader fails the call
        except Exception:
            with self._lock:
                self._waiting.pop(call_id, None)
            raise
        return answer.result()

    def _read(self, child: _Child) -> None:
        try:
            while True:
                try:
                    message = child.pipe.connection.recv()
                except (EOFError, OSError):
                    break
                self._handle(child, message)
        except Exception:
            log.exception("The engine's pipe failed")  # the engine is ended and started again
        finally:
            self._child_ended(child)

    def _handle(self, child: _Child, message: object) -> None:
        if isinstance(message, Statuses):
            self._deliver(message.statuses)
        elif isinstance(message, TokenQuestion):
            self._keyring.submit(self._answer_token, child, message)
        elif isinstance(message, ReplyPart):
            child.parts.setdefault(message.id, []).extend(message.items)
        elif isinstance(message, Reply):
            parts = child.parts.pop(message.id, None)
            self._settle(message.id, value=message.value if parts is None else parts + message.value)
        elif isinstance(message, Failure):
            error = message.error or UploadError(
                "Something went wrong in the upload engine; the log folder has the details."
            )
            if message.description:
                log.error("The engine failed:\n%s", message.description)
            self._settle(message.id, error=error)
        elif isinstance(message, Ready):
            child.ready = True
            self._settle(STARTUP_ID, value=None)

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
        """A pipe closed. After a shutdown that is its end; before its Ready, the start fails; else the
        engine died: fail the calls waiting for it, and start a new one unless it keeps dying."""
        with self._lock:
            if child is not self._child:
                return
            waiting = list(self._waiting.items())
            self._waiting.clear()
            died = child.ready and not self._refusing and not self._restarting
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
            if call_id == STOPPED_ID:
                _settle_quietly(answer)
            elif call_id == STARTUP_ID:
                _fail(answer, EngineStoppedError(COULD_NOT_START))
            elif self._refusing:
                _fail(answer, EngineStoppedError(QUITTING))
            else:
                message = STOPPED_WHILE_BUSY if restart else GONE_FOR_GOOD
                _fail(answer, EngineStoppedError(message, engine=child.generation))
        if not died:
            return
        if restart:
            with self._lock:
                self._restarting = True
                self._restarter = threading.Thread(
                    target=self._restart, args=(child,), name="s3up-engine-restart", daemon=True
                )
                self._restarter.start()
        else:
            child.end(STOP_GRACE)
            log.error(
                "The engine process ended (exit code %s); it is not started again", child.process.exit_code
            )
            self._tell_stopped()

    def _restart(self, dead: _Child) -> None:
        """Start engines until one has restored the journal's uploads, or they keep dying."""
        dead.end(STOP_GRACE)
        log.error("The engine process ended unexpectedly (exit code %s)", dead.process.exit_code)
        restored: list[UploadStatus] | None = None
        while restored is None and not self._refusing and not self._gone:
            child = None
            try:
                child = self._start_child()
                restored = self._ask(child, "restore")  # before any call: they find the uploads
            except Exception:
                log.exception("The engine process could not be started again")
                if child is not None:
                    child.end(STOP_GRACE)
                with self._lock:
                    self._deaths.append(time.monotonic())
                    self._gone = len(self._deaths) > self._max_restarts
        took_over = restored is not None and not self._gone
        with self._lock:
            self._restarting = False
            callbacks = list(self._on_restarted)
            if took_over:
                self._restarts += 1
                self._child.generation = self._restarts
        if took_over:
            log.warning(
                "A new engine process (%s) took over; %s unfinished uploads restored", self.pid, len(restored)
            )
            # Before any call goes through: whoever sees a call to the new engine fail knows of it already
            # (an add cut short by a death must not take the uploads this engine records for a restart's).
            for callback in callbacks:
                callback(restored)
        with self._lock:
            if not self._restarting:  # unless the new engine died meanwhile and is being replaced
                self._ready.set()  # calls go through to the new engine, or fail at once
        if self._gone:
            self._tell_stopped()

    def _ask(self, child: _Child, method: str) -> Any:
        """A call to an engine that does not take calls yet (being started again)."""
        answer: Future[Any] = Future()
        with self._lock:
            call_id = next(self._ids)
            self._waiting[call_id] = answer
        child.send(Call(call_id, method))
        return answer.result(START_TIMEOUT)

    def _tell_stopped(self) -> None:
        with self._lock:
            callbacks = list(self._on_stopped)
        for callback in callbacks:
            callback(EngineStoppedError())


def _fail(answer: Future[Any], error: BaseException) -> None:
    if not answer.done():
        answer.set_exception(error)


def _settle_quietly(answer: Future[Any]) -> None:
    if not answer.done():
        answer.set_result(None)
