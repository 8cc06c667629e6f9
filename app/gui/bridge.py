"""The GUI's only door to the core: status events as Qt signals, and blocking calls off the GUI thread.

The manager calls its subscribers on worker threads; the bridge keeps the newest status of each upload
and hands them to the GUI thread in one batch at most every `flush_interval_ms` (so a row repaints at
most ~10 times a second). Every core call that may touch disk or network runs on a plain Python
thread pool; its result (or its `UploadError`) comes back to the GUI thread through a queued signal.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import shiboken6
from PySide6.QtCore import QElapsedTimer, QObject, QTimer, Signal, Slot

from app.core.engine_process import (
    COULD_NOT_START,
    MAX_RESTARTS,
    QUITTING,
    START_TIMEOUT,
    STOP_GRACE,
    EngineStoppedError,
)
from app.core.errors import UploadError
from app.core.models import AddResult, UploadRequest, UploadStatus
from app.core.remote import RemoteUnfinished
from app.gui.commands import Command, dispatch
from app.gui.resuming import recorded_before_death

if TYPE_CHECKING:
    from app.core.engine_wire import EngineControls

log = logging.getLogger(__name__)

T = TypeVar("T")


ADD_CHUNK = 1000  # requests per UploadManager.add_many call, and per report to the GUI thread
FLUSH_LIMIT = 100  # statuses handed to the GUI per event-loop turn, so that no turn runs long
# The longest an engine takes to be replaced: the dead one ended, then new ones started until one restored
# the journal (each try may take a start and a restore); by then the engine is back, or stays stopped.
RESTART_WAIT = STOP_GRACE + (MAX_RESTARTS + 1) * 2 * START_TIMEOUT


@dataclass(frozen=True)
class AddOutcome:
    """Part of what `add_many` did: uploads that started, files refused with the reason, and whether
    this was the last part."""

    added: list[UploadStatus]
    refused: list[tuple[UploadRequest, UploadError]]
    last: bool = True


@dataclass(frozen=True)
class _Delivery:
    callback: Callable[[Any], None]
    value: Any
    owner: QObject | None  # the Qt object the callback belongs to: nothing is delivered once it is gone


class UploadBridge(QObject):
    """Re-emits engine events in the GUI thread and runs engine calls on worker threads."""

    statuses_changed = Signal(list)  # list[UploadStatus], newest snapshot of each changed upload
    error_occurred = Signal(str)  # a sentence for the user, from a command that failed
    engine_stopped = Signal(str)  # the engine (or --local's API) died and stays stopped: what to do
    engine_restarted = Signal(list)  # a new engine replaced one that died: the uploads it restored
    _wake = Signal()
    _deliver = Signal(object)

    def __init__(
        self, manager: EngineControls, *, flush_interval_ms: int = 100, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._manager = manager
        self._interval = flush_interval_ms
        self._lock = threading.Lock()
        self._pending: dict[int, UploadStatus] = {}
        self._closed = False
        # Engine restarts, for an add that the death of the engine cut short: how many, and what the last
        # new engine restored; whether the engine stays stopped.
        self._engine_changed = threading.Condition(self._lock)
        self._restarts = 0
        self._last_restored: list[UploadStatus] = []
        self._engine_gone = False
        # Manager commands keep their order (pause then resume); probes and file walks run beside them.
        self._commands = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3up-gui-cmd")
        # Adding a large folder takes a while: it has its own worker, so Pause or Cancel never waits for it.
        self._adds = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3up-gui-add")
        self._io = ThreadPoolExecutor(max_workers=3, thread_name_prefix="s3up-gui-io")
        self._since_flush = QElapsedTimer()
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.timeout.connect(self._flush)
        self._wake.connect(self._on_wake)
        self._deliver.connect(self._on_deliver)
        self._unsubscribe = manager.subscribe(self._on_status)

    # --- status events ---------------------------------------------------------------------------

    def _on_status(self, status: UploadStatus) -> None:
        """Called by the manager on its worker threads."""
        with self._lock:
            if self._closed:
                return
            first = not self._pending
            self._pending[status.id] = status
        if first:
            self._wake.emit()

    @Slot()
    def _on_wake(self) -> None:
        if self._flush_timer.isActive():
            return
        elapsed = self._since_flush.elapsed() if self._since_flush.isValid() else self._interval
        self._flush_timer.start(max(0, self._interval - elapsed))

    @Slot()
    def _flush(self) -> None:
        """Hand over the newest statuses, at most `FLUSH_LIMIT` per turn: the rest follow on the next
        turns of the event loop, so that a folder of thousands of files never blocks it for long."""
        with self._lock:
            ids = list(itertools.islice(self._pending, FLUSH_LIMIT))
            batch = [self._pending.pop(upload_id) for upload_id in ids]
            more = bool(self._pending)
        self._since_flush.restart()
        if more:
            self._flush_timer.start(0)
        if batch:
            self.statuses_changed.emit(batch)

    # --- work off the GUI thread ------------------------------------------------------------------

    def submit(
        self,
        fn: Callable[[], T],
        *,
        on_result: Callable[[T], None] | None = None,
        on_error: Callable[[UploadError], None] | None = None,
        ordered: bool = False,
        owner: QObject | None = None,
        executor: ThreadPoolExecutor | None = None,
    ) -> Future[None]:
        """Run `fn` on a worker (`ordered`: after the commands sent before it); deliver its result or
        `UploadError` to the GUI thread.

        The callbacks are skipped when `owner` (or the Qt object a callback is a method of) has been
        deleted meanwhile, as a dialog closed by the user is. An error that is
        not an `UploadError` is logged and reported through `error_occurred`.
        """
        executor = executor or (self._commands if ordered else self._io)

        def job() -> None:
            try:
                value = fn()
            except UploadError as error:
                self._send(on_error or self._report, error, owner)
            except Exception:
                log.exception("A background task failed")
                self._send(self._report, UploadError("Something went wrong; the log file has the details."))
            else:
                if on_result is not None:
                    self._send(on_result, value, owner)

        return executor.submit(job)

    def _send(self, callback: Callable[[Any], None], value: Any, owner: QObject | None = None) -> None:
        if owner is None:
            bound_to = getattr(callback, "__self__", None)
            owner = bound_to if isinstance(bound_to, QObject) else None
        if not self._is_closed():
            self._deliver.emit(_Delivery(callback, value, owner))

    def _is_closed(self) -> bool:
        with self._lock:
            return self._closed

    @Slot(object)
    def _on_deliver(self, delivery: _Delivery) -> None:
        if delivery.owner is not None and not shiboken6.isValid(delivery.owner):
            return
        delivery.callback(delivery.value)

    def _report(self, error: UploadError) -> None:
        self.error_occurred.emit(error.message)

    def report_engine_stopped(self, error: UploadError) -> None:
        """Called (on any thread) when the engine process has died and is not started again."""
        with self._engine_changed:
            self._engine_gone = True
            self._engine_changed.notify_all()
        self.report_stopped(error.message)

    def report_stopped(self, sentence: str) -> None:
        """Called (on any thread) when the uploads cannot go on: the engine process, or the local test API
        of `--local`, died and is not started again. `sentence` says what the user should do."""
        if not self._is_closed():
            self.engine_stopped.emit(sentence)

    def report_engine_restarted(self, restored: list[UploadStatus]) -> None:
        """Called (on any thread) when a new engine process has replaced one that died, with the
        unfinished uploads it loaded from the journal."""
        # Emitted first: an add cut short by the death reports its uploads after the window has heard of
        # the restart (queued signals keep their order), so the window resumes them as being added.
        if not self._is_closed():
            self.engine_restarted.emit(restored)
        with self._engine_changed:
            self._restarts += 1
            self._last_restored = restored
            self._engine_changed.notify_all()

    # --- manager commands -------------------------------------------------------------------------

    def send(self, command: Command) -> None:
        """Carry out `command` off the GUI thread, after the commands sent before it; a refusal is
        reported through `error_occurred`."""
        self.submit(lambda: dispatch(self._manager, command), ordered=True)

    def add_many(
        self,
        build: Callable[[], Sequence[UploadRequest]],
        on_added: Callable[[AddOutcome], None],
        *,
        chunk: int = ADD_CHUNK,
    ) -> None:
        """Build the requests and start them off the GUI thread (10,000 requests take ~100 ms just to
        build), `chunk` at a time through the engine's `add_many` (which records them in the journal in
        groups); `on_added` hears of each chunk as it goes, so rows appear while a large folder is still
        being added. Refused files are reported there, the others still start.

        When the engine dies meanwhile, the adding goes on with the new one; if it stays stopped, the files
        not added yet are reported as refused, with the reason."""

        def add_all() -> None:
            pending = list(build())
            while pending:
                if self._is_closed():
                    return
                part, pending = pending[:chunk], pending[chunk:]
                result, stopped = self._add_through_restarts(part)
                if stopped is not None:  # the engine stays stopped: the rest is not added either
                    refused = result.refused + [(request, stopped) for request in pending]
                    self._send(on_added, AddOutcome(result.added, refused, last=True))
                    return
                self._send(on_added, AddOutcome(result.added, result.refused, last=not pending))

        self.submit(add_all, executor=self._adds)

    def _add_through_restarts(
        self, requests: list[UploadRequest]
    ) -> tuple[AddResult, EngineStoppedError | None]:
        """`add_many`; if the engine dies during the call, the uploads it had recorded are taken from what
        the new engine restored (it resumes them), and the rest are added to the new engine. If the engine
        stays stopped, the requests not added are refused with the reason, which comes back too."""
        recorded: list[UploadStatus] = []
        while True:
            with self._lock:
                restarts = self._restarts
            started = time.time()
            try:
                result = self._manager.add_many(requests)
            except EngineStoppedError as error:
                # The restart after the engine that died under the call: that engine may have taken the
                # call after a restart that came while the call waited, so `restarts` may be one behind.
                died = restarts if error.engine is None else error.engine
                try:
                    restored = self._restored_after(died)
                except EngineStoppedError as stopped:
                    return AddResult(recorded, [(request, stopped) for request in requests]), stopped
                before_death, requests = recorded_before_death(requests, restored, since=started)
                recorded += before_death
                log.warning("The engine died while adding files; %s were recorded", len(before_death))
                if not requests:
                    return AddResult(recorded, []), None
            else:
                return AddResult(recorded + result.added, result.refused), None

    def _restored_after(self, restarts: int) -> list[UploadStatus]:
        """What the next new engine restored, once there have been more than `restarts` restarts.

        Raises EngineStoppedError when the engine stays stopped, the app is quitting, or no new engine
        came in time."""
        with self._engine_changed:
            self._engine_changed.wait_for(
                lambda: self._closed or self._engine_gone or self._restarts > restarts, RESTART_WAIT
            )
            if self._closed:
                raise EngineStoppedError(QUITTING)
            if self._engine_gone:
                raise EngineStoppedError()
            if self._restarts <= restarts:
                raise EngineStoppedError(COULD_NOT_START)
            return self._last_restored

    def load_queue(
        self, history_limit: int, on_done: Callable[[tuple[list[UploadStatus], list[UploadStatus]]], None]
    ) -> None:
        """Unfinished uploads from the journal (paused or marked changed) and the recent finished ones."""
        self.submit(
            lambda: (self._manager.restore(), self._manager.history(history_limit)),
            on_result=on_done,
            ordered=True,
        )

    def recent_keys(
        self, limit: int, on_done: Callable[[list[UploadStatus]], None], owner: QObject | None = None
    ) -> None:
        """The recently finished uploads (from the journal), for the Start dialog's key check."""
        self.submit(lambda: self._manager.history(limit), on_result=on_done, owner=owner)

    # --- every unfinished upload in reach ----------------------------------------------------------

    def remote_uploads(
        self,
        api_url: str,
        on_done: Callable[[list[RemoteUnfinished]], None],
        on_error: Callable[[UploadError], None],
        owner: QObject,
    ) -> None:
        """The user's unfinished uploads on this API, from any computer (network I/O; a `NotThisApiError`
        on the existing deployment)."""
        self.submit(
            lambda: self._manager.remote_uploads(api_url), on_result=on_done, on_error=on_error, owner=owner
        )

    def adopt_remote(
        self,
        api_url: str,
        file_id: str,
        path: Path,
        on_done: Callable[[UploadStatus], None],
        on_error: Callable[[UploadError], None],
        owner: QObject,
    ) -> None:
        """Go on with an unfinished upload from the server with the file at `path`, after the commands
        sent before (refused with a sentence unless the parts already sent have its bytes)."""
        self.submit(
            lambda: self._manager.adopt_remote(api_url, file_id, path),
            on_result=on_done,
            on_error=on_error,
            owner=owner,
            ordered=True,
        )

    def abort_remote(
        self,
        api_url: str,
        file_id: str,
        on_done: Callable[[None], None],
        on_error: Callable[[UploadError], None],
        owner: QObject,
    ) -> None:
        """Abort an unfinished upload on the server (its parts are deleted), after the commands before."""
        self.submit(
            lambda: self._manager.abort_remote(api_url, file_id),
            on_result=on_done,
            on_error=on_error,
            owner=owner,
            ordered=True,
        )

    def run_now(self, command: Command, timeout: float) -> bool:
        """Carry out `command` and wait for it (at quit, when nothing else will run); False on time-out."""
        future = self.submit(lambda: dispatch(self._manager, command), ordered=True)
        try:
            future.result(timeout)
        except TimeoutError:
            return False
        return True

    # --- teardown ---------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop listening and wait for running calls; later results are dropped. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._engine_changed.notify_all()
        self._unsubscribe()
        self._flush_timer.stop()
        for executor in (self._adds, self._commands, self._io):
            executor.shutdown(wait=True, cancel_futures=True)
