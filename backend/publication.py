"""One key, one owner: who may write an object at a key, decided against its publication record.

A key's record (`backend.files.Publication`) says which organisation published the object there,
or which upload is writing it right now (a claim, which lapses). Writers take the key by a
compare-and-swap on that record, so two writers can never both pass the check:
- nobody owns the key: anyone may write it — without `overwrite` only when S3 has no object there;
- the key is this upload's already: go on;
- another upload is writing it (a live claim): `409 KEY_BUSY`;
- it was published (or a lapsed claim left an object): with `overwrite`, the same organisation
  takes it over, another gets `403`; without `overwrite` it is `409 KEY_EXISTS` — unless S3 no
  longer has the object (deleted or expired), in which case the key is free again.
S3's own condition (`If-None-Match: *`, where the server honours it) guards against writers
that bypass the API; the record is what holds on servers that ignore it (`rclone serve s3`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum

from backend.apigw import ApiError, ErrorType, Reason
from backend.files import FileStore, Publication, PublicationState

FINISH_CLAIM_SECONDS = 15 * 60
"""How long a multipart finish holds its key: past the longest a Lambda function may run."""
CLAIM_SLACK_SECONDS = 60
"""Added to a single PUT's URL lifetime: clocks differ, and S3 accepts a request that began in time."""
_SWAP_ATTEMPTS = 4


class Verdict(Enum):
    TAKE = "take"
    ASK_S3 = "ask S3 whether an object is there"
    BUSY = "busy"


def judge(
    current: Publication | None, *, upload_id: str, organization_id: str, overwrite: bool, now: float
) -> Verdict:
    """What a writer may do with a key, from its record alone (see the module's rules)."""
    if current is None or current.upload_id == upload_id:
        return Verdict.TAKE
    if current.live_claim(now):
        return Verdict.BUSY
    if overwrite and current.organization_id == organization_id:
        return Verdict.TAKE
    return Verdict.ASK_S3


def busy(key: str) -> ApiError:
    return ApiError(
        ErrorType.CONFLICT,
        f"another upload is writing {key!r} right now; try again in a few minutes or choose another key",
        reason=Reason.KEY_BUSY,
    )


def exists(key: str) -> ApiError:
    return ApiError(
        ErrorType.CONFLICT,
        f'an object already exists at {key!r}: choose another key or send "overwrite": true',
        reason=Reason.KEY_EXISTS,
    )


def denied(key: str) -> ApiError:
    return ApiError(
        ErrorType.ACCESS_DENIED,
        f"the object at {key!r} was published by another organisation: only that organisation may replace it",
    )


def check_writable(
    current: Publication | None,
    key: str,
    *,
    upload_id: str,
    organization_id: str,
    overwrite: bool,
    object_exists: Callable[[], bool],
    now: float,
) -> None:
    """Raise the 409/403 that refuses this writer the key; return when it may write.

    `object_exists` (a HEAD) is asked only when the record cannot decide: nobody owns the key and
    the writer would not overwrite, or someone else published it.
    """
    verdict = judge(
        current, upload_id=upload_id, organization_id=organization_id, overwrite=overwrite, now=now
    )
    if verdict is Verdict.BUSY:
        raise busy(key)
    if verdict is Verdict.TAKE and (current is not None or overwrite):
        return
    if not object_exists():
        return
    if current is None or not overwrite:
        raise exists(key)
    raise denied(key)


def claim_key(
    store: FileStore,
    key: str,
    *,
    principal: str,
    organization_id: str,
    upload_id: str,
    overwrite: bool,
    holds_for: float,
    object_exists: Callable[[], bool],
    current: Publication | None = None,
    known: bool = False,
) -> Publication:
    """Claim `key` for `upload_id` for `holds_for` seconds (compare-and-swap); returns the stored claim.

    `current`, when `known`, is the record as just read (saves a read). A record already published
    by this upload is returned as it is. Raises the 409/403 of `check_writable`.
    """
    for _ in range(_SWAP_ATTEMPTS):
        if not known:
            current = store.get_publications([key]).get(key)
        now = time.time()
        check_writable(
            current,
            key,
            upload_id=upload_id,
            organization_id=organization_id,
            overwrite=overwrite,
            object_exists=object_exists,
            now=now,
        )
        if (
            current is not None
            and current.upload_id == upload_id
            and current.state is PublicationState.PUBLISHED
        ):
            return current
        claim = Publication(
            file_key=key,
            organization_id=organization_id,
            principal=principal,
            upload_id=upload_id,
            state=PublicationState.CLAIMED,
            since=now,
            holds_until=now + holds_for,
        )
        stored = store.put_publication(claim, current)
        if stored is not None:
            return stored
        known = False  # someone else wrote the record meanwhile: read it and decide again
    raise busy(key)


def release_claim(store: FileStore, key: str, upload_id: str) -> None:
    """Give up this upload's claim on `key`, if it still holds one (a published record stays)."""
    current = store.get_publications([key]).get(key)
    if current is not None and current.upload_id == upload_id and current.state is PublicationState.CLAIMED:
        store.delete_publication(current)
