"""Finishing uploads, one or a hundred at a time: what `/finalize` and `/finalizeBatch` share.

Callers may rely on:
- finishing is idempotent: a finished upload answers what it recorded, and an upload that S3
  completed before the table could record it (a crash, a lost answer) is recognised by the
  marker its object carries and recorded now;
- nothing is published that breaks a promise: the parts are checked against what S3 holds
  (ListParts) *before* CompleteMultipartUpload, so a size other than the `fileSize` given at the
  start is a 400 and the object never appears; the key is claimed first (see
  `backend.publication`), so a key published meanwhile is a 409 and another organisation's
  object a 403; a single PUT of the wrong size is removed again;
- every refusal is an `ApiError` with a sentence saying what to do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from backend.apigw import ApiError, ErrorType, Reason, bad_request, describe, field_int
from backend.files import Finish, Publication, PublicationLostError, Upload, UploadState
from backend.publication import FINISH_CLAIM_SECONDS, claim_key, release_claim
from backend.runtime import Services
from backend.s3 import MAX_PARTS, Part, complete_upload, delete_version, head_object, list_parts

log = logging.getLogger(__name__)


def requested_parts(body: dict[str, Any], where: str = "") -> list[tuple[int, str]]:
    """`(PartNumber, ETag)` pairs, which must be numbered 1, 2, 3, … in order."""
    if "parts" not in body:
        raise bad_request(f'"{where}parts" is missing: list every part as {{"PartNumber": n, "ETag": "..."}}')
    parts = body["parts"]
    if not isinstance(parts, list) or not parts:
        raise bad_request(
            f'"{where}parts" must be a non-empty array of {{"PartNumber", "ETag"}}, not {describe(parts)}'
        )
    if len(parts) > MAX_PARTS:
        raise bad_request(f'"{where}parts" lists {len(parts)} parts; an upload has at most {MAX_PARTS}')
    pairs: list[tuple[int, str]] = []
    for index, part in enumerate(parts):
        label = f"{where}parts[{index}]"
        if not isinstance(part, dict):
            raise bad_request(
                f'"{label}" must be an object with "PartNumber" and "ETag", not {describe(part)}'
            )
        if "PartNumber" not in part:
            raise bad_request(f'"{label}.PartNumber" is missing')
        number = field_int(part["PartNumber"], f"{label}.PartNumber", 1, MAX_PARTS)
        etag = part.get("ETag")
        if not isinstance(etag, str) or not etag.strip('"'):
            raise bad_request(
                f'"{label}.ETag" must be the ETag S3 answered for the part, not {describe(etag)}'
            )
        expected = index + 1  # parts[0:index] are exactly 1..index, checked below
        if number != expected:
            problem = f"part {number} is listed twice" if number < expected else f"part {expected} is missing"
            raise bad_request(f'"{where}parts" must be numbered 1, 2, 3, … in order: {problem} (at {label})')
        pairs.append((number, etag))
    return pairs


def cdn_url(base: str | None, key: str) -> str | None:
    """The object's URL behind the CDN, or None without a CDN base URL."""
    return f"{base.rstrip('/')}/{quote(key, safe='/')}" if base else None


def aborted(upload: Upload) -> ApiError:
    return ApiError(
        ErrorType.NOT_FOUND,
        f"upload {upload.upload_id} was aborted; start a new one",
        reason=Reason.UPLOAD_ABORTED,
    )


def _strip(etag: str) -> str:
    return etag.strip().strip('"')


def checked_size(upload: Upload, requested: list[tuple[int, str]], held: list[Part]) -> int:
    """The size the object will have, once every requested part is known to be the one S3 holds."""
    by_number = {part.number: part for part in held}
    size = 0
    for number, etag in requested:
        part = by_number.get(number)
        if part is None:
            raise bad_request(f"S3 has no part {number} of this upload: send it, then finish")
        if _strip(part.etag) != _strip(etag):
            raise bad_request(
                f"part {number}'s ETag is {etag}, but S3 holds {part.etag} for it: send the part again "
                "or list the parts S3 has (/listParts)"
            )
        size += part.size
    if upload.file_size is not None and size != upload.file_size:
        raise bad_request(
            f"the parts add up to {size} bytes, but the upload was started with fileSize {upload.file_size}; "
            "nothing was published: send the right parts, or abort the upload"
        )
    return size


@dataclass
class Finisher:
    """Finishes uploads on one set of services.

    `current` holds the publication records of the keys in `read_ahead`, read in one call before
    (a key of `read_ahead` missing from `current` has no record); other keys are read when needed.
    """

    services: Services
    current: dict[str, Publication] = field(default_factory=dict)
    read_ahead: frozenset[str] = frozenset()

    @property
    def guarded(self) -> bool:
        """Keys are claimed and published (everywhere but in the existing deployment's mimicry)."""
        return not self.services.config.core_only

    def finish(self, upload: Upload, parts: list[tuple[int, str]] | None) -> Upload:
        """Finish `upload` (from the parts the client sent, for a multipart one); the upload as recorded."""
        if upload.state is UploadState.FINISHED:
            return upload
        if upload.state is UploadState.ABORTED:
            raise aborted(upload)
        if upload.single:
            return self._single(upload)
        if parts is None:
            raise bad_request('"parts" is missing: list every part as {"PartNumber": n, "ETag": "..."}')
        return self._multipart(upload, parts)

    def _claim(self, upload: Upload, current: Publication | None, known: bool) -> Publication | None:
        if not self.guarded:
            return None
        return claim_key(
            self.services.files,
            upload.file_key,
            principal=upload.principal,
            organization_id=upload.organization_id,
            upload_id=upload.upload_id,
            overwrite=upload.overwrite,
            holds_for=FINISH_CLAIM_SECONDS,
            object_exists=lambda: (
                head_object(self.services.s3, self.services.bucket, upload.file_key) is not None
            ),
            current=current,
            known=known,
        )

    def _record(self, upload: Upload, size: int, etag: str, claim: Publication | None) -> Upload:
        finish = Finish(size=size, url=cdn_url(self.services.config.cdn_base_url, upload.file_key), etag=etag)
        files = self.services.files
        try:
            return files.mark_finished(upload, finish, claim)
        except PublicationLostError:
            current = files.get_publications([upload.file_key]).get(upload.file_key)
        if current is not None and current.upload_id == upload.upload_id:  # read ahead, then changed by us
            return files.mark_finished(upload, finish, current)
        # Only if finishing outlived its claim: the object is complete, so say so anyway.
        log.warning("upload %s finished after its claim on its key had lapsed", upload.upload_id)
        return files.mark_finished(upload, finish)

    def _multipart(self, upload: Upload, parts: list[tuple[int, str]]) -> Upload:
        services = self.services
        bucket, key = services.bucket, upload.file_key
        try:
            held = list_parts(services.s3, bucket, key, upload.upload_id)
        except ApiError as error:
            if error.type is ErrorType.NOT_FOUND:
                return self._recover(upload, error)
            raise
        size = checked_size(upload, parts, held)
        claim = self._claim(upload, self.current.get(key), known=key in self.read_ahead)
        try:
            etag = complete_upload(
                services.s3,
                bucket,
                key,
                upload.upload_id,
                parts,
                only_if_absent=self.guarded and not upload.overwrite,
            )
        except ApiError as error:
            if error.type is ErrorType.NOT_FOUND:  # a finish that ran at the same time completed it
                return self._recover(upload, error)
            if self.guarded:
                release_claim(services.files, key, upload.upload_id)
            raise
        return self._record(upload, size, etag, claim)

    def _recover(self, upload: Upload, gone: ApiError) -> Upload:
        """S3 no longer has the multipart upload: finished by an earlier call whose record was lost?"""
        services = self.services
        stored = head_object(services.s3, services.bucket, upload.file_key)
        if stored is None or stored.marker != str(upload.file_number):
            days = services.config.parts_kept_days
            raise ApiError(
                ErrorType.NOT_FOUND,
                f"S3 no longer has upload {upload.upload_id}: it was aborted, or expired (unfinished uploads "
                f"are removed after {days} days); start it again",
            ) from gone
        current = services.files.get_publications([upload.file_key]).get(upload.file_key)
        mine = current if current is not None and current.upload_id == upload.upload_id else None
        return self._record(upload, stored.size, stored.etag, mine)

    def _single(self, upload: Upload) -> Upload:
        services = self.services
        bucket, key = services.bucket, upload.file_key
        stored = head_object(services.s3, bucket, key)
        if stored is None:
            raise bad_request(
                f"S3 has no file at {key!r} yet: PUT it to its putUrl with its headers, then finish "
                "(/initializeBatch with the same clientToken signs a new URL)"
            )
        if stored.marker != str(upload.file_number):
            raise ApiError(
                ErrorType.CONFLICT,
                f"the object at {key!r} is not the one this upload sent (S3 refused the PUT, or another "
                "writer replaced it); nothing was published for this upload",
                reason=Reason.KEY_EXISTS,
            )
        if upload.file_size is not None and stored.size != upload.file_size:
            delete_version(services.s3, bucket, key, stored.version_id)
            raise bad_request(
                f"S3 received {stored.size} bytes, but the upload was started with fileSize "
                f"{upload.file_size}; the object was removed and nothing was published: send the file again"
            )
        known = key in self.read_ahead
        current = self.current.get(key) if known else services.files.get_publications([key]).get(key)
        claim = current if current is not None and current.upload_id == upload.upload_id else None
        if claim is None and self.guarded:
            claim = self._claim(upload, current, known=True)
        return self._record(upload, stored.size, stored.etag, claim)


def finish_answer(upload: Upload, services: Services) -> dict[str, Any]:
    """`/finalize`'s answer for a finished upload (`{"imagePath"}` alone in core-only)."""
    if services.config.core_only:
        return {"imagePath": upload.file_key}
    answer: dict[str, Any] = {"imagePath": upload.file_key, "size": upload.size or 0}
    if upload.url is not None:
        answer["url"] = upload.url
    return answer
