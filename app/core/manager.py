"""The engine's public face: add files, pause, resume, cancel, watch progress.

`UploadManager` is what the CLI and the app call, and only that: each method is a user's command or a
question about the uploads. Behind it, `core.EngineCore` owns the uploads and their states, and
`dispatcher.Dispatcher` feeds a pool of worker threads (one per allowed connection) with jobs: start (or
reconcile) an upload, send one part, or finish an upload. At most `per_file_connections` parts of one
file are in flight, and each file is finalized as soon as its own last part lands.

Every state change is written to the journal and reported at once to subscribers; byte progress is
reported at most 10 times a second per upload. Subscribers are called on engine threads and must return
quickly. Build one with `engine.open_engine`, which also opens the journal.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from app.core.adding import ADD_GROUP, new_upload
from app.core.api import normalize_api_url
from app.core.commands import Action, Command, CommandResult
from app.core.core import EngineCore, Subscriber, TokenSource
from app.core.dispatcher import Dispatcher
from app.core.errors import InvalidRequestError, UploadError
from app.core.fingerprint import file_problem
from app.core.journal import Journal
from app.core.keys import KeyTemplateError, check_key
from app.core.models import AddResult, TransferSettings, UploadRequest, UploadStatus
from app.core.ownership import BusyElsewhereError
from app.core.remote import (
    RemoteUnfinished,
    adoption,
    expiry_of,
    find,
    local_match,
    require_listing,
    unfinished_uploads,
)
from app.core.restore import load_uploads, plan_of
from app.core.retry import RetryPolicy
from app.core.states import ACTIVE_STATES, RESUMABLE_STATES, STOPPED_STATES, Event, UploadState
from app.core.steps import abort_quietly, start_upload
from app.core.upload import ActiveUpload, status_from_record

log = logging.getLogger(__name__)

PAUSE_SETTLE_SECONDS = 2.0  # how long pause() waits for the parts in flight to stop


class UploadManager:
    """Runs uploads. Every method is thread-safe; `add`, `cancel`, `remove`, `restore` and `history`
    touch the disk or the network and should not be called on a GUI thread."""

    def __init__(
        self,
        journal: Journal,
        token_source: TokenSource,
        settings: TransferSettings | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        settings = settings or TransferSettings()
        retry_policy = retry_policy or RetryPolicy(max_attempts=settings.max_attempts)
        self._core = EngineCore(journal, token_source, settings, retry_policy)
        self._dispatcher = Dispatcher(self._core)
        self._dispatcher.resize_pool()

    # --- adding and listing -----------------------------------------------------------------------

    def add_many(self, requests: Sequence[UploadRequest]) -> AddResult:
        """Check and queue many files (a folder); those that cannot be added come back with the reason,
        the others are queued. They are recorded in the journal in groups (one disk flush per group),
        and each group starts while the next is checked."""
        core = self._core
        added: list[UploadStatus] = []
        refused: list[tuple[UploadRequest, UploadError]] = []
        for start in range(0, len(requests), ADD_GROUP):
            group = []
            for request in requests[start : start + ADD_GROUP]:
                try:
                    group.append(new_upload(request, core.settings))
                except UploadError as error:
                    refused.append((request, error))
            # Locked inside the insert, before another process can see them.
            for record in core.journal.create_uploads(group, claim=core.locks.acquire):
                upload = ActiveUpload(
                    record=record,
                    plan=plan_of(record),
                    done={},
                    state=UploadState.QUEUED,
                    part_size_fixed=record.part_size_fixed,
                )
                upload.rebuild_pending()
                core.register(upload, wake_worker=False)
                core.emit(upload)
                with core.lock:
                    added.append(upload.snapshot())
            with core.lock:
                core.changed()  # one wake-up for the group: the worker that starts them wakes the next
        return AddResult(added, refused)

    def restore(self) -> list[UploadStatus]:
        """Load the journal's unfinished uploads, paused (or marked when their file changed or went)."""
        core = self._core
        listed = [record for record in core.journal.unfinished() if core.find(record.id) is None]
        restored = []
        for upload in load_uploads(core.journal, core.locks, listed):
            core.register(upload)
            with core.lock:
                restored.append(upload.snapshot())
        return restored

    def history(self, limit: int = 500) -> list[UploadStatus]:
        """Finished uploads, newest first, with their links."""
        return [status_from_record(record) for record in self._core.journal.history(limit)]

    def statuses(self) -> list[UploadStatus]:
        """Every upload this manager holds, in the order added."""
        with self._core.lock:
            return [upload.snapshot() for upload in self._core.uploads.values()]

    def status(self, upload_ref: int) -> UploadStatus | None:
        upload = self._core.find(upload_ref)
        if upload is None:
            return None
        with self._core.lock:
            return upload.snapshot()

    # --- controls -------------------------------------------------------------------------------

    def pause(self, upload_ref: int) -> None:
        """Stop sending: in-flight parts stop at once (their bytes are sent again on resume)."""
        core = self._core
        upload = core.get(upload_ref)
        with core.lock:
            if upload.state not in ACTIVE_STATES:
                return
            upload.stopper.stop()
        if core.apply(upload, Event.PAUSE):
            # Stopped parts come back at once: once they have, the upload's lock is free for another
            # process (a step that is running, such as a finalize, keeps it until it ends).
            core.wait_idle(upload, PAUSE_SETTLE_SECONDS)

    def resume(self, upload_ref: int) -> None:
        """Continue a paused, failed or signed-out upload (after checking its file is unchanged).

        Raises BusyElsewhereError when another process is sending it.
        """
        core = self._core
        upload = core.get(upload_ref)
        with core.lock:
            if upload.state not in STOPPED_STATES:
                return
        core.take_over(upload)
        if upload.state.is_finished:  # another process finished or cancelled it meanwhile
            return
        problem = file_problem(upload.record.path, upload.record.identity)
        if problem:  # (and the lock goes)
            core.apply(upload, Event.FILE_MISSING if problem.missing else Event.FILE_CHANGED, problem.message)
            return
        with core.lock:
            upload.reset_for_resume()
            upload.prepared = False  # reconcile with the server before sending more
        try:
            core.apply(upload, Event.QUEUE)
        except BusyElsewhereError as busy:  # another process took it since take_over
            core.show_busy(upload, busy)
            raise

    def cancel(self, upload_ref: int) -> None:
        """Stop the upload for good and abort its multipart upload on the server (network I/O).

        The journal records the cancel before the server is asked, so that an interruption (Ctrl-C, a
        network error) leaves a cancelled upload, never a half-cancelled one. Raises BusyElsewhereError
        when another process is sending it.
        """
        core = self._core
        upload = core.get(upload_ref)
        with core.lock:
            if upload.state.is_finished:
                return
        core.take_over(upload)
        with core.lock:
            if upload.state.is_finished:
                return
            upload.stopper.stop()
            upload_id = upload.upload_id
        core.journal.forget_parts(upload.id)
        with core.lock:
            upload.done.clear()
            upload.in_flight.clear()
        if not core.apply(upload, Event.CANCEL):
            return
        note = self._abort_on_server(upload, upload_id)
        if note:
            core.journal.set_state(upload.id, UploadState.CANCELLED, note)
            with core.lock:
                upload.message = note
            core.emit(upload)

    def _abort_on_server(self, upload: ActiveUpload, upload_id: str | None) -> str | None:
        """Delete the upload's parts on the server; a note for the user when that was not possible.

        An upload whose start was never recorded may still exist on an API that takes idempotency
        keys (the process died before the answer came back): the same key finds it, to abort it."""
        core = self._core
        api = core.api(upload.record.api_url)
        record = upload.record
        if upload_id is None and record.idempotency_key:
            try:
                info = core.api_info(record.api_url)
                if not info.has("clientToken"):
                    return None
                upload_id = start_upload(api, info, record).file_id
            except UploadError as error:
                log.info("Could not look for the started upload of %s: %s", record.key, error)
                return None
        return abort_quietly(api, upload_id, record.key) if upload_id else None

    def resolve_conflict(
        self, upload_id: int, *, overwrite: bool = False, new_key: str | None = None
    ) -> None:
        """An object exists at the upload's key: overwrite it, or send the file under `new_key`. The
        upload starts again (the API decides on overwriting when an upload starts).

        Raises InvalidRequestError (a bad key, or neither choice given) and BusyElsewhereError.
        """
        core = self._core
        upload = core.get(upload_id)
        if not overwrite and new_key is None:
            raise InvalidRequestError("Choose to overwrite the object at the key, or give another key.")
        if new_key is not None:
            try:
                check_key(new_key)
            except KeyTemplateError as error:
                raise InvalidRequestError(error.message) from error
        with core.lock:
            if upload.state.is_finished:
                return
        core.take_over(upload)
        if upload.state.is_finished:  # another process resolved and finished (or cancelled) it meanwhile
            return
        record = upload.record
        if upload.upload_id is not None:  # sent for a request that changes: those parts go
            abort_quietly(core.api(record.api_url), upload.upload_id, record.key)
        key = new_key if new_key is not None else record.key
        core.journal.change_request(upload.id, key=key, overwrite=overwrite or record.overwrite)
        core.journal.restart(upload.id, uuid.uuid4().hex)  # a new start, under a new idempotency key
        with core.lock:
            upload.record = core.journal_record(upload.id) or upload.record
            upload.upload_id, upload.done, upload.signer, upload.single = None, {}, None, False
            upload.plan_generation += 1
        self.resume(upload_id)

    def _remove(self, upload_ref: int) -> None:
        """Take the upload off the list (cancelling it first when it is not finished)."""
        upload = self._core.find(upload_ref)
        if upload is not None and not upload.state.is_finished:
            self.cancel(upload_ref)
        self._core.journal.hide(upload_ref)
        self._core.forget(upload_ref)

    def execute(self, command: Command) -> CommandResult:
        """Apply one command to each of its uploads, in order. One upload that refuses (e.g. it is being
        sent by another process) does not keep the others from it; the refusals are returned."""
        method: Callable[[int], None] = {
            Action.PAUSE: self.pause,
            Action.RESUME: self.resume,
            Action.RETRY: self.resume,
            Action.CANCEL: self.cancel,
            Action.REMOVE: self._remove,
        }[command.action]
        done: list[int] = []
        refused: list[tuple[int, UploadError]] = []
        for upload_ref in command.upload_ids:
            try:
                method(upload_ref)
            except UploadError as error:
                refused.append((upload_ref, error))
            else:
                done.append(upload_ref)
        return CommandResult(tuple(done), tuple(refused))

    # --- every unfinished upload in reach -------------------------------------------------------

    def remote_uploads(self, api_url: str) -> list[RemoteUnfinished]:
        """The user's unfinished uploads on this API, from any computer, newest first: what S3 holds
        of each and, when it was started here, its number in this journal (network I/O).

        Raises NotThisApiError (a sentence saying it needs this project's API) on the existing
        deployment, and the API's UploadErrors."""
        core = self._core
        api_url = normalize_api_url(api_url)
        return unfinished_uploads(core.api(api_url), core.api_info(api_url), core.journal)

    def adopt_remote(self, api_url: str, file_id: str, path: Path) -> UploadStatus:
        """Go on with an unfinished upload started elsewhere (or whose journal entry was lost), sending
        the rest of the file at `path` ("Locate file…"). The file is accepted only when every part
        already sent has its bytes; otherwise InvalidRequestError says which part differs. An upload
        this journal knows is simply resumed."""
        core = self._core
        api_url = normalize_api_url(api_url)
        api, info = core.api(api_url), core.api_info(api_url)
        require_listing(info)
        known = local_match(core.journal, file_id)
        if (
            known is not None
            and core.find(known.id) is not None
            and known.path == path.expanduser().absolute()
        ):
            self.resume(known.id)
            return self._status_of(known.id)
        upload = find(api, file_id)
        new, plan, parts = adoption(api, info, upload, path)
        if known is not None:  # the old entry named another file: this one replaces it
            core.journal.hide(known.id)
            core.forget(known.id)
        (record,) = core.journal.create_uploads([new], claim=core.locks.acquire)
        core.journal.set_started(record.id, file_id, plan.part_size, parts_expire_at=expiry_of(upload, info))
        for part in parts:
            core.journal.record_part(record.id, part.number, part.etag, part.size)
        record = core.journal_record(record.id) or record
        active = ActiveUpload(
            record=record, plan=plan, done={p.number: p for p in parts}, state=UploadState.PAUSED,
            upload_id=file_id, part_size_fixed=True,
        )  # fmt: skip
        active.rebuild_pending()
        core.register(active)
        core.locks.release(record.id)
        self.resume(record.id)
        return self._status_of(record.id)

    def abort_remote(self, api_url: str, file_id: str) -> None:
        """Cancel an unfinished upload started anywhere: the server deletes its parts. An upload this
        journal knows is cancelled here too (BusyElsewhereError when another process sends it)."""
        core = self._core
        api_url = normalize_api_url(api_url)
        api = core.api(api_url)
        require_listing(core.api_info(api_url))
        known = local_match(core.journal, file_id)
        if known is not None and not known.state.is_finished:
            if core.find(known.id) is None:
                self.restore()
            if core.find(known.id) is not None:
                self.cancel(known.id)
                return
        upload = find(api, file_id)
        api.abort(upload.file_id, upload.file_key)

    def _status_of(self, upload_ref: int) -> UploadStatus:
        status = self.status(upload_ref)
        assert status is not None
        return status

    def pause_all(self) -> None:
        for upload_ref in self._core.refs():
            self.pause(upload_ref)

    def resume_all(self) -> None:
        """Resume every upload that can be without the user's help; those another process is sending
        say so and are skipped."""
        for upload_ref in self._core.refs():
            upload = self._core.find(upload_ref)
            if upload is None or upload.state not in RESUMABLE_STATES:
                continue
            try:
                self.resume(upload_ref)
            except BusyElsewhereError:
                continue

    def credentials_changed(self, api_url: str) -> None:
        """A new token was stored for `api_url`: uploads waiting for sign-in there go on."""
        for upload in self._core.signed_in(api_url):
            try:
                self.resume(upload.id)
            except BusyElsewhereError:  # said on the upload; the others go on
                continue

    def update_settings(self, settings: TransferSettings) -> None:
        """Apply new limits to running transfers (connections, bandwidth, part size for new files)."""
        core = self._core
        with core.lock:
            core.settings = settings
            core.retry_policy.max_attempts = settings.max_attempts
            core.limiter.set_rate(settings.bandwidth_limit)
            core.changed()
        self._dispatcher.resize_pool()

    # --- watching ---------------------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(status)` on every change; returns a function that unsubscribes."""
        return self._core.subscribe(callback)

    def wait(self, upload_refs: Iterable[int] | None = None, timeout: float | None = None) -> bool:
        """Block until none of the uploads is queued or running; False if `timeout` passed first."""
        return self._core.wait(upload_refs, timeout)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every thread; running uploads stay resumable (the journal has their parts)."""
        if not self._core.begin_close():
            return
        deadline = time.monotonic() + timeout
        self._dispatcher.join(deadline)
        self._core.finish_close(deadline)
