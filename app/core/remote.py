"""Every unfinished upload in reach: the user's uploads the API holds, from any computer.

`/listUploads` names the caller's unfinished uploads wherever they were started; each is joined with
this computer's journal (when it was started here) and with the parts S3 holds for it (`/listParts`).
One started elsewhere, or whose journal was lost, is taken over with a local file (`adopt`) only when
every part already sent has that file's bytes; `abort` frees the stored parts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from app.core.api import ApiClient, ApiInfo
from app.core.api_records import RemoteUpload
from app.core.errors import InvalidRequestError, NotThisApiError, UploadError
from app.core.fingerprint import identify
from app.core.journal import Journal, JournalPart, JournalUpload, NewUpload
from app.core.planner import PartPlan, format_size, plan_parts
from app.core.steps import part_md5, parts_expire_at, same_etag

log = logging.getLogger(__name__)

MAX_PAGES = 20  # at 1,000 uploads a page
PARTS_LOOKED_UP = 200  # uploads whose stored parts are counted (one /listParts each)


@dataclass(frozen=True)
class RemoteUnfinished:
    """One of the user's unfinished uploads, as the API holds it."""

    file_id: str
    key: str
    size: int | None  # bytes, as given when it started
    started_at: float | None  # time.time()
    single: bool  # a single PUT (no parts are stored before it ends)
    parts_held: int | None  # parts S3 is holding; None when not counted
    bytes_held: int | None
    local_id: int | None  # its number in this computer's journal, when it was started here
    local_path: Path | None

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def require_listing(info: ApiInfo) -> None:
    if not info.has("listUploads"):
        raise NotThisApiError(
            "Seeing the uploads started on other computers needs this project's upload API; the API "
            "you are signed in to (the existing deployment) does not list them."
        )


def unfinished_uploads(api: ApiClient, info: ApiInfo, journal: Journal) -> list[RemoteUnfinished]:
    """The caller's unfinished uploads, newest first, with what S3 holds of each and their local match."""
    require_listing(info)
    listed: list[RemoteUpload] = []
    cursor = None
    for _ in range(MAX_PAGES):
        page = api.list_uploads("uploading", limit=1000, cursor=cursor)
        listed += page.uploads
        cursor = page.cursor
        if cursor is None:
            break
    local = journal.by_upload_ids([upload.file_id for upload in listed])
    found = []
    for index, upload in enumerate(listed):
        held = None
        if not upload.single and index < PARTS_LOOKED_UP:
            try:
                held = api.list_parts(upload.file_id, upload.file_key)
            except UploadError as error:  # finished or aborted meanwhile, or a passing failure
                log.info("Parts of %s not counted: %s", upload.file_key, error)
        record = local.get(upload.file_id)
        found.append(
            RemoteUnfinished(
                file_id=upload.file_id,
                key=upload.file_key,
                size=upload.file_size,
                started_at=upload.created_at,
                single=upload.single,
                parts_held=None if held is None else len(held),
                bytes_held=None if held is None else sum(part.size for part in held),
                local_id=record.id if record else None,
                local_path=record.path if record else None,
            )
        )
    return found


def find(api: ApiClient, file_id: str) -> RemoteUpload:
    cursor = None
    for _ in range(MAX_PAGES):
        page = api.list_uploads("uploading", limit=1000, cursor=cursor)
        for upload in page.uploads:
            if upload.file_id == file_id:
                return upload
        cursor = page.cursor
        if cursor is None:
            break
    raise InvalidRequestError(
        "That upload is no longer unfinished on the server (it was finished, cancelled or cleaned up)."
    )


def adoption(
    api: ApiClient, info: ApiInfo, upload: RemoteUpload, path: Path
) -> tuple[NewUpload, PartPlan, list[JournalPart]]:
    """What the journal records to take over `upload` with the file at `path`: accepted only when the
    file has the upload's size and every part already sent has the file's bytes (MD5 = its ETag).
    Raises InvalidRequestError, with a sentence for the user, otherwise."""
    if upload.single:
        raise InvalidRequestError(
            f"“{upload.file_key}” was to be sent in one piece and holds no parts; add the file again instead."
        )
    try:
        identity = identify(path)
    except OSError as error:
        raise InvalidRequestError(f"{path} cannot be read ({error.strerror or error}).") from None
    if upload.file_size is not None and identity.size != upload.file_size:
        raise InvalidRequestError(
            f"{path.name} is {format_size(identity.size)}, but the upload of “{upload.file_key}” is of a "
            f"{format_size(upload.file_size)} file; choose the file it was started with."
        )
    held = sorted(api.list_parts(upload.file_id, upload.file_key), key=lambda part: part.number)
    plan = _plan(identity.size, max((part.size for part in held), default=None))
    parts = []
    for part in held:
        if part.number > plan.count or plan.part(part.number).length != part.size:
            raise InvalidRequestError(
                f"The parts already sent for “{upload.file_key}” do not line up with {path.name}; choose "
                "the file this upload was started with."
            )
        if not same_etag(part_md5(path, plan.part(part.number)), part.etag):
            raise InvalidRequestError(
                f"Part {part.number} already sent for “{upload.file_key}” differs from {path.name}; choose "
                "the file this upload was started with."
            )
        parts.append(JournalPart(part.number, part.etag, part.size))
    record = NewUpload(
        api_url=api.api_url,
        path=path.expanduser().absolute(),
        size=identity.size,
        mtime_ns=identity.mtime_ns,
        fingerprint=identity.fingerprint,
        key=upload.file_key,
        metadata={},
        content_type=upload.content_type,
        part_size=plan.part_size,
        part_size_fixed=True,
    )
    return record, plan, parts


def _plan(size: int, largest_part: int | None) -> PartPlan:
    """The plan the upload was started with: its full parts are the largest ones S3 holds."""
    if largest_part is None:
        return plan_parts(size)
    if largest_part >= size:
        return PartPlan(size=size, part_size=max(size, 1), count=1)
    return plan_parts(size, largest_part)


def expiry_of(upload: RemoteUpload, info: ApiInfo) -> float:
    return parts_expire_at(upload.created_at or time.time(), info)


def local_match(journal: Journal, file_id: str) -> JournalUpload | None:
    return journal.by_upload_ids([file_id]).get(file_id)
