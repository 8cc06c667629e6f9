"""The engine's worker threads and what they do with each job: start, send a part, finish.

A worker holds one keep-alive connection per S3 endpoint, so the number of workers is the number of
connections. Failures are sorted here: a stopped part goes back to the queue, an expired URL is signed
again without spending a retry, a transient error backs off, a 401 waits for sign-in, the rest fails the
upload with a message for the user (it stays resumable: only the user's cancel aborts it).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.core.api import PresignedUrl
from app.core.errors import (
    FileChangedError,
    InvalidRequestError,
    NotThisApiError,
    ServerError,
    UploadError,
    UploadGoneError,
)
from app.core.fingerprint import check_unchanged
from app.core.journal import JournalPart
from app.core.models import UploadState
from app.core.planner import plan_parts
from app.core.steps import plan_for_api, reconcile, start_upload, verify_link
from app.core.transfer import ConnectionCache, PartStopped, UrlExpiredError, send_part
from app.core.upload import ActiveUpload, record_identity

if TYPE_CHECKING:
    from app.core.manager import UploadManager

log = logging.getLogger(__name__)

PRESIGN_BATCH = 16  # URLs asked for at once, just before they are needed
MAX_EXPIRED_IN_A_ROW = 3  # then an expired URL counts as a failed attempt (e.g. a wrong clock)
SOCKET_TIMEOUT = 60.0
_ACTIVE = (UploadState.QUEUED, UploadState.UPLOADING, UploadState.FINALIZING)


class JobKind(enum.Enum):
    PREPARE = "prepare"  # start the multipart upload, or reconcile a resumed one
    PART = "part"
    FINALIZE = "finalize"


@dataclass(frozen=True)
class Job:
    kind: JobKind
    upload: ActiveUpload
    part_number: int = 0
    plan_generation: int = 0


class _Replanned(Exception):
    """The part size changed while this job waited; its part number means nothing now."""


class Worker(threading.Thread):
    """Takes jobs from the manager until it is told to stop."""

    def __init__(self, manager: UploadManager, index: int) -> None:
        super().__init__(name=f"s3up-worker-{index}", daemon=True)
        self.manager = manager
        self.index = index
        self.connections = ConnectionCache(timeout=SOCKET_TIMEOUT)

    def run(self) -> None:
        try:
            while (job := self.manager.next_job(self)) is not None:
                try:
                    if job.kind is JobKind.PREPARE:
                        self._prepare(job.upload)
                    elif job.kind is JobKind.PART:
                        self._send(job)
                    else:
                        self._finalize(job.upload)
                except Exception as error:  # a bug must fail one upload, not kill the worker
                    log.exception("Unexpected error in %s job of upload %s", job.kind.value, job.upload.id)
                    self._fail(job.upload, UploadError(f"An unexpected error stopped this upload ({error})."))
        finally:
            self.connections.close()

    # --- prepare ----------------------------------------------------------------------------------

    def _prepare(self, upload: ActiveUpload) -> None:
        m = self.manager
        try:
            self._check_file(upload)
            info = m.api_info(upload.record.api_url)
            api = m.client_for(upload.record.api_url)
            if upload.upload_id is not None and info.extended:
                try:
                    done = reconcile(
                        api, m.journal, upload.record, upload.upload_id, upload.plan, upload.done
                    )
                except UploadGoneError:
                    log.info("Upload %s is gone on the server; starting it again", upload.id)
                    self._forget_remote(upload)
                else:
                    with m.lock:
                        upload.done = done
                        upload.rebuild_pending()
            if upload.upload_id is None:
                plan = plan_for_api(upload.record, info, upload.record.part_size or None)
                with m.lock:
                    upload.plan, upload.done = plan, {}
                    upload.plan_generation += 1
                    upload.rebuild_pending()
                upload_id = start_upload(api, info, m.journal, upload.record, plan)
                with m.lock:
                    upload.upload_id = upload_id
            with m.lock:
                upload.prepared = True
                upload.step_attempts = 0
            # It stays queued until a connection is free for its first part.
        except UploadError as error:
            self._step_failed(upload, error)
        finally:
            self._step_finished(upload)

    def _upload_gone(self, upload: ActiveUpload, error: UploadGoneError) -> None:
        """S3 lost the multipart upload: fail it, so that Retry starts a new one from the first byte."""
        self._forget_remote(upload)
        self._fail(upload, UploadError(f"{error.message} Retry uploads the file again from the start."))

    def _forget_remote(self, upload: ActiveUpload) -> None:
        m = self.manager
        m.journal.forget_parts(upload.id)
        m.journal.set_upload_id(upload.id, None)
        with m.lock:
            upload.upload_id = None
            upload.done = {}
            upload.urls.clear()
            upload.prepared = False

    # --- parts ------------------------------------------------------------------------------------

    def _send(self, job: Job) -> None:
        m, upload, number = self.manager, job.upload, job.part_number
        try:
            if job.plan_generation != upload.plan_generation:
                raise _Replanned()
            m.set_state(upload, UploadState.UPLOADING, only_from=(UploadState.QUEUED,))
            url = self._url_for(upload, number, job.plan_generation)
            part = upload.plan.part(number)
            with upload.record.path.open("rb") as file:
                sent = send_part(
                    url.url,
                    url.expires_at,
                    file,
                    part.offset,
                    part.length,
                    connections=self.connections,
                    stopper=upload.stopper,
                    on_progress=lambda amount: self._progress(upload, number, amount, job.plan_generation),
                    limiter=m.limiter,
                )
            m.journal.record_part(upload.id, number, sent.etag, part.length)
        except _Replanned:
            return
        except PartStopped:
            self._release(upload, number, job.plan_generation, put_back=True)
        except UrlExpiredError as error:
            self._url_expired(upload, number, job.plan_generation, error)
        except UploadError as error:
            self._part_failed(upload, number, job.plan_generation, error)
        except OSError as error:
            self._release(upload, number, job.plan_generation, put_back=True)
            self._fail(upload, self._file_error(upload, error))
        else:
            with m.lock:
                if job.plan_generation == upload.plan_generation:
                    upload.in_flight.pop(number, None)
                    upload.done[number] = JournalPart(number, sent.etag, part.length)
                    upload.attempts.pop(number, None)
                    upload.expirations.pop(number, None)
                    upload.progress_dirty = True
                m.release_if_idle(upload)
                m.lock.notify_all()

    def _progress(self, upload: ActiveUpload, number: int, amount: int, generation: int) -> None:
        with self.manager.lock:
            if generation == upload.plan_generation and number in upload.in_flight:
                upload.in_flight[number] += amount
                upload.progress_dirty = True
        upload.meter.add(amount)

    def _release(self, upload: ActiveUpload, number: int, generation: int, *, put_back: bool) -> bool:
        """Take a part off the in-flight list; False when the plan changed under it."""
        with self.manager.lock:
            if generation != upload.plan_generation:
                return False
            upload.in_flight.pop(number, None)
            upload.progress_dirty = True
            if put_back:
                upload.put_back(number)
            self.manager.release_if_idle(upload)
            self.manager.lock.notify_all()
            return True

    def _url_expired(self, upload: ActiveUpload, number: int, generation: int, error: UploadError) -> None:
        with self.manager.lock:
            upload.urls.pop(number, None)
            upload.expirations[number] = upload.expirations.get(number, 0) + 1
            in_a_row = upload.expirations[number]
        if in_a_row > MAX_EXPIRED_IN_A_ROW:
            clock_note = " (if this goes on, check that this computer's clock is right)"
            self._part_failed(upload, number, generation, ServerError(error.message + clock_note))
        else:
            log.info("Upload %s part %d: URL expired, signing it again", upload.id, number)
            self._release(upload, number, generation, put_back=True)

    def _part_failed(self, upload: ActiveUpload, number: int, generation: int, error: UploadError) -> None:
        m = self.manager
        if not self._release(upload, number, generation, put_back=not error.transient):
            return
        if isinstance(error, UploadGoneError):
            self._upload_gone(upload, error)
            return
        if error.needs_sign_in:
            m.set_state(upload, UploadState.NEEDS_SIGN_IN, error.message, only_from=_ACTIVE)
            return
        with m.lock:
            attempts = upload.attempts.get(number, 0) + 1
            upload.attempts[number] = attempts
            retry = m.retry_policy.should_retry(error, attempts)
            if retry:
                upload.retry_at[number] = time.monotonic() + m.retry_policy.delay(attempts)
                m.lock.notify_all()
        if retry:
            log.info(
                "Upload %s part %d failed (attempt %d), will retry: %s", upload.id, number, attempts, error
            )
        else:
            self._fail(upload, error)

    def _url_for(self, upload: ActiveUpload, number: int, generation: int) -> PresignedUrl:
        """A fresh URL for the part, signing it (with the next ones) when there is none."""
        m = self.manager
        with upload.presign_lock:
            if generation != upload.plan_generation:
                raise _Replanned()
            cached = upload.urls.get(number)
            if cached is not None and cached.usable(time.time(), self._send_estimate(upload)):
                return cached
            info = m.api_info(upload.record.api_url)
            api = m.client_for(upload.record.api_url)
            assert upload.upload_id is not None
            if info.extended:
                fresh = api.presign(
                    upload.upload_id,
                    upload.record.key,
                    part_numbers=self._batch(upload, number),
                    accelerate=upload.record.accelerate,
                )
            else:
                fresh = self._presign_all(upload, generation)
            with m.lock:
                upload.urls.update(fresh)
            if number not in fresh:
                raise NotThisApiError(f"The API returned no URL for part {number}.")
            return fresh[number]

    def _send_estimate(self, upload: ActiveUpload) -> float:
        """Seconds one part is expected to take at the speed each connection gets now (0 when unknown)."""
        with self.manager.lock:
            connections = max(1, len(upload.in_flight))
        per_connection = upload.meter.speed() / connections
        return upload.plan.part_size / per_connection if per_connection > 0 else 0.0

    def _batch(self, upload: ActiveUpload, number: int) -> list[int]:
        now = time.time()
        with self.manager.lock:
            wanted = [number]
            candidates = sorted(upload.in_flight) + list(upload.pending)
            for other in candidates:
                if len(wanted) >= PRESIGN_BATCH:
                    break
                cached = upload.urls.get(other)
                if other not in wanted and other not in upload.done and not (cached and cached.usable(now)):
                    wanted.append(other)
            return sorted(wanted)

    def _presign_all(self, upload: ActiveUpload, generation: int) -> dict[int, PresignedUrl]:
        """The existing deployment signs every part in one call; when that call times out before any
        part was sent, the file is planned again with half as many parts."""
        m = self.manager
        api = m.client_for(upload.record.api_url)
        assert upload.upload_id is not None
        while True:
            try:
                return api.presign(
                    upload.upload_id,
                    upload.record.key,
                    count=upload.plan.count,
                    accelerate=upload.record.accelerate,
                )
            except ServerError as error:
                can_replan = error.status in (502, 504) and not upload.done and not upload.record.part_size
                if not can_replan or upload.plan.count == 1:
                    raise
                plan = plan_parts(upload.record.size, max_parts=max(1, upload.plan.count // 2))
                log.info(
                    "Signing %d URLs timed out; planning %d parts instead", upload.plan.count, plan.count
                )
                m.journal.set_plan(upload.id, plan.part_size)
                with m.lock:
                    upload.plan = plan
                    upload.plan_generation += 1
                    upload.in_flight.clear()
                    upload.urls.clear()
                    upload.rebuild_pending()
                    m.lock.notify_all()
                raise _Replanned() from error

    # --- finalize ---------------------------------------------------------------------------------

    def _finalize(self, upload: ActiveUpload) -> None:
        m = self.manager
        try:
            self._check_file(upload)
            started = m.set_state(
                upload, UploadState.FINALIZING, only_from=(UploadState.QUEUED, UploadState.UPLOADING)
            )
            if not started and upload.state is not UploadState.FINALIZING:
                return  # paused or cancelled meanwhile
            api = m.client_for(upload.record.api_url)
            assert upload.upload_id is not None
            with m.lock:
                parts = [(number, part.etag) for number, part in sorted(upload.done.items())]
            result = api.finalize(
                upload.upload_id, upload.record.key, parts, cdn_base_url=upload.record.cdn_base_url
            )
            verified = verify_link(result.url, upload.record.size, m.closing_event)
            m.journal.set_finished(upload.id, result.url, verified)
            with m.lock:
                upload.url, upload.link_verified, upload.finished_at = result.url, verified, time.time()
            m.set_state(upload, UploadState.DONE)
        except InvalidRequestError as error:
            # S3 refused the part list: find out which parts it really has, then send the rest again.
            info = m.api_info(upload.record.api_url)
            if info.extended and upload.step_attempts < 2:
                with m.lock:
                    upload.prepared = False
                    upload.step_attempts += 1
                m.set_state(upload, UploadState.UPLOADING, only_from=(UploadState.FINALIZING,))
            else:
                self._fail(upload, error)
        except UploadGoneError as error:
            self._upload_gone(upload, error)
        except UploadError as error:
            self._step_failed(upload, error)
        finally:
            self._step_finished(upload)

    # --- shared -----------------------------------------------------------------------------------

    def _step_finished(self, upload: ActiveUpload) -> None:
        """A prepare or finalize step ended (either way): the scheduler may pick the upload again."""
        with self.manager.lock:
            upload.busy = False
            self.manager.release_if_idle(upload)
            self.manager.lock.notify_all()

    def _check_file(self, upload: ActiveUpload) -> None:
        problem = check_unchanged(upload.record.path, record_identity(upload.record))
        if problem:
            raise FileChangedError(problem)

    def _file_error(self, upload: ActiveUpload, error: OSError) -> UploadError:
        record = upload.record
        problem = check_unchanged(record.path, record_identity(record))
        return (
            FileChangedError(problem) if problem else UploadError(f"Reading {record.path} failed: {error}.")
        )

    def _step_failed(self, upload: ActiveUpload, error: UploadError) -> None:
        m = self.manager
        if error.needs_sign_in:
            m.set_state(upload, UploadState.NEEDS_SIGN_IN, error.message, only_from=_ACTIVE)
            return
        if not isinstance(error, FileChangedError):
            with m.lock:
                upload.step_attempts += 1
                retry = m.retry_policy.should_retry(error, upload.step_attempts)
                if retry:
                    upload.step_retry_at = time.monotonic() + m.retry_policy.delay(upload.step_attempts)
            if retry:
                log.info("Upload %s: %s; trying again", upload.id, error)
                return
        self._fail(upload, error)

    def _fail(self, upload: ActiveUpload, error: UploadError) -> None:
        changed = isinstance(error, FileChangedError)
        state = UploadState.FILE_CHANGED if changed else UploadState.FAILED
        stopper = upload.stopper  # taken first: a resume right after the change gets a new one
        if self.manager.set_state(upload, state, error.message, only_from=_ACTIVE) and changed:
            stopper.stop()  # the other parts in flight would send the changed bytes
