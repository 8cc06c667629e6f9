"""`POST /finalize`: complete the multipart upload and mark its `Files` item finished.

Body: `{"fileId", "fileKey", "parts": [{"PartNumber": 1, "ETag": "\\"...\\""}, ...]}` with parts
numbered 1..N in order. Answer: `{"imagePath", "url", "size"}` (`url` only with a CDN base URL;
`{"imagePath"}` alone in core-only). Finalizing a finished upload again answers the same.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from backend.access import open_upload
from backend.apigw import ApiError, ApiRequest, ErrorType, bad_request, describe, field_int
from backend.files import Finish, UploadState
from backend.runtime import Services, lambda_handler
from backend.s3 import MAX_PARTS, complete_upload, object_size


def requested_parts(body: dict[str, Any]) -> list[tuple[int, str]]:
    """`(PartNumber, ETag)` pairs, which must be numbered 1, 2, 3, … in order."""
    if "parts" not in body:
        raise bad_request('"parts" is missing: list every part as {"PartNumber": n, "ETag": "..."}')
    parts = body["parts"]
    if not isinstance(parts, list) or not parts:
        raise bad_request(
            f'"parts" must be a non-empty array of {{"PartNumber", "ETag"}}, not {describe(parts)}'
        )
    if len(parts) > MAX_PARTS:
        raise bad_request(f'"parts" lists {len(parts)} parts; an upload has at most {MAX_PARTS}')
    pairs: list[tuple[int, str]] = []
    for index, part in enumerate(parts):
        label = f"parts[{index}]"
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
            raise bad_request(f'"parts" must be numbered 1, 2, 3, … in order: {problem} (at {label})')
        pairs.append((number, etag))
    return pairs


def _answer(key: str, finished: Finish, services: Services) -> dict[str, Any]:
    if services.config.core_only:
        return {"imagePath": key}
    answer: dict[str, Any] = {"imagePath": key, "size": finished.size}
    if finished.url is not None:
        answer["url"] = finished.url
    return answer


def cdn_url(base: str | None, key: str) -> str | None:
    """The object's URL behind the CDN, or None without a CDN base URL."""
    return f"{base.rstrip('/')}/{quote(key, safe='/')}" if base else None


def handle(request: ApiRequest, services: Services) -> dict[str, Any]:
    """Complete the caller's upload from its parts' ETags."""
    pointer = open_upload(request, services)
    if pointer.state is UploadState.FINISHED:  # a retried finalize: answer as the first time
        return _answer(pointer.file_key, pointer.finish, services)
    if pointer.state is UploadState.ABORTED:
        raise ApiError(ErrorType.NOT_FOUND, f"upload {pointer.upload_id} was aborted; start a new one")
    parts = requested_parts(request.json)
    bucket = services.bucket
    complete_upload(services.s3, bucket, pointer.file_key, pointer.upload_id, parts)
    finished = Finish(
        size=object_size(services.s3, bucket, pointer.file_key),
        url=cdn_url(services.config.cdn_base_url, pointer.file_key),
    )
    services.files.mark_finished(pointer, finished)
    return _answer(pointer.file_key, finished, services)


handler = lambda_handler(handle)
