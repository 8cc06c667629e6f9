"""The I/O of an upload's steps: start it, reconcile it with the server, finish it, check its link.

These functions talk to the API, S3 and the journal, and return what they learned; the manager owns
every state change. None of them hold a lock.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import threading
from pathlib import Path

import requests

from app.core.api import ApiClient, ApiInfo, RemotePart
from app.core.errors import UploadGoneError
from app.core.journal import Journal, JournalPart, JournalUpload
from app.core.metadata import build_payload
from app.core.planner import Part, PartPlan, plan_parts

log = logging.getLogger(__name__)

# The existing deployment signs every URL in one call, which times out past about a thousand parts.
CORE_ONLY_MAX_PARTS = 1000


def plan_for_api(record: JournalUpload, info: ApiInfo, explicit_part_size: int | None) -> PartPlan:
    """The plan to start an upload with on this API: fewer, larger parts for the existing deployment."""
    if explicit_part_size is not None:
        return plan_parts(record.size, explicit_part_size)
    return plan_parts(record.size, max_parts=10_000 if info.extended else CORE_ONLY_MAX_PARTS)


def start_upload(
    api: ApiClient, info: ApiInfo, journal: Journal, record: JournalUpload, plan: PartPlan
) -> str:
    """Initialize the multipart upload and record its id and plan; return the S3 UploadId."""
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
    journal.set_plan(record.id, plan.part_size)
    journal.set_upload_id(record.id, started.file_id)
    return started.file_id


def reconcile(
    api: ApiClient,
    journal: Journal,
    record: JournalUpload,
    upload_id: str,
    plan: PartPlan,
    done: dict[int, JournalPart],
) -> dict[int, JournalPart]:
    """Make the journal's parts agree with what S3 holds; return the parts that count as done.

    A part recorded here but missing or different in S3 is forgotten (it will be sent again). A part S3
    holds but the journal missed (the process died between the upload and the record) is adopted when
    the local bytes' MD5 equals its ETag. Raises UploadGoneError when S3 no longer has the upload.
    """
    remote = {part.number: part for part in api.list_parts(upload_id, record.key)}
    kept: dict[int, JournalPart] = {}
    stale = []
    for number, part in done.items():
        theirs = remote.get(number)
        if theirs is not None and _same_etag(theirs.etag, part.etag) and theirs.size == part.size:
            kept[number] = part
        else:
            stale.append(number)
    if stale:
        log.info("Upload %s: %d recorded parts are not in S3 and will be sent again", record.id, len(stale))
        journal.forget_parts(record.id, stale)
    for number, theirs in remote.items():
        if number in kept or number > plan.count:
            continue
        adopted = _adopt(record.path, plan.part(number), theirs)
        if adopted is not None:
            journal.record_part(record.id, number, adopted.etag, adopted.size)
            kept[number] = adopted
    return kept


def _adopt(path: Path, part: Part, theirs: RemotePart) -> JournalPart | None:
    if theirs.size != part.length or part_md5(path, part) != theirs.etag.strip('"').lower():
        return None
    return JournalPart(part.number, theirs.etag, theirs.size)


def _same_etag(a: str, b: str) -> bool:
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
