"""The engine core: owns the uploads, the lock that guards them, and every change of their state.

Everything that changes an upload goes through here: `apply(upload, event)` checks the transition in
`states.TRANSITIONS`, takes or lets go the upload's OS lock (`ownership`), writes the journal and tells
the subscribers. The facade (`manager.UploadManager`) and the dispatcher (which feeds the workers) call
it; nothing else mutates an `ActiveUpload`.

Several processes (the app, `s3up` commands) may share one journal: an upload is sent only by the
process holding its lock, from the moment it is added or resumed until it is paused, fails or ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from app.core.api import ApiClient, ApiInfo, normalize_api_url
from app.core.bandwidth import BandwidthLimiter
from app.core.errors import InvalidRequestError
from app.core.journal import Journal, JournalUpload
from app.core.models import TransferSettings, UploadStatus
from app.core.ownership import BusyElsewhereError, UploadLocks
from app.core.restore import plan_of
from app.core.retry import RetryPolicy
from app.core.states import ACTIVE_STATES, Event, UploadState, next_state
from app.core.upload import ActiveUpload, expiry_warning

log = logging.getLogger(__name__)

Subscriber = Callable[[UploadStatus], None]
TokenSource = Callable[[str], str | None]
REPORT_INTERVAL = 0.1
# Steps within an active upload: the journal keeps "queued" until it stops (restore shows any active
# upload paused, and another process sees it locked), so that a folder costs no write per step.
UNRECORDED_EVENTS = frozenset({Event.SEND, Event.FINALIZE, Event.RESEND})
# Steps a worker has just taken: they make no new work for the other workers (nor does leaving the
# active states: the worker that ran the last job of the upload looks for the next job itself).
STEP_EVENTS = frozenset({Event.SEND, Event.FINALIZE})
# Changes that must survive a power cut: what the user decided, and why an upload stopped. The others
# say what this process is doing (restore shows such an upload paused whatever they say).
DURABLE_EVENTS = frozenset(
    {Event.CANCEL, Event.FAIL, Event.SIGN_IN, Event.FILE_CHANGED, Event.FILE_MISSING, Event.CONFLICT}
)


@dataclass
class _Waiter:
    pending: set[int]  # the uploads still active
    every: bool  # waiting for every upload, also those that become active meanwhile


class EngineCore:
    """The uploads of one process and their lock. Thread-safe."""

    def __init__(
        self,
        journal: Journal,
        token_source: TokenSource,
        settings: TransferSettings,
        retry_policy: RetryPolicy,
    ) -> None:
        self.journal = journal
        self.locks = UploadLocks(journal.path.parent / f"{journal.path.stem}-locks")
        self.settings = settings
        self.retry_policy = retry_policy
        self.limiter = BandwidthLimiter(settings.bandwidth_limit)
        mutex = threading.RLock()
        self.lock = threading.Condition(mutex)  # guards the uploads; callers of wait() wait on it
        self.work = threading.Condition(mutex)  # idle workers wait on it (woken one at a time)
        self.uploads: dict[int, ActiveUpload] = {}  # in the order added
        self.active: dict[int, ActiveUpload] = {}  # those in an active state, in the order they entered it
        self.closing = threading.Event()
        self._token_source = token_source
        self._clients: dict[str, ApiClient] = {}
        self._api_infos: dict[str, ApiInfo] = {}
        self._probe_locks: dict[str, threading.Lock] = {}
        self._subscribers: list[Subscriber] = []
        self._waiters: list[_Waiter] = []
        self._reporter = threading.Thread(target=self._report_loop, name="s3up-reporter", daemon=True)
        self._reporter.start()

    # --- uploads ----------------------------------------------------------------------------------

    def register(self, upload: ActiveUpload, *, wake_worker: bool = True) -> None:
        with self.lock:
            self.uploads[upload.id] = upload
            if upload.state in ACTIVE_STATES:
                self._active_changed(upload.id, True)
            self.changed(wake_worker=wake_worker)

    def find(self, upload_ref: int) -> ActiveUpload | None:
        with self.lock:
            return self.uploads.get(upload_ref)

    def get(self, upload_ref: int) -> ActiveUpload:
        upload = self.find(upload_ref)
        if upload is None:
            raise InvalidRequestError(f"There is no upload number {upload_ref}.")
        return upload

    def forget(self, upload_ref: int) -> None:
        with self.lock:
            self._active_changed(upload_ref, False)
            self.uploads.pop(upload_ref, None)

    def refs(self) -> list[int]:
        with self.lock:
            return list(self.uploads)

    # --- state ------------------------------------------------------------------------------------

    def apply(self, upload: ActiveUpload, event: Event, message: str | None = None) -> bool:
        """Apply `event` if `states.TRANSITIONS` allows it from the upload's state; return whether it did.

        Entering an active state takes the upload's OS lock (BusyElsewhereError when another process
        has it); leaving them lets the lock go once the upload is idle, after the journal has the new
        state. DONE is written to the journal by `Journal.set_finished` (with its link) beforehand.
        """
        with upload.write_lock:
            try:
                with self.lock:
                    target = next_state(upload.state, event)
                    if target is None:
                        return False
                    if target in ACTIVE_STATES:
                        self.locks.acquire(upload.id)
                    self._active_changed(upload.id, target in ACTIVE_STATES)
                    if event in UNRECORDED_EVENTS and message is None:
                        upload.state = target  # a step: the note that stands (why it restarted) stays
                    else:
                        upload.state, upload.message, upload.passing_note = target, message, False
                    upload.progress_dirty = True
                    if target is UploadState.DONE:
                        upload.forget_sending_state()
                    self.changed(wake_worker=target in ACTIVE_STATES and event not in STEP_EVENTS)
                if target is not UploadState.DONE and event not in UNRECORDED_EVENTS:
                    self.journal.set_state(upload.id, target, message, durable=event in DURABLE_EVENTS)
            finally:
                with self.lock:
                    self.release_if_idle(upload)
        log.info(
            "Upload %s (%s): %s%s",
            upload.id,
            upload.record.key,
            target.value,
            f" - {message}" if message else "",
        )
        self.emit(upload)
        return True

    def changed(self, *, wake_worker: bool = True) -> None:
        """Something changed (call with the lock held): wake those waiting for uploads to end, and one
        idle worker (which wakes the next when it found work: no herd of workers for one job).
        `wake_worker=False` when the change makes no new work, or a worker looks for work next anyway
        (it reports a job's outcome)."""
        self.lock.notify_all()
        if wake_worker:
            self.work.notify()

    def note(self, upload: ActiveUpload, message: str | None, *, passing: bool = False) -> None:
        """Tell the user something about the upload without changing its state (kept in memory only:
        a note says what this process is doing). `passing`: a retry is scheduled, and the note goes
        when something of the upload goes through."""
        with self.lock:
            if not upload.state.is_active:
                return
            upload.message, upload.passing_note = message, passing
        self.emit(upload)

    def clear_passing_note(self, upload: ActiveUpload) -> None:
        with self.lock:
            if not (upload.passing_note and upload.state.is_active):
                return
            upload.message, upload.passing_note = None, False
        self.emit(upload)

    def journal_record(self, upload_ref: int) -> JournalUpload | None:
        """The upload as the journal has it now (after the engine wrote to it)."""
        return self.journal.get(upload_ref)

    def release_if_idle(self, upload: ActiveUpload) -> None:
        """Let the upload's OS lock go when this process has stopped working on it: an inactive state,
        no step running and no part in flight or being checked. Call with the core's lock held."""
        if upload.state not in ACTIVE_STATES and not (upload.busy or upload.in_flight or upload.verifying):
            self.locks.release(upload.id, finished=upload.state.is_finished)

    def take_over(self, upload: ActiveUpload) -> None:
        """Lock the upload for this process and catch up with what other processes wrote meanwhile.

        Raises BusyElsewhereError (and says so on the upload) when another process is sending it.
        """
        try:
            self.locks.acquire(upload.id)
        except BusyElsewhereError as busy:
            self.show_busy(upload, busy)
            raise
        with self.lock:
            if upload.sent_elsewhere:
                upload.sent_elsewhere, upload.message = False, None
        record = self.journal.get(upload.id)
        if record is None:
            return
        done = self.journal.parts(upload.id)
        plan = plan_of(record)
        with self.lock:
            if record.upload_id != upload.upload_id or plan != upload.plan:  # restarted elsewhere
                upload.signer = None
                upload.plan_generation += 1
            upload.record, upload.plan, upload.done = record, plan, done
            upload.upload_id, upload.single = record.upload_id, record.single
            upload.rebuild_pending()
            if record.state.is_finished:
                upload.url, upload.link_verified = record.url, record.link_verified
                upload.finished_at = record.finished_at
        if record.state is UploadState.DONE:
            self.apply(upload, Event.FINISHED_ELSEWHERE)
        elif record.state is UploadState.CANCELLED:
            self.apply(upload, Event.CANCELLED_ELSEWHERE, record.message)

    def show_busy(self, upload: ActiveUpload, busy: BusyElsewhereError) -> None:
        """Say on the upload why nothing happened (its journal entry is the other process's)."""
        with self.lock:
            upload.message = busy.message
            upload.sent_elsewhere = True
            upload.progress_dirty = True
        self.emit(upload)

    # --- subscribers ------------------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self.lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self.lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def emit(self, upload: ActiveUpload) -> None:
        """Tell subscribers about `upload` now (call without holding the lock)."""
        with self.lock:
            upload.progress_dirty = False
            subscribers = list(self._subscribers)
            if not subscribers:  # nobody listens (a command that only waits): no snapshot to build
                return
            status = upload.snapshot()
            upload.expiry_warned = status.expiry_warning is not None
        for callback in subscribers:
            try:
                callback(status)
            except Exception:  # a subscriber's bug must not stop the engine
                log.exception("A progress subscriber failed")

    def _report_loop(self) -> None:
        """Byte progress, at most 10 times a second per upload; speed and ETA every second; a warning
        that an upload's parts expire soon within a minute of its time."""
        last_full = last_expiry = 0.0
        while not self.closing.wait(REPORT_INTERVAL):
            now = time.monotonic()
            full = now - last_full >= 1.0
            if full:
                last_full = now
            expiry = now - last_expiry >= 60.0
            if expiry:
                last_expiry = now
            with self.lock:  # changes of stopped uploads are told when they happen: only active ones move
                due = [
                    u
                    for u in self.active.values()
                    if u.progress_dirty or (full and u.state is UploadState.UPLOADING)
                ]
                if expiry:
                    due += [
                        u
                        for u in self.uploads.values()
                        if u.expiry_warned != (expiry_warning(u.record.parts_expire_at) is not None)
                    ]
            for upload in due:
                self.emit(upload)

    # --- the APIs ---------------------------------------------------------------------------------

    def api(self, api_url: str) -> ApiClient:
        with self.lock:
            client = self._clients.get(api_url)
            if client is None:
                client = ApiClient(api_url, lambda: self._token_source(api_url))
                self._clients[api_url] = client
            return client

    def known_api_info(self, api_url: str) -> ApiInfo | None:
        """The API's kind if it was probed already (no I/O)."""
        with self.lock:
            return self._api_infos.get(api_url)

    def api_info(self, api_url: str) -> ApiInfo:
        """The API's kind, probed once per sign-in (network I/O on first use; one probe at a time)."""
        with self.lock:
            info = self._api_infos.get(api_url)
            probe_lock = self._probe_locks.setdefault(api_url, threading.Lock())
        if info is not None:
            return info
        with probe_lock:
            with self.lock:
                info = self._api_infos.get(api_url)
            if info is None:
                info = self.api(api_url).probe()
                with self.lock:
                    self._api_infos[api_url] = info
        return info

    def signed_in(self, api_url: str) -> list[ActiveUpload]:
        """A new token is there for `api_url`: probe it again; return the uploads waiting for it."""
        api_url = normalize_api_url(api_url)
        with self.lock:
            self._api_infos.pop(api_url, None)
            return [
                u
                for u in self.uploads.values()
                if u.record.api_url == api_url and u.state is UploadState.NEEDS_SIGN_IN
            ]

    # --- waiting and closing ----------------------------------------------------------------------

    def wait(self, upload_refs: Iterable[int] | None, timeout: float | None) -> bool:
        """Block until none of the uploads (all of them: None) is active; False if `timeout` passed
        first. Each upload that stops is taken off the waiter's set, so waiting for 10,000 costs
        nothing per event."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            pending = set(self.active) if upload_refs is None else set(upload_refs) & self.active.keys()
            waiter = _Waiter(pending, every=upload_refs is None)
            self._waiters.append(waiter)
            try:
                while waiter.pending:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self.lock.wait(0.5 if remaining is None else min(remaining, 0.5))
                return True
            finally:
                self._waiters.remove(waiter)

    def _active_changed(self, upload_ref: int, active: bool) -> None:
        """Keep `active` and the waiters' sets up to date (the lock is held)."""
        if active:
            self.active.setdefault(upload_ref, self.uploads[upload_ref])
            for waiter in self._waiters:
                if waiter.every:
                    waiter.pending.add(upload_ref)
        else:
            self.active.pop(upload_ref, None)
            for waiter in self._waiters:
                waiter.pending.discard(upload_ref)

    def wait_idle(self, upload: ActiveUpload, timeout: float) -> bool:
        """Block until no part of the upload is in flight; False if `timeout` passed first."""
        with self.lock:
            return self.lock.wait_for(lambda: not upload.in_flight, timeout)

    def begin_close(self) -> bool:
        """Stop every upload's sends; False when the core was closing already."""
        with self.lock:
            if self.closing.is_set():
                return False
            self.closing.set()
            for upload in self.uploads.values():
                upload.stop_sends()
            self.lock.notify_all()
            self.work.notify_all()
            return True

    def finish_close(self, deadline: float) -> None:
        self._reporter.join(max(0.0, deadline - time.monotonic()))
        with self.lock:
            clients = list(self._clients.values())
        for client in clients:
            client.close()
        self.locks.release_all()
