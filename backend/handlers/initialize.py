"""`POST /initialize`: record the request in `Files` and start a multipart upload on its key.

Body: `{"plugin": "upload-s3", "pluginPayload": {"imageKey": "<key>", ...}}`; optional
`contentType`, `fileSize`, `overwrite` and `clientToken` at the top level or inside
`pluginPayload`. Answer: `{"fileId", "fileKey"}`, plus outside core-only `maxParts`,
`minPartSize`, `maxPartSize`, `partsKeptDays` and `partsExpireAt` (when S3 aborts the upload if
it is not finished by then). The same `clientToken` again answers the same upload.
"""

from __future__ import annotations

from typing import Any

from backend.access import required_caller
from backend.apigw import ApiError, ApiRequest
from backend.files import Upload
from backend.runtime import Services, body_limit, lambda_handler
from backend.s3 import MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, parts_expire_at
from backend.starting import parse_file, start_files

MAX_BODY_BYTES = 1024 * 1024


def answer(upload: Upload, services: Services) -> dict[str, Any]:
    """`/initialize`'s answer for a started (or replayed) upload."""
    result: dict[str, Any] = {"fileId": upload.upload_id, "fileKey": upload.file_key}
    if not services.config.core_only:
        days = services.config.parts_kept_days
        result.update(
            maxParts=MAX_PARTS,
            minPartSize=MIN_PART_SIZE,
            maxPartSize=MAX_PART_SIZE,
            partsKeptDays=days,
            partsExpireAt=parts_expire_at(upload.created_at, days),
        )
    return result


@body_limit(MAX_BODY_BYTES)
def handle(request: ApiRequest, services: Services) -> dict[str, Any]:
    """Start an upload; 409 if an object exists at the key and `overwrite` is not true."""
    who = required_caller(request, services)
    wanted = parse_file(request.json, who, services, batch=False)
    (started,) = start_files(services, who, [wanted])
    if isinstance(started, ApiError):
        raise started
    return answer(started, services)


handler = lambda_handler(handle)
