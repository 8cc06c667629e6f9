"""The GUI's only door to the core: status events as Qt signals, and blocking calls off the GUI thread.

The manager calls its subscribers on worker threads; the bridge keeps the newest status of each upload
and hands them to the GUI thread in one batch at most every `flush_interval_ms` (so a row repaints at
most ~10 times a second). Every core call that may touch disk or network runs on a plain Python
thread pool; its result (or its `UploadError`) comes back to the GUI thread through a queued signal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import shiboken6
from PySide6.QtCore import QElapsedTimer, QObject, QTimer, Signal, Slot

from app.core.errors import UploadError
from app.core.models import TransferSettings, UploadRequest, UploadStatus

if TYPE_CHECKING:
    from app.core.manager import UploadManager

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class AddOutcome:
    """What `add_many` did: the uploads that started, and the files refused with the reason."""

    added: list[UploadStatus]
    refused: list[tuple[UploadRequest, UploadError]]


@dataclass(frozen=True)
class _Delivery:
    callback: Callable[[Any], None]
    value: Any


class UploadBridge(QObject):
    """Re-emits manager events in the GUI thread and runs core calls on worker threads."""

    statuses_changed = Signal(list)  # list[UploadStatus], newest snapshot of each changed upload
    error_occurred = Signal(str)  # a sentence for the user, from a command that failed
    _wake = Signal()
    _deliver = Signal(object)

    def __init__(
        self, manager: UploadManager, *, flush_interval_ms: int = 100, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._manager = manager
        self._interval = flush_interval_ms
        self._lock = threading.Lock()
        self._pending: dict[int, UploadStatus] = {}
        self._closed = False
        # Manager commands keep their order (pause then resume); probes and file walks run beside them.
        self._commands = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3up-gui-cmd")
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
        with self._lock:
            batch = list(self._pending.values())
            self._pending.clear()
        self._since_flush.restart()
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
    ) -> Future[None]:
        """Run `fn` on a worker; deliver its result or `UploadError` to the GUI thread.

        A callback bound to a Qt object that has been deleted meanwhile is skipped. An error that is
        not an `UploadError` is logged and reported through `error_occurred`.
        """
        executor = self._commands if ordered else self._io

        def job() -> None:
            try:
                value = fn()
            except UploadError as error:
                self._send(on_error or self._report, error)
            except Exception:
                log.exception("A background task failed")
                self._send(self._report, UploadError("Something went wrong; the log file has the details."))
            else:
                if on_result is not None:
                    self._send(on_result, value)

        return executor.submit(job)

    def _send(self, callback: Callable[[Any], None], value: Any) -> None:
        with self._lock:
            if self._closed:
                return
        self._deliver.emit(_Delivery(callback, value))

    @Slot(object)
    def _on_deliver(self, delivery: _Delivery) -> None:
        owner = getattr(delivery.callback, "__self__", None)
        if isinstance(owner, QObject) and not shiboken6.isValid(owner):
            return
        delivery.callback(delivery.value)

    def _report(self, error: UploadError) -> None:
        self.error_occurred.emit(error.message)

    # --- manager commands -------------------------------------------------------------------------

    def add_many(self, requests: list[UploadRequest], on_done: Callable[[AddOutcome], None]) -> None:
        """Start each request; files the manager refuses are reported, the others still start."""

        def add_all() -> AddOutcome:
            added: list[UploadStatus] = []
            refused: list[tuple[UploadRequest, UploadError]] = []
            for request in requests:
                try:
                    added.append(self._manager.add(request))
                except UploadError as error:
                    refused.append((request, error))
            return AddOutcome(added, refused)

        self.submit(add_all, on_result=on_done, ordered=True)

    def command(self, name: str, ids: Iterable[int]) -> None:
        """`pause`, `resume`, `cancel`, `retry` or `remove` each upload, in order, off the GUI thread."""
        method = getattr(self._manager, name)
        targets = list(ids)

        def run() -> None:
            refused: UploadError | None = None
            for upload_id in targets:
                try:
                    method(upload_id)
                except UploadError as error:  # one refusal must not keep the others from happening
                    refused = refused or error
            if refused is not None:
                raise refused

        self.submit(run, ordered=True)

    def pause_all(self) -> None:
        self.submit(self._manager.pause_all, ordered=True)

    def resume_all(self) -> None:
        self.submit(self._manager.resume_all, ordered=True)

    def credentials_changed(self, api_url: str) -> None:
        self.submit(lambda: self._manager.credentials_changed(api_url), ordered=True)

    def update_settings(self, settings: TransferSettings) -> None:
        self.submit(lambda: self._manager.update_settings(settings), ordered=True)

    def load_queue(
        self, history_limit: int, on_done: Callable[[tuple[list[UploadStatus], list[UploadStatus]]], None]
    ) -> None:
        """Unfinished uploads from the journal (paused or marked changed) and the recent finished ones."""
        self.submit(
            lambda: (self._manager.restore(), self._manager.history(history_limit)),
            on_result=on_done,
            ordered=True,
        )

    # --- teardown ---------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop listening and wait for running calls; later results are dropped. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._unsubscribe()
        self._flush_timer.stop()
        for executor in (self._commands, self._io):
            executor.shutdown(wait=True, cancel_futures=True)
