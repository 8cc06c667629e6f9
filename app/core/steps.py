"""The I/O of an upload's steps: start it, reconcile it with the server, finish it, check its link.

These functions talk to the API, S3 and the file, and return what they learned as an outcome; the engine
writes the journal and owns every state change. None of them hold a lock or touch the journal.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import threading
from dataclasses import replace
from pathlib import Path

import requests

from app.core.api import ApiClient, ApiInfo, RemotePart
from app.core.errors import FileChangedError, ServerError, UploadError, UploadGoneError
from app.core.fingerprint import check_unchanged
from app.core.jobs import Finalized, Job, Prepared
from app.core.journal import JournalPart, JournalUpload
from app.core.metadata import build_payload
from app.core.planner import Part, PartPlan, plan_parts

log = logging.getLogger(__name__)

# The existing deployment signs every URL in one call, which times out past about a thousand parts.
CORE_ONLY_MAX_PARTS = 1000


def plan_for_api(size: int, info: ApiInfo, fixed_part_size: int | None) -> PartPlan:
    """The plan to start an upload with on this API: fewer, larger parts for the existing deployment."""
    if fixed_part_size is not None:
        return plan_parts(size, fixed_part_size)
    return plan_parts(size, max_parts=10_000 if info.extended else CORE_ONLY_MAX_PARTS)


def prepare(api: ApiClient, info: ApiInfo, job: Job) -> Prepared:
    """Make the upload ready for its parts: reconcile a started one with S3, or start it.

    An upload S3 no longer has (aborted, or removed by the bucket's clean-up rule) is started again
    from its first part, and `restarted` says why.
    """
    check_file(job.record)
    restarted = None
    if job.upload_id is not None:
        if not info.extended:  # no /listParts: the journal's parts are all there is to know
            prepared = Prepared(job.upload_id, job.plan, job.known_parts)
            return _with_all_urls(api, job, prepared)
        try:
            return reconcile(api, job)
        except UploadGoneError:
            log.info("Upload %s is gone on the server; starting it again", job.upload_ref)
            restarted = "The server no longer had the parts sent before, so the upload started again."
    plan = plan_for_api(job.record.size, info, job.plan.part_size if job.part_size_fixed else None)
    upload_id = start_upload(api, info, job.record)
    prepared = Prepared(upload_id, plan, {}, started=True, restarted=restarted)
    return prepared if info.extended else _with_all_urls(api, job, prepared)


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


def start_upload(api: ApiClient, info: ApiInfo, record: JournalUpload) -> str:
    """Initialize the multipart upload; return the S3 UploadId."""
    content_type = record.content_type or mimetypes.guess_type(record.key)[0] or "application/octet-stream"
    started = api.initialize(
        build_payload(record.metadata, record.key),
        content_type=content_type,
        file_size=record.size,
        overwrite=record.overwrite,
        extended=info.extended,
    )
    if started.file_key != record.key:
        log.warning(
            "The API stored upload %s under key %r instead of %r", record.id, started.file_key, record.key
        )
    return started.file_id


def reconcile(api: ApiClient, job: Job) -> Prepared:
    """Make the journal's parts agree with what S3 holds.

    A part recorded here but missing or different in S3 is forgotten (it will be sent again). A part S3
    holds but the journal missed (the process died between the upload and the record) is adopted when
    the local bytes' MD5 equals its ETag. Raises UploadGoneError when S3 no longer has the upload.
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
        log.info(
            "Upload %s: %d recorded parts are not in S3 and will be sent again", job.upload_ref, len(stale)
        )
    adopted = []
    for number, theirs in remote.items():
        if number in kept or number > job.plan.count:
            continue
        part = _adopt(job.record.path, job.plan.part(number), theirs)
        if part is not None:
            adopted.append(part)
            kept[number] = part
    return Prepared(job.upload_id, job.plan, kept, forget=tuple(stale), adopt=tuple(adopted))


def _adopt(path: Path, part: Part, theirs: RemotePart) -> JournalPart | None:
    if theirs.size != part.length or part_md5(path, part) != theirs.etag.strip('"').lower():
        return None
    return JournalPart(part.number, theirs.etag, theirs.size)


def same_etag(a: str, b: str) -> bool:
    return a.strip('"').lower() == b.strip('"').lower()


def part_md5(path: Path, part: Part) -> str:
    """The MD5 hex of one part of the file, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as file:
        file.seek(part.offset)
        remaining = part.length
        while remaining:
            chunk = file.read(min(remaining, 1024 * 1024))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def finalize(api: ApiClient, job: Job, stop: threading.Event) -> Finalized:
    """Complete the upload from its parts' ETags, then check that its link serves the file."""
    check_file(job.record)
    assert job.upload_id is not None
    parts = [(number, part.etag) for number, part in sorted(job.known_parts.items())]
    result = api.finalize(job.upload_id, job.record.key, parts, cdn_base_url=job.record.cdn_base_url)
    return Finalized(result.url, verify_link(result.url, job.record.size, stop))


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


def check_file(record: JournalUpload) -> None:
    """Raise FileChangedError when the file is no longer what the upload began with."""
    problem = check_unchanged(record.path, record.identity)
    if problem:
        raise FileChangedError(problem)


def file_error(record: JournalUpload, error: OSError) -> UploadError:
    """What reading the file failed with, as the user should hear it."""
    problem = check_unchanged(record.path, record.identity)
    return FileChangedError(problem) if problem else UploadError(f"Reading {record.path} failed: {error}.")
