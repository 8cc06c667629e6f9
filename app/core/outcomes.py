"""What each outcome of a job means for its upload: journal records, state changes, retries.

Failures are sorted here: a stopped part goes back to the queue, an expired URL is signed again without
spending a retry, a transient error backs off (and the upload says when it is tried again), a 401 waits
for sign-in, an existing object at the key waits for the user's choice, an upload the server lost starts
again from its first part, the rest fails the upload with a message for the user (it stays resumable:
only the user's cancel aborts it). The dispatcher calls these rules from the worker that ran the job.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from app.core.api import ApiInfo
from app.core.concurrency import ConcurrencyLimit
from app.core.core import EngineCore
from app.core.errors import (
    ConflictError,
    FileChangedError,
    FileMissingError,
    InvalidRequestError,
    ServerError,
    UploadError,
    UploadFinishedError,
    UploadGoneError,
)
from app.core.jobs import (
    BatchDone,
    Failed,
    Finalized,
    Gone,
    Job,
    JobKind,
    Outcome,
    PartSent,
    Prepared,
    Stopped,
    UrlExpired,
    Verified,
)
from app.core.journal import FinishedUpload, JournalPart, StartedUpload
from app.core.signing import UrlSigner
from app.core.states import Event
from app.core.steps import abort_quietly
from app.core.upload import ActiveUpload

log = logging.getLogger(__name__)

MAX_EXPIRED_IN_A_ROW = 3  # then an expired URL counts as a failed attempt (e.g. a wrong clock)
MAX_RESTARTS = 2  # an upload the server keeps losing fails after this many fresh starts in one run
# The existing deployment's /initialize crashes (502) on metadata it cannot use: a few tries, then final.
CORE_ONLY_START_ATTEMPTS = 3
PRECONDITION_FAILED = 412  # a single PUT that must not overwrite found an object at its key


class Outcomes:
    """Applies outcomes to the core's uploads. `on_started(upload)` is told of each upload that can
    take parts now (the dispatcher serves started uploads first)."""

    def __init__(
        self, core: EngineCore, limit: ConcurrencyLimit, on_started: Callable[[ActiveUpload], None]
    ) -> None:
        self.core = core
        self.limit = limit
        self._on_started = on_started

    def apply(self, upload: ActiveUpload, job: Job, outcome: Outcome) -> None:
        """What a job of one upload reported."""
        if job.kind is JobKind.PART:
            self._part_ended(upload, job, outcome)
        elif job.kind is JobKind.VERIFY:
            self._verified(upload, job, outcome)
        else:
            self._step_ended(upload, job, outcome)

    # --- steps ------------------------------------------------------------------------------------

    def batch(self, job: Job, done: Outcome) -> None:
        """What a batch job reported: its journal records go in one transaction per step, then each
        upload is updated."""
        assert isinstance(done, BatchDone)
        core = self.core
        started = [
            StartedUpload(ref, r.upload_id, r.plan.part_size, r.parts_expire_at, r.single)
            for ref, r in done.results.items()
            if isinstance(r, Prepared) and r.started
        ]
        if started:
            core.journal.set_started_many(started)
        notes = {}
        for ref in done.results:
            upload = core.find(ref)
            if upload is not None:
                with core.lock:
                    notes[ref] = resent_note(upload.parts_resent, upload.parts_to_check)
        finished = [
            FinishedUpload(ref, r.url, r.link_verified, notes.get(ref))
            for ref, r in done.results.items()
            if isinstance(r, Finalized)
        ]
        if finished:
            core.journal.set_finished_many(finished)
        for member in job.batch:
            upload = core.find(member.upload_ref)
            result = done.results.get(member.upload_ref)
            if upload is None:
                continue
            if result is None:  # not answered: as if the step failed in passing
                result = Failed(ServerError("The upload API did not answer for this file."))
            self._step_ended(upload, member, result, journaled=True)

    def _step_ended(
        self, upload: ActiveUpload, job: Job, outcome: Outcome, *, journaled: bool = False
    ) -> None:
        try:
            if isinstance(outcome, Prepared):
                self._prepared(upload, outcome, journaled=journaled)
            elif isinstance(outcome, Gone):
                self._restart(upload, outcome.error)
            elif isinstance(outcome, Finalized):
                self._finalized(upload, outcome, journaled=journaled)
            elif isinstance(outcome, Failed):
                self._step_failed(upload, job, outcome.error)
        finally:
            with self.core.lock:
                upload.busy = False

    def _prepared(self, upload: ActiveUpload, outcome: Prepared, *, journaled: bool) -> None:
        core = self.core
        journal = core.journal
        if outcome.started and not journaled:  # before any part of it is sent
            journal.set_started(
                upload.id,
                outcome.upload_id,
                outcome.plan.part_size,
                parts_expire_at=outcome.parts_expire_at,
                single=outcome.single,
            )
        if outcome.forget:
            journal.forget_parts(upload.id, outcome.forget)
        for part in outcome.adopt:
            journal.record_part(upload.id, part.number, part.etag, part.size)
        info = core.api_info(upload.record.api_url)
        with core.lock:
            if outcome.upload_id != upload.upload_id or outcome.plan != upload.plan:
                upload.plan_generation += 1
            if outcome.started:
                upload.record = replace(
                    upload.record,
                    upload_id=outcome.upload_id,
                    part_size=outcome.plan.part_size,
                    parts_expire_at=outcome.parts_expire_at,
                    single=outcome.single,
                )
            upload.upload_id, upload.plan, upload.done = outcome.upload_id, outcome.plan, dict(outcome.parts)
            upload.single, upload.put_headers = outcome.single, dict(outcome.put_headers)
            upload.signer = self._signer(upload, info)
            upload.signer.add(outcome.urls)
            upload.rebuild_pending()
            upload.unverified, upload.verifying = set(outcome.verify), set()
            upload.parts_to_check, upload.parts_checked, upload.parts_resent = len(outcome.verify), 0, 0
            upload.finished_remotely = outcome.finished
            upload.check_remote_first = bool(outcome.parts) and not info.extended
            upload.prepared = True
            upload.step_attempts = 0
            cancelled = upload.state.is_finished
            upload.progress_dirty = True
        if cancelled:  # cancelled while it was being started: the new upload goes too
            abort_quietly(core.api(upload.record.api_url), outcome.upload_id, upload.record.key)
            return
        self._on_started(upload)  # it stays queued until a connection is free for its first part

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
            single=upload.single,
        )

    def _finalized(self, upload: ActiveUpload, outcome: Finalized, *, journaled: bool) -> None:
        core = self.core
        with core.lock:
            note = resent_note(upload.parts_resent, upload.parts_to_check)
        if not journaled:
            core.journal.set_finished(upload.id, outcome.url, outcome.link_verified, note)
        with core.lock:
            upload.url, upload.link_verified = outcome.url, outcome.link_verified
            upload.finished_at = time.time()
        core.apply(upload, Event.FINISH, note)

    def _step_failed(self, upload: ActiveUpload, job: Job, error: UploadError) -> None:
        core = self.core
        if isinstance(error, UploadGoneError):
            self._restart(upload, error)
        elif isinstance(error, ConflictError):
            core.apply(upload, Event.CONFLICT, conflict_message(upload.record.key, error))
        elif job.kind is JobKind.FINALIZE and isinstance(error, InvalidRequestError):
            self._resend(upload, error)
        elif error.needs_sign_in:
            core.apply(upload, Event.SIGN_IN, error.message)
        elif isinstance(error, FileChangedError):
            self._fail(upload, error)
        else:
            self._step_retry(upload, job, error)

    def _step_retry(self, upload: ActiveUpload, job: Job, error: UploadError) -> None:
        core = self.core
        core_only_start = self._is_core_only_start(upload, job, error)
        with core.lock:
            upload.step_attempts += 1
            attempts = upload.step_attempts
            limit = CORE_ONLY_START_ATTEMPTS if core_only_start else core.retry_policy.max_attempts
            retry = error.transient and attempts < limit
            delay = core.retry_policy.delay(attempts)
            if retry:
                upload.step_retry_at = time.monotonic() + delay
        if retry:
            core.note(upload, f"{error.message} Trying again in {delay:.0f} s.", passing=True)
        elif core_only_start:
            self._fail(upload, UploadError(core_only_start_message(attempts, error), status=error.status))
        else:
            self._fail(upload, gave_up(error, attempts))

    def _is_core_only_start(self, upload: ActiveUpload, job: Job, error: UploadError) -> bool:
        """/initialize of the existing deployment answered 502 (its handler crashed)."""
        return (
            job.kind is JobKind.PREPARE
            and job.upload_id is None
            and error.status == 502
            and not self.core.api_info(upload.record.api_url).extended
        )

    def _resend(self, upload: ActiveUpload, error: UploadError) -> None:
        """S3 refused the part list: find out which parts it really has, then send the rest again."""
        core = self.core
        info = core.api_info(upload.record.api_url)
        with core.lock:
            again = info.extended and upload.step_attempts < 2
            if again:
                upload.prepared = False
                upload.step_attempts += 1
        if again:
            core.apply(upload, Event.RESEND)
        else:
            self._fail(upload, error)

    # --- checks of the parts sent before --------------------------------------------------------

    def _verified(self, upload: ActiveUpload, job: Job, outcome: Outcome) -> None:
        core = self.core
        number = job.part_number
        if isinstance(outcome, Failed):  # the file became unreadable, or changed
            with core.lock:
                upload.verifying.discard(number)
            self._fail(upload, outcome.error)
            return
        if isinstance(outcome, Stopped) or job.generation != upload.plan_generation:
            with core.lock:
                upload.verifying.discard(number)
            return
        assert isinstance(outcome, Verified)
        if not outcome.matches:
            log.info("Upload %s part %d differs from the file; it is sent again", upload.id, number)
            core.journal.forget_parts(upload.id, [number])
        with core.lock:
            upload.verifying.discard(number)
            upload.parts_checked += 1
            if not outcome.matches and number in upload.done:
                del upload.done[number]
                upload.parts_resent += 1
                upload.pending.appendleft(number)
            upload.progress_dirty = True
            finished_checking = upload.parts_checked == upload.parts_to_check
            note = resent_note(upload.parts_resent, upload.parts_to_check) if finished_checking else None
        if note:
            core.note(upload, note)

    # --- parts ------------------------------------------------------------------------------------

    def _part_ended(self, upload: ActiveUpload, job: Job, outcome: Outcome) -> None:
        if isinstance(outcome, PartSent):
            self._part_sent(upload, job, outcome)
        elif isinstance(outcome, Stopped):
            self._release(upload, job, put_back=True)
        elif isinstance(outcome, UrlExpired):
            self._url_expired(upload, job, outcome.error)
        elif isinstance(outcome, Failed):
            self._part_failed(upload, job, outcome.error)
        else:
            raise AssertionError(f"unexpected outcome {outcome!r} for part {job.part_number}")

    def _part_sent(self, upload: ActiveUpload, job: Job, sent: PartSent) -> None:
        core = self.core
        with core.lock:
            current = job.generation == upload.plan_generation
        if current and not job.single:  # a single PUT's object is checked when it is finished
            core.journal.record_part(upload.id, job.part_number, sent.etag, sent.size)
        with core.lock:
            if current and job.generation == upload.plan_generation:
                upload.in_flight.pop(job.part_number, None)
                upload.done[job.part_number] = JournalPart(job.part_number, sent.etag, sent.size)
                upload.attempts.pop(job.part_number, None)
                upload.expirations.pop(job.part_number, None)
                upload.progress_dirty = True
        if current:
            core.clear_passing_note(upload)  # it went through: "sent again in N s" is over

    def _release(self, upload: ActiveUpload, job: Job, *, put_back: bool) -> bool:
        """Take a part off the in-flight list; False when the plan changed under it."""
        with self.core.lock:
            if job.generation != upload.plan_generation:
                return False
            upload.in_flight.pop(job.part_number, None)
            upload.progress_dirty = True
            if put_back:
                upload.put_back(job.part_number)
            return True

    def _url_expired(self, upload: ActiveUpload, job: Job, error: UploadError) -> None:
        if job.single:  # its URL came with its start: starting it again (same key) signs a new one
            if self._release(upload, job, put_back=True):
                with self.core.lock:
                    upload.prepared = False
            return
        if job.signer is not None:
            job.signer.forget(job.part_number)
        with self.core.lock:
            in_a_row = upload.expirations[job.part_number] = upload.expirations.get(job.part_number, 0) + 1
        if in_a_row > MAX_EXPIRED_IN_A_ROW:
            clock_note = " If this goes on, check that this computer's clock is right."
            self._part_failed(upload, job, ServerError(error.message + clock_note))
        else:
            log.info("Upload %s part %d: URL expired, signing it again", upload.id, job.part_number)
            self._release(upload, job, put_back=True)

    def _part_failed(self, upload: ActiveUpload, job: Job, error: UploadError) -> None:
        core = self.core
        if error.transient and (error.status in (None, 429, 503)):
            self.limit.congested()  # throttled, or the connection broke: fewer connections
        if not self._release(upload, job, put_back=not error.transient):
            return
        if isinstance(error, UploadGoneError):
            self._restart(upload, error)
            return
        finished = isinstance(error, UploadFinishedError)
        if finished or (job.single and error.status == PRECONDITION_FAILED):
            # S3 has the object already (completed, or a single PUT of this upload that went through
            # before): finishing it checks that it is this file.
            with core.lock:
                upload.finished_remotely = True
                core.changed()
            return
        if error.needs_sign_in:
            core.apply(upload, Event.SIGN_IN, error.message)
            return
        number = job.part_number
        with core.lock:
            attempts = upload.attempts[number] = upload.attempts.get(number, 0) + 1
            retry = core.retry_policy.should_retry(error, attempts)
            delay = core.retry_policy.delay(attempts)
            if retry:
                upload.retry_at[number] = time.monotonic() + delay
                core.changed()
        if retry:
            log.info("Upload %s part %d failed (attempt %d): %s", upload.id, number, attempts, error)
            core.note(upload, f"{error.message} Part {number} is sent again in {delay:.0f} s.", passing=True)
        else:
            self._fail(upload, gave_up(error, attempts))

    # --- ends -------------------------------------------------------------------------------------

    def _restart(self, upload: ActiveUpload, error: UploadError) -> None:
        """The server lost the upload (its parts expired, or it was aborted elsewhere): start it again
        from its first part, with a new idempotency key (the old one names the lost upload)."""
        core = self.core
        with core.lock:
            upload.restarts += 1
            restarts = upload.restarts
        if restarts > MAX_RESTARTS:
            self._fail(
                upload,
                UploadError(
                    f"{error.message} It was started again {MAX_RESTARTS} times and lost each time, so it "
                    "is not tried again by itself; ask the API's administrator about the bucket's "
                    "clean-up rule, then resume it."
                ),
            )
            return
        key = uuid.uuid4().hex
        core.journal.restart(upload.id, key)
        with core.lock:
            upload.record = replace(
                upload.record, upload_id=None, idempotency_key=key, parts_expire_at=None, single=False
            )
            upload.upload_id, upload.done, upload.signer = None, {}, None
            upload.prepared = upload.finished_remotely = upload.single = False
            upload.unverified, upload.verifying = set(), set()
            upload.parts_to_check = upload.parts_checked = upload.parts_resent = 0
            upload.plan_generation += 1
            upload.in_flight.clear()
            upload.rebuild_pending()
            upload.progress_dirty = True
            core.changed()
        core.note(
            upload,
            "The server no longer had the parts sent before (unfinished uploads are deleted after a few "
            "days, or it was cancelled elsewhere), so the file is sent again from its first part.",
        )

    def _fail(self, upload: ActiveUpload, error: UploadError) -> None:
        if isinstance(error, FileChangedError):
            event = Event.FILE_MISSING if isinstance(error, FileMissingError) else Event.FILE_CHANGED
        else:
            event = Event.FAIL
        stopper = upload.stopper  # taken first: a resume right after the change gets a new one
        if self.core.apply(upload, event, error.message) and event is not Event.FAIL:
            stopper.stop()  # the other parts in flight would send bytes that are no longer the file


def gave_up(error: UploadError, attempts: int) -> UploadError:
    """The final failure, saying what the user can do (retries of a passing error ran out)."""
    if not error.transient:
        return error
    return UploadError(
        f"{error.message} It failed {attempts} times in a row, so it is not tried again by itself; "
        "resume it when the network or the server is back (the parts already sent are kept).",
        status=error.status,
    )


def core_only_start_message(attempts: int, error: UploadError) -> str:
    return (
        f"The upload API failed to start this upload {attempts} times in a row (HTTP {error.status}); "
        "this is final and it is not tried again by itself. On this API that usually means the metadata "
        "lacks a field it needs, such as organizationId or objectRecordId: remove this upload and add "
        "the file again with complete metadata."
    )


def conflict_message(key: str, error: UploadError) -> str:
    detail = f" The server said: {error.server_message}" if error.server_message else ""
    return (
        f"An object already exists at “{key}”. Choose to overwrite it, or give another key, and the "
        f"upload goes on.{detail}"
    )


def resent_note(resent: int, checked: int) -> str | None:
    if not resent:
        return None
    return (
        f"{resent} of the {checked} parts sent before differed from the file as it is now and were sent "
        "again, so the uploaded object is the file as it is now."
    )
