"""`POST /initialize`: record the request in `Files` and start a multipart upload on its key.

Body: `{"plugin": "upload-s3", "pluginPayload": {"imageKey": "<key>", ...}}`; optional
`contentType`, `fileSize` and `overwrite` at the top level or inside `pluginPayload`.
Answer: `{"fileId", "fileKey"}` (+ `maxParts`, `minPartSize`, `maxPartSize` outside core-only).
"""

from __future__ import annotations

import json
from typing import Any

from backend.access import required_caller
from backend.apigw import (
    ApiError,
    ApiRequest,
    ErrorType,
    bad_request,
    describe,
    field_int,
    field_object,
    field_str,
)
from backend.files import NewUpload
from backend.keys import MAX_KEY_BYTES, check_key, content_type_for
from backend.runtime import Services, lambda_handler
from backend.s3 import (
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    abort_upload,
    object_exists,
    start_upload,
)


def _option(body: dict[str, Any], payload: dict[str, Any], name: str) -> Any:
    """An optional extension field, read from the top level first, then from `pluginPayload`."""
    if name in body:
        return body[name]
    return payload.get(name)


def handle(request: ApiRequest, services: Services) -> dict[str, Any]:
    """Start an upload; 409 if an object exists at the key and `overwrite` is not true."""
    caller = required_caller(request, services)
    body = request.json
    payload = field_object(body, "pluginPayload")
    key = check_key(
        field_str(payload, "imageKey", where="pluginPayload.", max_len=MAX_KEY_BYTES),
        field="pluginPayload.imageKey",
        prefix=caller.key_prefix,
    )
    requested_type = _option(body, payload, "contentType")
    if requested_type is not None and not isinstance(requested_type, str):
        raise bad_request(f'"contentType" must be a string, not {describe(requested_type)}')
    content_type = content_type_for(key, requested_type)
    size = _option(body, payload, "fileSize")
    file_size = None if size is None else field_int(size, "fileSize", 0, MAX_OBJECT_SIZE)
    overwrite = _option(body, payload, "overwrite")
    if overwrite is not None and not isinstance(overwrite, bool):
        raise bad_request(f'"overwrite" must be true or false, not {describe(overwrite)}')

    request_json = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    size_in_bytes, limit = len(request_json.encode("utf-8")), services.config.max_metadata_bytes
    if size_in_bytes > limit:
        raise ApiError(
            ErrorType.REQUEST_TOO_LARGE,
            f"the request's metadata is {size_in_bytes} bytes; at most {limit} are kept",
        )
    core_only = services.config.core_only
    if not overwrite and not core_only and object_exists(services.s3, services.bucket, key):
        raise ApiError(
            ErrorType.CONFLICT,
            f'an object already exists at {key!r}: choose another key or send "overwrite": true',
        )

    number = services.files.next_number()
    upload_id = start_upload(services.s3, services.bucket, key, content_type)
    upload = NewUpload(
        upload_id=upload_id,
        file_key=key,
        principal=caller.principal,
        organization_id=caller.organization_id,
        request_json=request_json,
        content_type=content_type,
        file_size=file_size,
    )
    try:
        services.files.record(number, upload)
    except Exception:
        abort_upload(services.s3, services.bucket, key, upload_id)  # leave no untracked upload
        raise
    answer: dict[str, Any] = {"fileId": upload_id, "fileKey": key}
    if not core_only:
        answer.update(maxParts=MAX_PARTS, minPartSize=MIN_PART_SIZE, maxPartSize=MAX_PART_SIZE)
    return answer


handler = lambda_handler(handle)
