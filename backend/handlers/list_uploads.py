"""`POST /listUploads`: the caller's own uploads, newest first, a page at a time.

Body: `{"state": "uploading" | "finished" | "aborted" | "all", "limit": 1..1000, "cursor": null |
"<opaque>"}` (defaults: all, 100, none). Answer: `{"uploads": [{"fileId", "fileKey", "fileNumber",
"state", "createdAt", "updatedAt", "fileSize", "contentType", "single", "url"?, "size"?,
"partsExpireAt"?}], "cursor": "<opaque>" | null}` — pass `cursor` back for the next page; null
means there is none. Only uploads of the caller's principal *and* organisation, inside its
token's folder. A cursor that is malformed, or was made for another caller or another state,
is a 400. On AWS the list comes from an index and may lag a write by a moment.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from backend.access import required_caller
from backend.apigw import ApiRequest, Caller, bad_request, describe, field_int
from backend.files import Upload, UploadState, owner_id
from backend.keys import in_prefix
from backend.limits import LIST_UPLOADS_LIMIT
from backend.runtime import Services, body_limit, lambda_handler
from backend.s3 import parts_expire_at

MAX_LIMIT = LIST_UPLOADS_LIMIT
DEFAULT_LIMIT = 100
MAX_BODY_BYTES = 4 * 1024
MAX_CURSOR_LENGTH = 512
_ROUNDS = 8  # reads per call when the token's folder filters many uploads out
_STATES = {"all": None, **{state.value: state for state in UploadState}}


@dataclass(frozen=True)
class Cursor:
    """Where a listing goes on: below upload number `before`, for one caller and one state."""

    owner: str
    state: str
    before: int

    def encode(self) -> str:
        raw = json.dumps({"o": self.owner, "s": self.state, "b": self.before}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: Any) -> Cursor:
        bad = bad_request('"cursor" is not one this API gave: ask again without it to start from the newest')
        if not isinstance(text, str) or not 0 < len(text) <= MAX_CURSOR_LENGTH:
            raise bad
        try:
            fields = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            cursor = cls(owner=fields["o"], state=fields["s"], before=fields["b"])
        except (binascii.Error, ValueError, UnicodeDecodeError, KeyError, TypeError):
            raise bad from None
        valid = (
            isinstance(cursor.owner, str)
            and isinstance(cursor.state, str)
            and isinstance(cursor.before, int)
            and not isinstance(cursor.before, bool)
            and cursor.before > 0
        )
        if not valid:
            raise bad
        return cursor


def owner_digest(who: Caller) -> str:
    """Names the caller (principal, organisation, folder) in a cursor without spelling it out."""
    text = owner_id(who.principal, who.organization_id) + "\n" + who.key_prefix
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def describe_upload(upload: Upload, services: Services) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "fileId": upload.upload_id,
        "fileKey": upload.file_key,
        "fileNumber": upload.file_number,
        "state": upload.state.value,
        "createdAt": upload.created_at,
        "updatedAt": upload.updated_at,
        "fileSize": upload.file_size,
        "contentType": upload.content_type,
        "single": upload.single,
    }
    if upload.state is UploadState.FINISHED:
        entry["size"] = upload.size
        if upload.url is not None:
            entry["url"] = upload.url
    elif upload.state is UploadState.UPLOADING and not upload.single:
        entry["partsExpireAt"] = parts_expire_at(upload.created_at, services.config.parts_kept_days)
    return entry


def _request(body: dict[str, Any], who: Caller) -> tuple[str, int, int | None]:
    state = body.get("state", "all")
    if state not in _STATES:
        raise bad_request(
            f'"state" must be "uploading", "finished", "aborted" or "all", not {describe(state)}'
        )
    limit = field_int(body.get("limit", DEFAULT_LIMIT), "limit", 1, MAX_LIMIT)
    if body.get("cursor") is None:
        return state, limit, None
    cursor = Cursor.decode(body["cursor"])
    if cursor.owner != owner_digest(who):
        raise bad_request('"cursor" belongs to another caller\'s listing: ask again without it')
    if cursor.state != state:
        raise bad_request(f'"cursor" belongs to a listing of state "{cursor.state}", not "{state}"')
    return state, limit, cursor.before


@body_limit(MAX_BODY_BYTES)
def handle(request: ApiRequest, services: Services) -> dict[str, Any]:
    """A page of the caller's uploads."""
    who = required_caller(request, services)
    state, limit, before = _request(request.json if request.body is not None else {}, who)
    found: list[Upload] = []
    exhausted = False
    for _ in range(_ROUNDS):
        wanted = limit + 1 - len(found)  # one more than shown tells whether there is a next page
        page = services.files.list_uploads(
            who.principal, who.organization_id, state=_STATES[state], limit=wanted, before=before
        )
        found.extend(u for u in page if in_prefix(u.file_key, who.key_prefix))
        if page:
            before = page[-1].file_number
        if len(page) < wanted:
            exhausted = True
            break
        if len(found) > limit:
            break
    shown = found[:limit]
    cursor = None
    if len(found) > limit:
        cursor = Cursor(owner_digest(who), state, shown[-1].file_number).encode()
    elif not exhausted and before is not None:  # the rounds ran out: go on below the last upload read
        cursor = Cursor(owner_digest(who), state, before).encode()
    return {"uploads": [describe_upload(u, services) for u in shown], "cursor": cursor}


handler = lambda_handler(handle)
