"""The I/O of an upload's steps: start it, reconcile it with the server, finish it, check its link.

These functions talk to the API, S3 and the file, and return what they learned as an outcome; the engine
writes the journal and owns every state change. None of them hold a lock or touch the journal.
"""

from __future__ import annotations

import hashlib
import logging
import math
import mimetypes
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import requests

from app.core.api import ApiClient, ApiInfo, InitializedUpload, RemotePart, cdn_url
from app.core.api_records import ASSUMED_PARTS_KEPT_DAYS, FileRefused, FileToFinish, FileToStart, FinishedFile
from app.core.errors import (
    ConflictError,
    FileChangedError,
    FileMissingError,
    ServerError,
    UploadError,
    UploadFinishedError,
    UploadGoneError,
)
from app.core.fingerprint import file_problem
from app.core.jobs import BatchDone, Failed, Finalized, Gone, Job, Prepared, Verified
from app.core.journal import JournalPart, JournalUpload
from app.core.metadata import build_payload
from app.core.planner import MAX_PART_SIZE, Part, PartPlan, plan_parallel, plan_parts
from app.core.signing import PRESIGN_BATCH
from app.core.transfer import ETAG_MD5, PartStopped

log = logging.getLogger(__name__)

# The existing deployment signs every URL in one call, which times out past about a thousand parts.
CORE_ONLY_MAX_PARTS = 1000
DAY = 24 * 3600
MAX_SINGLE_PUT = MAX_PART_SIZE  # S3's PutObject limit, when the API does not say


def plan_for_api(size: int, info: ApiInfo, fixed_part_size: int | None) -> PartPlan:
    """The plan to start an upload with on this API: enough parts for many connections on this
    project's API, fewer and larger ones for the existing deployment (which signs them all at once)."""
    if fixed_part_size is not None:
        return plan_parts(size, fixed_part_size)
    if not info.extended:
        return plan_parts(size, max_parts=CORE_ONLY_MAX_PARTS)
    return plan_parallel(size)


def prepare(api: ApiClient, info: ApiInfo, job: Job) -> Prepared | Gone | Finalized | Failed:
    """Make the upload ready for its parts: reconcile a started one with S3, or start it.

    An upload the server no longer has is `Gone` (the engine starts it again from its first part);
    one that S3 completed already (the process died right after) is `finished`. A single PUT started
    before has no parts to reconcile: it is asked for again by its idempotency key, as in a batch.

    Where the API has the folder routes, a new upload starts as a batch would start it, so that its
    idempotency key always asks for the same kind of upload: the process may have died after the API
    started it and before the journal heard, and the API refuses a key that started a multipart upload
    for a single PUT, and back.
    """
    if job.single or (job.upload_id is None and info.has("batch")):
        return start_batch(api, info, (job,)).results[job.upload_ref]
    check_file(job.record)
    if job.upload_id is None:
        plan = plan_for_api(job.record.size, info, _fixed(job))
        started = start_upload(api, info, job.record)
        expires = started.parts_expire_at or parts_expire_at(time.time(), info)
        prepared = Prepared(started.file_id, plan, {}, started=True, parts_expire_at=expires)
        return prepared if info.extended else _with_all_urls(api, job, prepared)
    try:
        if not info.extended:  # no /listParts: the journal's parts are all there is to know
            prepared = Prepared(job.upload_id, job.plan, job.known_parts, verify=tuple(job.known_parts))
            return _with_all_urls(api, job, prepared)
        return reconcile(api, job)
    except UploadGoneError as error:
        log.info("Upload %s is gone on the server; it starts again", job.upload_ref)
        return Gone(error)
    except UploadFinishedError:
        log.info("Upload %s was completed by S3 already; finishing it", job.upload_ref)
        return Prepared(job.upload_id, job.plan, job.known_parts, finished=True)


def start_upload(api: ApiClient, info: ApiInfo, record: JournalUpload) -> InitializedUpload:
    """Initialize the multipart upload, with the journal's idempotency key where the API takes one."""
    started = api.initialize(
        build_payload(record.metadata, record.key),
        content_type=content_type_of(record),
        file_size=record.size,
        overwrite=record.overwrite,
        extended=info.extended,
        client_token=record.idempotency_key if info.has("clientToken") else None,
    )
    if started.file_key != record.key:
        log.warning(
            "The API stored upload %s under key %r instead of %r", record.id, started.file_key, record.key
        )
    return started


def content_type_of(record: JournalUpload) -> str:
    return record.content_type or mimetypes.guess_type(record.key)[0] or "application/octet-stream"


def parts_expire_at(started_at: float, info: ApiInfo) -> float:
    """When the bucket's clean-up rule deletes an upload started at `started_at`: S3 adds the days to
    the start and rounds up to the next midnight UTC. An API that does not say how many days gets the
    shortest rule in use (`ASSUMED_PARTS_KEPT_DAYS`)."""
    days = info.parts_kept_days or ASSUMED_PARTS_KEPT_DAYS
    deadline = started_at + days * DAY
    return math.ceil(deadline / DAY) * DAY


def _with_all_urls(api: ApiClient, job: Job, prepared: Prepared) -> Prepared:
    """The existing deployment signs every part in one call. When that call times out (502/504)
    before any part was sent, the file is planned again with half as many parts, and so on."""
    plan = prepared.plan
    while True:
        try:
            urls = api.presign(
                prepared.upload_id, job.record.key, count=plan.count, accelerate=job.record.accelerate
            )
        except ServerError as error:
            if error.status not in (502, 504) or prepared.parts or job.part_size_fixed or plan.count == 1:
                raise
            smaller = plan_parts(job.record.size, max_parts=max(1, plan.count // 2))
            log.info("Signing %d URLs timed out; planning %d parts instead", plan.count, smaller.count)
            plan = smaller
        else:
            return replace(prepared, plan=plan, urls=urls, started=prepared.started or plan != job.plan)


def reconcile(api: ApiClient, job: Job) -> Prepared:
    """Make the journal's parts agree with what S3 holds.

    A part recorded here but missing or different in S3 is forgotten (it will be sent again); the
    others are to be checked against the file (`verify`). A part S3 holds but the journal missed (the
    process died between the upload and the record) is adopted when the local bytes' MD5 equals its
    ETag. Raises UploadGoneError when S3 no longer has the upload, UploadFinishedError when S3 has
    completed it.
    """
    assert job.upload_id is not None
    remote = {part.number: part for part in api.list_parts(job.upload_id, job.record.key)}
    kept: dict[int, JournalPart] = {}
    stale = []
    for number, part in job.known_parts.items():
        theirs = remote.get(number)
        if theirs is not None and same_etag(theirs.etag, part.etag) and theirs.size == part.size:
            kept[number] = part
        else:
            stale.append(number)
    if stale:
        log.info("Upload %s: %d recorded parts are not in S3 and are sent again", job.upload_ref, len(stale))
    to_verify = tuple(sorted(kept))
    adopted = []
    for number, theirs in remote.items():
        if number in kept or number > job.plan.count:
            continue
        part = _adopt(job.record.path, job.plan.part(number), theirs)
        if part is not None:
            adopted.append(part)
            kept[number] = part
    return Prepared(
        job.upload_id, job.plan, kept, forget=tuple(stale), adopt=tuple(adopted), verify=to_verify
    )


def _adopt(path: Path, part: Part, theirs: RemotePart) -> JournalPart | None:
    if theirs.size != part.length or part_md5(path, part) != theirs.etag.strip('"').lower():
        return None
    return JournalPart(part.number, theirs.etag, theirs.size)


def same_etag(a: str, b: str) -> bool:
    return a.strip('"').lower() == b.strip('"').lower()


def part_md5(path: Path, part: Part, stop: threading.Event | None = None) -> str:
    """The MD5 hex of one part of the file, read in 1 MiB chunks. Raises PartStopped once `stop` is set."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as file:
        file.seek(part.offset)
        remaining = part.length
        while remaining:
            if stop is not None and stop.is_set():
                raise PartStopped()
            chunk = file.read(min(remaining, 1024 * 1024))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def verify_part(job: Job) -> Verified:
    """Re-read a part sent before and compare its MD5 with the ETag S3 holds for it.

    An ETag that is not an MD5 (e.g. with SSE-KMS) cannot tell; the part is kept then."""
    known = job.known_parts[job.part_number]
    match = ETAG_MD5.match(known.etag)
    if match is None:
        return Verified(True)
    try:
        digest = part_md5(job.record.path, job.plan.part(job.part_number), job.stopper.event)
    except OSError as error:
        raise file_error(job.record, error) from error
    return Verified(digest == match.group(1).lower())


def finalize(api: ApiClient, info: ApiInfo, job: Job, stop: threading.Event) -> Finalized:
    """Complete the upload from its parts' ETags, then check that its link serves the file.

    On the existing deployment a resumed upload may have been completed just before the process
    died; its /finalize would then fail, so the object is looked for first (through the CDN link,
    whose ETag must be the one S3 gives an object made of these parts).
    """
    check_file(job.record)
    assert job.upload_id is not None
    parts = [(number, part.etag) for number, part in sorted(job.known_parts.items())]
    if job.check_remote_first and not info.extended:
        url = cdn_url(job.record.cdn_base_url, job.record.key)
        if url and served_etag(url) == multipart_etag([etag for _, etag in parts]):
            log.info("Upload %s was completed before; its link serves it", job.upload_ref)
            return Finalized(url, True)
    if job.single:
        outcome = finish_batch(api, (job,), stop).results[job.upload_ref]
        if isinstance(outcome, Failed):
            raise outcome.error
        assert isinstance(outcome, Finalized)
        return outcome
    result = api.finalize(job.upload_id, job.record.key, parts, cdn_base_url=job.record.cdn_base_url)
    return Finalized(result.url, verify_link(result.url, job.record.size, stop))


# --- the folder routes ------------------------------------------------------------------------------


def start_batch(api: ApiClient, info: ApiInfo, jobs: Sequence[Job]) -> BatchDone:
    """Start several uploads in one `/initializeBatch` call, each with its idempotency key.

    A file that fits in one part goes as a single PUT (where the API offers it); the others get their
    first part URLs in the same answer. The same key names the same upload, so a resumed single PUT
    gets a fresh URL, and an upload finished or cancelled since says so.
    """
    results: dict[int, Prepared | Gone | Finalized | Failed] = {}
    asked: list[tuple[Job, PartPlan, bool]] = []
    files = []
    single_max = info.limit("singlePutMaxSize", MAX_SINGLE_PUT)
    for job in jobs:
        try:
            check_file(job.record, read=False)  # its content is checked before it is finished
        except FileChangedError as error:
            results[job.upload_ref] = Failed(error)
            continue
        plan = job.plan if job.single else plan_for_api(job.record.size, info, _fixed(job))
        single = job.single or (info.has("singlePut") and plan.count == 1 and job.record.size <= single_max)
        asked.append((job, plan, single))
        files.append(
            FileToStart(
                client_token=job.record.idempotency_key or uuid.uuid4().hex,
                payload=build_payload(job.record.metadata, job.record.key),
                file_size=job.record.size,
                content_type=content_type_of(job.record),
                overwrite=job.record.overwrite,
                single=single,
                sign_parts=0 if single else min(plan.count, PRESIGN_BATCH),
            )
        )
    answers = api.initialize_batch(files) if files else []
    for (job, plan, single), answer in zip(asked, answers, strict=True):
        if isinstance(answer, FileRefused):
            results[job.upload_ref] = Failed(answer.error)
        elif answer.state == "aborted":
            results[job.upload_ref] = Gone(UploadGoneError("The server had cancelled this upload."))
        elif answer.state == "finished":
            results[job.upload_ref] = Prepared(
                answer.file_id, plan, job.known_parts, finished=True, single=single
            )
        else:
            urls = {1: answer.put_url} if single and answer.put_url else dict(answer.urls)
            # A single PUT leaves no parts on the server while it is unfinished: nothing expires.
            expires = None if single else answer.parts_expire_at or parts_expire_at(time.time(), info)
            results[job.upload_ref] = Prepared(
                answer.file_id, plan, {}, started=True, urls=urls, parts_expire_at=expires, single=single,
                put_headers=dict(answer.headers),
            )  # fmt: skip
    return BatchDone(results)


def finish_batch(api: ApiClient, jobs: Sequence[Job], stop: threading.Event) -> BatchDone:
    """Finish several uploads in one `/finalizeBatch` call; the API checks each object's size first.

    Links: the API's own check stands for each file, and the first file's link is checked through the
    CDN (a HEAD, with the same bounded retries as one file's) for the whole batch, so a folder costs no
    HEAD per file; `link_verified` is that check's result for every file of the batch.
    """
    results: dict[int, Prepared | Gone | Finalized | Failed] = {}
    to_finish = []
    for job in jobs:
        try:
            # A single PUT read its bytes in one go and S3's ETag is their MD5: the object is the file as
            # it was read, and its size and date say whether it changed since it was added. A multipart
            # upload's parts were read at different times, so its content is read again.
            check_file(job.record, read=not job.single)
        except FileChangedError as error:
            results[job.upload_ref] = Failed(error)
        else:
            to_finish.append(job)
    files = [
        FileToFinish(job.upload_id or "", job.record.key, None if job.single else _parts(job))
        for job in to_finish
    ]
    answers = api.finalize_batch(files, cdn_base_url=to_finish[0].record.cdn_base_url) if files else []
    finished: list[tuple[Job, FinishedFile]] = []
    for job, answer in zip(to_finish, answers, strict=True):
        if isinstance(answer, FileRefused):
            results[job.upload_ref] = Failed(answer.error)
        elif job.single and not _is_this_file(job, answer.etag):
            results[job.upload_ref] = Failed(ConflictError("The object at this key is not this file."))
        else:
            finished.append((job, answer))
    if finished:
        sample_job, sample = finished[0]
        verified = verify_link(
            sample.url, sample.size if sample.size is not None else sample_job.record.size, stop
        )
        for job, answer in finished:
            results[job.upload_ref] = Finalized(answer.url, verified if answer.url else None)
    return BatchDone(results)


def _is_this_file(job: Job, etag: str | None) -> bool:
    """A single PUT's object is this file: its ETag is the one our PUT got back, or the file's MD5."""
    if etag is None:
        return True  # the API checked the size; there is nothing more to compare
    sent = job.known_parts.get(1)
    if sent is not None:
        return same_etag(sent.etag, etag)
    return same_etag(part_md5(job.record.path, job.plan.part(1)), etag)


def _parts(job: Job) -> tuple[tuple[int, str], ...]:
    return tuple((number, part.etag) for number, part in sorted(job.known_parts.items()))


def _fixed(job: Job) -> int | None:
    return job.plan.part_size if job.part_size_fixed else None


def multipart_etag(etags: list[str]) -> str:
    """The ETag S3 gives an object completed from parts with these ETags (MD5s): MD5 of the MD5s, -N."""
    digest = hashlib.md5(usedforsecurity=False)
    for etag in etags:
        digest.update(bytes.fromhex(etag.strip('"')))
    return f"{digest.hexdigest()}-{len(etags)}"


def served_etag(url: str) -> str | None:
    """The ETag a HEAD on `url` answers (without quotes), or None when it does not serve an object."""
    try:
        response = requests.head(url, timeout=10, allow_redirects=True)
    except requests.RequestException as error:
        log.info("HEAD of the link failed: %s", type(error).__name__)
        return None
    etag = response.headers.get("ETag")
    return etag.strip('"').lower() if response.status_code == 200 and etag else None


def verify_link(url: str | None, size: int, stop: threading.Event, *, attempts: int = 4) -> bool | None:
    """True when a HEAD on the link answers 200 with the object's size; None when there is no link.

    A fresh object can take a moment to be served, so a few bounded retries (0.5 s, 1 s, 2 s) are made.
    """
    if not url:
        return None
    for attempt in range(attempts):
        try:
            response = requests.head(url, timeout=10, allow_redirects=True)
            length = response.headers.get("Content-Length")
            if response.status_code == 200 and (length is None or int(length) == size):
                return True
            log.info("Link check %d: HTTP %s, Content-Length %s", attempt + 1, response.status_code, length)
        except (requests.RequestException, ValueError) as error:
            log.info("Link check %d failed: %s", attempt + 1, type(error).__name__)
        if attempt + 1 < attempts and stop.wait(0.5 * 2**attempt):
            break
    return False


def abort_quietly(api: ApiClient, upload_id: str, key: str) -> str | None:
    """Abort the multipart upload; return a note for the user when the server could not do it."""
    try:
        api.abort(upload_id, key)
    except UploadGoneError:
        return None
    except Exception as error:
        log.info("Abort failed for %s: %s", key, error)
        return (
            "The uploaded parts could not be deleted now; the bucket's clean-up rule removes them "
            "within a day."
        )
    return None


def check_file(record: JournalUpload, *, read: bool = True) -> None:
    """Raise FileChangedError (FileMissingError) when the file is no longer what the upload began with
    (`read=False`: from its size and date alone, without reading its content)."""
    problem = file_problem(record.path, record.identity, read=read)
    if problem:
        raise FileMissingError(problem.message) if problem.missing else FileChangedError(problem.message)


def file_error(record: JournalUpload, error: OSError) -> UploadError:
    """What reading the file failed with, as the user should hear it."""
    problem = file_problem(record.path, record.identity)
    if problem:
        return FileMissingError(problem.message) if problem.missing else FileChangedError(problem.message)
    return UploadError(f"Reading {record.path} failed: {error}.")
