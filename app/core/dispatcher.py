"""Feeds the workers and reads their outcomes: the engine's side of `jobs.WorkerHost`.

`next_job` picks work with `scheduler.pick_job` under the core's lock and hands the worker a snapshot;
`complete` turns each outcome into journal records and state changes on the core. Failures are sorted
here: a stopped part goes back to the queue, an expired URL is signed again without spending a retry,
a transient error backs off, a 401 waits for sign-in, the rest fails the upload with a message for the
user (it stays resumable: only the user's cancel aborts it).
"""

from __future__ import annotations

import logging
import threading
import time

from app.core.api import ApiClient, ApiInfo
from app.core.bandwidth import BandwidthLimiter
from app.core.core import EngineCore
from app.core.errors import FileChangedError, InvalidRequestError, ServerError, UploadError, UploadGoneError
from app.core.jobs import (
    Failed,
    Finalized,
    Job,
    JobKind,
    Outcome,
    PartSent,
    Prepared,
    Stopped,
    UrlExpired,
)
from app.core.journal import JournalPart
from app.core.scheduler import Pick, pick_job
from app.core.signing import UrlSigner
from app.core.states import Event, UploadState
from app.core.steps import abort_quietly
from app.core.upload import ActiveUpload
from app.core.worker import Worker

log = logging.getLogger(__name__)

MAX_EXPIRED_IN_A_ROW = 3  # then an expired URL counts as a failed attempt (e.g. a wrong clock)


class Dispatcher:
    """Hands jobs to a pool of workers and applies what they report. Thread-safe."""

    def __init__(self, core: EngineCore) -> None:
        self.core = core
        self._workers: list[Worker] = []

    # --- WorkerHost -------------------------------------------------------------------------------

    @property
    def closing(self) -> threading.Event:
        return self.core.closing

    @property
    def limiter(self) -> BandwidthLimiter:
        return self.core.limiter

    def api(self, api_url: str) -> ApiClient:
        return self.core.api(api_url)

    def api_info(self, api_url: str) -> ApiInfo:
        return self.core.api_info(api_url)

    def next_job(self, worker_index: int) -> Job | None:
        core = self.core
        while True:
            with core.lock:
                pick = None
                while not core.closing.is_set():
                    if worker_index >= core.settings.max_connections:
                        return None
                    pick, wake_at = pick_job(
                        core.uploads.values(), core.settings.per_file_connections, time.monotonic()
                    )
                    if pick is not None:
                        break
                    timeout = 1.0 if wake_at is None else max(0.01, wake_at - time.monotonic())
                    core.lock.wait(timeout)
                if pick is None:
                    return None
                job = self._job_for(pick)
            if self._begin(pick):
                return job

    def progress(self, job: Job, amount: int) -> None:
        upload = self.core.find(job.upload_ref)
        if upload is None:
            return
        with self.core.lock:
            if job.generation == upload.plan_generation and job.part_number in upload.in_flight:
                upload.in_flight[job.part_number] += amount
                upload.progress_dirty = True
        upload.meter.add(amount)

    def complete(self, job: Job, outcome: Outcome) -> None:
        upload = self.core.find(job.upload_ref)
        if upload is None:  # removed meanwhile
            return
        if job.kind is JobKind.PART:
            self._part_ended(upload, job, outcome)
            return
        try:
            if isinstance(outcome, Prepared):
                self._prepared(upload, job, outcome)
            elif isinstance(outcome, Finalized):
                self._finalized(upload, outcome)
            elif isinstance(outcome, Failed):
                self._step_failed(upload, job, outcome.error)
        finally:
            with self.core.lock:
                upload.busy = False
                self.core.release_if_idle(upload)
                self.core.lock.notify_all()

    # --- picking ----------------------------------------------------------------------------------

    def _job_for(self, pick: Pick) -> Job:
        """The worker's snapshot of what it needs (the core's lock is held)."""
        upload = pick.upload
        send_seconds = 0.0
        if pick.kind is JobKind.PART:
            per_connection = upload.meter.speed() / max(1, len(upload.in_flight))
            send_seconds = upload.plan.part_size / per_connection if per_connection > 0 else 0.0
        return Job(
            kind=pick.kind,
            record=upload.record,
            plan=upload.plan,
            generation=upload.plan_generation,
            stopper=upload.stopper,
            upload_id=upload.upload_id,
            signer=upload.signer,
            part_number=pick.part_number,
            known_parts=dict(upload.done) if pick.kind is not JobKind.PART else {},
            part_size_fixed=upload.part_size_fixed,
            send_seconds=send_seconds,
        )

    def _begin(self, pick: Pick) -> bool:
        """Apply the state change that taking the job means; False when the job is void (the user
        paused the upload between the pick and now)."""
        upload = self.core.find(pick.upload.id) or pick.upload
        if pick.kind is JobKind.PART:
            self.core.apply(upload, Event.SEND)
            return True
        if pick.kind is JobKind.FINALIZE and not self.core.apply(upload, Event.FINALIZE):
            with self.core.lock:
                if upload.state is UploadState.FINALIZING:  # a finalize step being tried again
                    return True
                upload.busy = False
                self.core.release_if_idle(upload)
                return False
        return True

    # --- steps ------------------------------------------------------------------------------------

    def _prepared(self, upload: ActiveUpload, job: Job, outcome: Prepared) -> None:
        core = self.core
        journal = core.journal
        if outcome.started:
            journal.set_plan(upload.id, outcome.plan.part_size)
            journal.set_upload_id(upload.id, outcome.upload_id)  # before any part of it is sent
        if outcome.forget:
            journal.forget_parts(upload.id, outcome.forget)
        for part in outcome.adopt:
            journal.record_part(upload.id, part.number, part.etag, part.size)
        info = core.api_info(upload.record.api_url)
        with core.lock:
            if outcome.upload_id != upload.upload_id or outcome.plan != upload.plan:
                upload.plan_generation += 1
            upload.upload_id, upload.plan, upload.done = outcome.upload_id, outcome.plan, dict(outcome.parts)
            upload.signer = self._signer(upload, info)
            upload.signer.add(outcome.urls)
            upload.rebuild_pending()
            upload.prepared = True
            upload.step_attempts = 0
            cancelled = upload.state.is_finished
        if cancelled:  # cancelled while it was being started: the new multipart upload goes too
            abort_quietly(core.api(upload.record.api_url), outcome.upload_id, upload.record.key)
        # It stays queued until a connection is free for its first part.

    def _signer(self, upload: ActiveUpload, info: ApiInfo) -> UrlSigner:
        assert upload.upload_id is not None

        def upcoming() -> list[int]:
            with self.core.lock:
                return [n for n in [*sorted(upload.in_flight), *upload.pending] if n not in upload.done]

        return UrlSigner(
            self.core.api(upload.record.api_url),
            upload.upload_id,
            upload.record.key,
            part_count=upload.plan.count,
            extended=info.extended,
            accelerate=upload.record.accelerate,
            upcoming=upcoming,
        )

    def _finalized(self, upload: ActiveUpload, outcome: Finalized) -> None:
        core = self.core
        core.journal.set_finished(upload.id, outcome.url, outcome.link_verified)
        with core.lock:
            upload.url, upload.link_verified, upload.finished_at = (
                outcome.url,
                outcome.link_verified,
                time.time(),
            )
        core.apply(upload, Event.FINISH)

    def _step_failed(self, upload: ActiveUpload, job: Job, error: UploadError) -> None:
        core = self.core
        if job.kind is JobKind.FINALIZE:
            if isinstance(error, UploadGoneError):
                self._upload_gone(upload, error)
                return
            if isinstance(error, InvalidRequestError):
                # S3 refused the part list: find out which parts it really has, then send the rest again.
                info = core.api_info(upload.record.api_url)
                if info.extended and upload.step_attempts < 2:
                    with core.lock:
                        upload.prepared = False
                        upload.step_attempts += 1
                    core.apply(upload, Event.RESEND)
                else:
                    self._fail(upload, error)
                return
        if error.needs_sign_in:
            core.apply(upload, Event.SIGN_IN, error.message)
            return
        if not isinstance(error, FileChangedError):
            with core.lock:
                upload.step_attempts += 1
                retry = core.retry_policy.should_retry(error, upload.step_attempts)
                if retry:
                    upload.step_retry_at = time.monotonic() + core.retry_policy.delay(upload.step_attempts)
            if retry:
                log.info("Upload %s: %s; trying again", upload.id, error)
                return
        self._fail(upload, error)

    # --- parts ------------------------------------------------------------------------------------

    def _part_ended(self, upload: ActiveUpload, job: Job, outcome: Outcome) -> None:
        number = job.part_number
        if isinstance(outcome, PartSent):
            self._part_sent(upload, job, outcome)
        elif isinstance(outcome, Stopped):
            self._release(upload, job, put_back=True)
        elif isinstance(outcome, UrlExpired):
            self._url_expired(upload, job, outcome.error)
        elif isinstance(outcome, Failed):
            self._part_failed(upload, job, outcome.error)
        else:
            raise AssertionError(f"unexpected outcome {outcome!r} for part {number}")

    def _part_sent(self, upload: ActiveUpload, job: Job, sent: PartSent) -> None:
        core = self.core
        with core.lock:
            current = job.generation == upload.plan_generation
        if current:
            core.journal.record_part(upload.id, job.part_number, sent.etag, sent.size)
        with core.lock:
            if current and job.generation == upload.plan_generation:
                upload.in_flight.pop(job.part_number, None)
                upload.done[job.part_number] = JournalPart(job.part_number, sent.etag, sent.size)
                upload.attempts.pop(job.part_number, None)
                upload.expirations.pop(job.part_number, None)
                upload.progress_dirty = True
            core.release_if_idle(upload)
            core.lock.notify_all()

    def _release(self, upload: ActiveUpload, job: Job, *, put_back: bool) -> bool:
        """Take a part off the in-flight list; False when the plan changed under it."""
        core = self.core
        with core.lock:
            if job.generation != upload.plan_generation:
                return False
            upload.in_flight.pop(job.part_number, None)
            upload.progress_dirty = True
            if put_back:
                upload.put_back(job.part_number)
            core.release_if_idle(upload)
            core.lock.notify_all()
            return True

    def _url_expired(self, upload: ActiveUpload, job: Job, error: UploadError) -> None:
        if job.signer is not None:
            job.signer.forget(job.part_number)
        with self.core.lock:
            in_a_row = upload.expirations[job.part_number] = upload.expirations.get(job.part_number, 0) + 1
        if in_a_row > MAX_EXPIRED_IN_A_ROW:
            clock_note = " (if this goes on, check that this computer's clock is right)"
            self._part_failed(upload, job, ServerError(error.message + clock_note))
        else:
            log.info("Upload %s part %d: URL expired, signing it again", upload.id, job.part_number)
            self._release(upload, job, put_back=True)

    def _part_failed(self, upload: ActiveUpload, job: Job, error: UploadError) -> None:
        core = self.core
        if not self._release(upload, job, put_back=not error.transient):
            return
        if isinstance(error, UploadGoneError):
            self._upload_gone(upload, error)
            return
        if error.needs_sign_in:
            core.apply(upload, Event.SIGN_IN, error.message)
            return
        number = job.part_number
        with core.lock:
            attempts = upload.attempts[number] = upload.attempts.get(number, 0) + 1
            retry = core.retry_policy.should_retry(error, attempts)
            if retry:
                upload.retry_at[number] = time.monotonic() + core.retry_policy.delay(attempts)
                core.lock.notify_all()
        if retry:
            log.info(
                "Upload %s part %d failed (attempt %d), will retry: %s", upload.id, number, attempts, error
            )
        else:
            self._fail(upload, error)

    # --- ends -------------------------------------------------------------------------------------

    def _upload_gone(self, upload: ActiveUpload, error: UploadGoneError) -> None:
        """S3 lost the multipart upload: fail it, so that Retry starts a new one from the first byte."""
        core = self.core
        core.journal.forget_parts(upload.id)
        core.journal.set_upload_id(upload.id, None)
        with core.lock:
            upload.upload_id = None
            upload.done = {}
            upload.signer = None
            upload.prepared = False
            upload.plan_generation += 1
        self._fail(upload, UploadError(f"{error.message} Retry uploads the file again from the start."))

    def _fail(self, upload: ActiveUpload, error: UploadError) -> None:
        changed = isinstance(error, FileChangedError)
        stopper = upload.stopper  # taken first: a resume right after the change gets a new one
        if self.core.apply(upload, Event.FILE_CHANGED if changed else Event.FAIL, error.message) and changed:
            stopper.stop()  # the other parts in flight would send the changed bytes

    # --- the pool ---------------------------------------------------------------------------------

    def resize_pool(self) -> None:
        """One worker per allowed connection (extra workers exit when they next look for work)."""
        core = self.core
        with core.lock:
            self._workers = [w for w in self._workers if w.is_alive()]
            wanted = 0 if core.closing.is_set() else core.settings.max_connections
            used = {w.index for w in self._workers}
            for index in range(wanted):
                if index not in used:
                    worker = Worker(self, index)
                    self._workers.append(worker)
                    worker.start()
            core.lock.notify_all()

    def join(self, deadline: float) -> None:
        with self.core.lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
