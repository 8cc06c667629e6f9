"""The upload engine's public face: add files, pause, resume, cancel, watch progress.

`UploadManager` owns a pool of worker threads (one per allowed connection). Workers take jobs from a
scheduler that walks the uploads in the order they were added: start (or reconcile) an upload, send one
part, or finish an upload. At most `per_file_connections` parts of one file are in flight, and each file
is finalized as soon as its own last part lands.

Every state change is written to the journal and reported at once to subscribers; byte progress is
reported by a reporter thread at most 10 times a second per upload. Subscribers are called on engine
threads and must return quickly.

Several processes (the app, `s3up` commands) may share one journal: an upload is sent only by the
process holding its lock (`ownership.UploadLocks`), from the moment it is added or resumed until it is
paused, fails or ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from app.core.api import ApiClient, ApiInfo, normalize_api_url
from app.core.bandwidth import BandwidthLimiter
from app.core.errors import InvalidRequestError
from app.core.fingerprint import check_unchanged, identify
from app.core.journal import Journal
from app.core.keys import KeyTemplateError, check_key
from app.core.models import TransferSettings, UploadRequest, UploadState, UploadStatus
from app.core.ownership import BusyElsewhereError, UploadLocks
from app.core.planner import plan_parts
from app.core.restore import load_upload, plan_of
from app.core.retry import RetryPolicy
from app.core.scheduler import pick_job
from app.core.steps import abort_quietly
from app.core.upload import ActiveUpload, record_identity, status_from_record
from app.core.worker import Job, Worker

log = logging.getLogger(__name__)

Subscriber = Callable[[UploadStatus], None]
TokenSource = Callable[[str], str | None]
REPORT_INTERVAL = 0.1
# States in which this process stops working on an upload, so another process may take it over.
_LETS_GO = frozenset(
    {
        UploadState.PAUSED,
        UploadState.FAILED,
        UploadState.FILE_CHANGED,
        UploadState.CANCELLED,
        UploadState.DONE,
    }
)


class UploadManager:
    """Runs uploads. Every public method is thread-safe; `add`, `cancel`, `remove`, `restore` and
    `history` touch the disk or the network and should not be called on a GUI thread."""

    def __init__(
        self,
        journal: Journal,
        token_source: TokenSource,
        settings: TransferSettings | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        cdn_base_urls: Callable[[str], str | None] | None = None,
    ) -> None:
        self.journal = journal
        self.locks = UploadLocks(journal.path.parent / f"{journal.path.stem}-locks")
        self.settings = settings or TransferSettings()
        self.retry_policy = retry_policy or RetryPolicy(max_attempts=self.settings.max_attempts)
        self._token_source = token_source
        self.limiter = BandwidthLimiter(self.settings.bandwidth_limit)
        self.lock = threading.Condition(threading.RLock())
        self._uploads: dict[int, ActiveUpload] = {}
        self._clients: dict[str, ApiClient] = {}
        self._api_infos: dict[str, ApiInfo] = {}
        self._subscribers: list[Subscriber] = []
        self._workers: list[Worker] = []
        self._closing = threading.Event()
        self._reporter = threading.Thread(target=self._report_loop, name="s3up-reporter", daemon=True)
        self._reporter.start()
        self._resize_pool()

    # --- subscribers ------------------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(status)` on every change; returns a function that unsubscribes."""
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
            status = upload.snapshot()
            upload.progress_dirty = False
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(status)
            except Exception:  # a subscriber's bug must not stop the engine
                log.exception("A progress subscriber failed")

    # --- adding and restoring ---------------------------------------------------------------------

    def add(self, request: UploadRequest) -> UploadStatus:
        """Check the request and queue it. Raises InvalidRequestError with a sentence for the user."""
        path = request.path.expanduser().absolute()
        try:
            check_key(request.key)
        except KeyTemplateError as error:
            raise InvalidRequestError(str(error)) from error
        try:
            identity = identify(path)
        except FileNotFoundError:
            raise InvalidRequestError(f"{path} does not exist.") from None
        except IsADirectoryError:
            raise InvalidRequestError(f"{path} is not a regular file.") from None
        except PermissionError:
            raise InvalidRequestError(f"{path} cannot be read (permission denied).") from None
        except OSError as error:
            raise InvalidRequestError(f"{path} cannot be read ({error.strerror or error}).") from None
        part_size = request.part_size or self.settings.part_size
        plan = plan_parts(identity.size, part_size)
        record = self.journal.create_upload(
            api_url=normalize_api_url(request.api_url),
            path=path,
            size=identity.size,
            mtime_ns=identity.mtime_ns,
            fingerprint=identity.fingerprint,
            key=request.key,
            metadata=dict(request.metadata),
            content_type=request.content_type,
            part_size=plan.part_size if part_size else 0,  # 0: automatic, planned when it starts
            state=UploadState.QUEUED,
            overwrite=request.overwrite,
            accelerate=request.accelerate or self.settings.accelerate,
            cdn_base_url=request.cdn_base_url,
            claim=self.locks.acquire,  # locked before another process can see it
        )
        upload = ActiveUpload(record=record, plan=plan, done={}, state=UploadState.QUEUED)
        upload.rebuild_pending()
        with self.lock:
            self._uploads[record.id] = upload
            self.lock.notify_all()
        self.emit(upload)
        return upload.snapshot()

    def restore(self) -> list[UploadStatus]:
        """Load the journal's unfinished uploads, paused (or marked when their file changed)."""
        restored = []
        for record in self.journal.unfinished():
            with self.lock:
                if record.id in self._uploads:
                    continue
            upload = load_upload(self.journal, self.locks, record)
            if upload is None:
                continue
            with self.lock:
                self._uploads[record.id] = upload
            restored.append(upload.snapshot())
        return restored

    def history(self, limit: int = 500) -> list[UploadStatus]:
        """Finished uploads, newest first, with their links."""
        return [status_from_record(record) for record in self.journal.history(limit)]

    def statuses(self) -> list[UploadStatus]:
        """Every upload this manager holds, in the order added."""
        with self.lock:
            return [upload.snapshot() for upload in self._uploads.values()]

    def status(self, upload_ref: int) -> UploadStatus | None:
        with self.lock:
            upload = self._uploads.get(upload_ref)
            return upload.snapshot() if upload else None

    # --- controls -------------------------------------------------------------------------------

    def pause(self, upload_ref: int) -> None:
        """Stop sending: in-flight parts stop at once (their bytes are sent again on resume)."""
        upload = self._get(upload_ref)
        with self.lock:
            if upload.state.is_finished or upload.state in (UploadState.PAUSED, UploadState.FILE_CHANGED):
                return
            upload.stopper.stop()
        self.set_state(upload, UploadState.PAUSED)

    def resume(self, upload_ref: int) -> None:
        """Continue a paused, failed or signed-out upload (after checking its file is unchanged).

        Raises BusyElsewhereError when another process is sending it.
        """
        upload = self._get(upload_ref)
        with self.lock:
            if not (upload.state.can_resume or upload.state is UploadState.FILE_CHANGED):
                return
        self._take_over(upload)
        if upload.state.is_finished:  # another process finished or cancelled it meanwhile
            return
        problem = check_unchanged(upload.record.path, record_identity(upload.record))
        if problem:
            self.set_state(upload, UploadState.FILE_CHANGED, problem)  # and lets the lock go
            return
        with self.lock:
            upload.reset_for_resume()
            upload.prepared = False  # reconcile with the server before sending more
        try:
            self.set_state(upload, UploadState.QUEUED)
        except BusyElsewhereError as busy:  # another process took it since _take_over
            self._show_busy(upload, busy)
            raise

    retry = resume

    def _take_over(self, upload: ActiveUpload) -> None:
        """Lock the upload for this process and catch up with what other processes wrote meanwhile."""
        try:
            self.locks.acquire(upload.id)
        except BusyElsewhereError as busy:
            self._show_busy(upload, busy)
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
                upload.urls.clear()
                upload.plan_generation += 1
            upload.record, upload.plan, upload.done = record, plan, done
            upload.upload_id = record.upload_id
            upload.rebuild_pending()
            if record.state.is_finished:
                upload.state, upload.message = record.state, record.message
                upload.url, upload.link_verified = record.url, record.link_verified
                upload.finished_at = record.finished_at
        if record.state.is_finished:
            self.locks.release(upload.id, finished=True)
            self.emit(upload)

    def _show_busy(self, upload: ActiveUpload, busy: BusyElsewhereError) -> None:
        """Say on the upload why nothing happened (its journal entry is the other process's)."""
        with self.lock:
            upload.message = busy.message
            upload.sent_elsewhere = True
            upload.progress_dirty = True
        self.emit(upload)

    def cancel(self, upload_ref: int) -> None:
        """Stop the upload for good and abort its multipart upload on the server (network I/O).

        Raises BusyElsewhereError when another process is sending it.
        """
        upload = self._get(upload_ref)
        with self.lock:
            if upload.state.is_finished:
                return
        self._take_over(upload)
        with self.lock:
            if upload.state.is_finished:
                return
            upload.stopper.stop()
            upload_id = upload.upload_id
        note = None
        if upload_id:
            note = abort_quietly(self.client_for(upload.record.api_url), upload_id, upload.record.key)
        self.journal.forget_parts(upload.id)
        with self.lock:
            upload.done.clear()
            upload.in_flight.clear()
        self.set_state(upload, UploadState.CANCELLED, note)

    def remove(self, upload_ref: int) -> None:
        """Take the upload off the list (cancelling it first when it is not finished)."""
        with self.lock:
            upload = self._uploads.get(upload_ref)
        if upload is not None and not upload.state.is_finished:
            self.cancel(upload_ref)
        self.journal.hide(upload_ref)
        with self.lock:
            self._uploads.pop(upload_ref, None)

    def pause_all(self) -> None:
        for upload_ref in self._refs():
            self.pause(upload_ref)

    def resume_all(self) -> None:
        """Resume every upload that can be; those another process is sending say so and are skipped."""
        for upload_ref in self._refs():
            try:
                self.resume(upload_ref)
            except BusyElsewhereError:
                continue

    def credentials_changed(self, api_url: str) -> None:
        """A new token was stored for `api_url`: uploads waiting for sign-in there go on."""
        api_url = normalize_api_url(api_url)
        with self.lock:
            self._api_infos.pop(api_url, None)
            waiting = [
                u.id
                for u in self._uploads.values()
                if u.record.api_url == api_url and u.state is UploadState.NEEDS_SIGN_IN
            ]
        for upload_ref in waiting:
            try:
                self.resume(upload_ref)
            except BusyElsewhereError:  # said on the upload; the others go on
                continue

    def update_settings(self, settings: TransferSettings) -> None:
        """Apply new limits to running transfers (connections, bandwidth, part size for new files)."""
        with self.lock:
            self.settings = settings
            self.retry_policy.max_attempts = settings.max_attempts
            self.limiter.set_rate(settings.bandwidth_limit)
            self.lock.notify_all()
        self._resize_pool()

    def wait(self, upload_refs: Iterable[int] | None = None, timeout: float | None = None) -> bool:
        """Block until none of the uploads is queued or running; False if `timeout` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        refs = None if upload_refs is None else set(upload_refs)
        with self.lock:
            while True:
                busy = [
                    u for u in self._uploads.values() if (refs is None or u.id in refs) and u.state.is_active
                ]
                if not busy:
                    return True
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.lock.wait(0.5 if remaining is None else min(remaining, 0.5))

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every thread; running uploads stay resumable (the journal has their parts)."""
        with self.lock:
            if self._closing.is_set():
                return
            self._closing.set()
            for upload in self._uploads.values():
                upload.stopper.stop()
            self.lock.notify_all()
        deadline = time.monotonic() + timeout
        for worker in list(self._workers):
            worker.join(max(0.0, deadline - time.monotonic()))
        self._reporter.join(max(0.0, deadline - time.monotonic()))
        for client in self._clients.values():
            client.close()
        self.locks.release_all()

    # --- used by workers --------------------------------------------------------------------------

    @property
    def closing_event(self) -> threading.Event:
        """Set when the manager shuts down; waits that should end then wait on it."""
        return self._closing

    def client_for(self, api_url: str) -> ApiClient:
        with self.lock:
            client = self._clients.get(api_url)
            if client is None:
                client = ApiClient(api_url, lambda: self._token_source(api_url))
                self._clients[api_url] = client
            return client

    def api_info(self, api_url: str) -> ApiInfo:
        """The API's kind, probed once per sign-in (network I/O on first use)."""
        with self.lock:
            info = self._api_infos.get(api_url)
        if info is None:
            info = self.client_for(api_url).probe()
            with self.lock:
                self._api_infos[api_url] = info
        return info

    def set_state(
        self,
        upload: ActiveUpload,
        state: UploadState,
        message: str | None = None,
        *,
        only_from: Iterable[UploadState] | None = None,
    ) -> bool:
        """Change an upload's state, write it to the journal, and tell subscribers.

        With `only_from`, nothing changes unless the upload is in one of those states (so that a step
        finishing late does not undo the user's pause). Returns whether the state changed. Entering a
        state in which the engine works on the upload takes its lock (BusyElsewhereError when another
        process has it); leaving them lets the lock go once the upload is idle, after the journal has
        the new state.
        """
        try:
            with self.lock:
                if only_from is not None and upload.state not in set(only_from):
                    return False
                if upload.state is state and upload.message == message:
                    return False
                if state not in _LETS_GO:
                    self.locks.acquire(upload.id)
                upload.state = state
                upload.message = message
                self.lock.notify_all()
            if state is not UploadState.DONE:  # DONE is written with its link by set_finished
                self.journal.set_state(upload.id, state, message)
        finally:
            with self.lock:
                self.release_if_idle(upload)
        log.info(
            "Upload %s (%s): %s%s",
            upload.id,
            upload.record.key,
            state.value,
            f" - {message}" if message else "",
        )
        self.emit(upload)
        return True

    def release_if_idle(self, upload: ActiveUpload) -> None:
        """Let the upload's lock go when this process has stopped working on it: a stopping state, no
        step running and no part in flight. Call with the manager's lock held."""
        if upload.state in _LETS_GO and not upload.busy and not upload.in_flight:
            self.locks.release(upload.id, finished=upload.state.is_finished)

    def next_job(self, worker: Worker) -> Job | None:
        """Block until there is work for `worker`; None when it should exit."""
        with self.lock:
            while not self._closing.is_set():
                if worker.index >= self.settings.max_connections:
                    return None
                job, wake_at = pick_job(
                    self._uploads.values(), self.settings.per_file_connections, time.monotonic()
                )
                if job is not None:
                    return job
                timeout = None if wake_at is None else max(0.01, wake_at - time.monotonic())
                self.lock.wait(timeout if timeout is not None else 1.0)
            return None

    # --- internals --------------------------------------------------------------------------------

    def _get(self, upload_ref: int) -> ActiveUpload:
        with self.lock:
            upload = self._uploads.get(upload_ref)
        if upload is None:
            raise InvalidRequestError(f"There is no upload number {upload_ref}.")
        return upload

    def _refs(self) -> list[int]:
        with self.lock:
            return list(self._uploads)

    def _resize_pool(self) -> None:
        with self.lock:
            self._workers = [w for w in self._workers if w.is_alive()]
            wanted = 0 if self._closing.is_set() else self.settings.max_connections
            used = {w.index for w in self._workers}
            for index in range(wanted):
                if index not in used:
                    worker = Worker(self, index)
                    self._workers.append(worker)
                    worker.start()
            self.lock.notify_all()

    def _report_loop(self) -> None:
        last_full = 0.0
        while not self._closing.wait(REPORT_INTERVAL):
            now = time.monotonic()
            full = now - last_full >= 1.0  # speed and ETA move even when no byte does
            if full:
                last_full = now
            with self.lock:
                due = [
                    u
                    for u in self._uploads.values()
                    if u.progress_dirty or (full and u.state is UploadState.UPLOADING)
                ]
            for upload in due:
                self.emit(upload)
