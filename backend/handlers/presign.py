"""`POST /getPreSignedUrls`: presigned `UploadPart` URLs for a count of parts or chosen numbers.

Body: `{"fileId", "fileKey", "parts": N}` (parts 1..N) or, outside core-only,
`{"fileId", "fileKey", "partNumbers": [4, 5, 6]}`; at most 1,000 URLs per call outside core-only
(10,000 would not fit a Lambda answer's 6 MB): ask for more in pages with `partNumbers`.
Answer: `{"parts": [{"signedUrl", "PartNumber"}], "expiresIn": seconds}` (no `expiresIn` in core-only).
"""

from __future__ import annotations

from typing import Any

from backend.access import open_upload
from backend.apigw import ApiError, ApiRequest, ErrorType, Reason, bad_request, describe, field_int
from backend.files import Upload, UploadState
from backend.finishing import aborted
from backend.limits import URLS_PER_CALL
from backend.runtime import Services, body_limit, lambda_handler
from backend.s3 import MAX_PARTS, presign_parts

MAX_PART_NUMBERS_PER_CALL = URLS_PER_CALL
MAX_BODY_BYTES = 64 * 1024


def check_uploading(upload: Upload) -> None:
    """409 for a finished upload, 404 for an aborted one, 400 for a single PUT: none takes parts."""
    if upload.state is UploadState.FINISHED:
        raise ApiError(
            ErrorType.CONFLICT,
            f"upload {upload.upload_id} is already finished: /finalize answers its link",
            reason=Reason.UPLOAD_FINISHED,
        )
    if upload.state is UploadState.ABORTED:
        raise aborted(upload)
    if upload.single:
        raise bad_request(
            f"upload {upload.upload_id} is a single PUT: it has no parts (PUT the file to its putUrl)"
        )


def requested_numbers(body: dict[str, Any], *, core_only: bool) -> list[int]:
    """The part numbers a request asks for, validated."""
    has_parts = "parts" in body
    has_numbers = "partNumbers" in body and not core_only
    if has_parts and has_numbers:
        raise bad_request('send either "parts" (a count) or "partNumbers" (a list), not both')
    if has_parts:
        count = field_int(body["parts"], "parts", 1, MAX_PARTS)
        if count > MAX_PART_NUMBERS_PER_CALL and not core_only:
            raise bad_request(
                f'"parts" asks for {count} URLs; this API signs at most {MAX_PART_NUMBERS_PER_CALL} per '
                f'call: ask in pages with "partNumbers" (e.g. [1, …, {MAX_PART_NUMBERS_PER_CALL}], then the '
                "next ones)"
            )
        return list(range(1, count + 1))
    if not has_numbers:
        hint = '"parts" (how many parts)' if core_only else '"parts" (a count) or "partNumbers" (a list)'
        raise bad_request(f"say which parts to sign: send {hint}")
    numbers = body["partNumbers"]
    if not isinstance(numbers, list) or not numbers:
        raise bad_request(f'"partNumbers" must be a non-empty array of part numbers, not {describe(numbers)}')
    if len(numbers) > MAX_PART_NUMBERS_PER_CALL:
        raise bad_request(
            f'"partNumbers" lists {len(numbers)} parts; ask for at most {MAX_PART_NUMBERS_PER_CALL} per call'
        )
    checked = [field_int(n, f"partNumbers[{i}]", 1, MAX_PARTS) for i, n in enumerate(numbers)]
    if len(set(checked)) != len(checked):
        raise bad_request('"partNumbers" lists a part more than once')
    return checked


def sign(request: ApiRequest, services: Services, *, accelerated: bool) -> dict[str, Any]:
    """Presign the requested parts of the caller's upload."""
    upload = open_upload(request, services)
    core_only = services.config.core_only
    numbers = requested_numbers(request.json, core_only=core_only)
    check_uploading(upload)
    presigner = services.accelerated_presigner if accelerated else services.presigner
    expiry = services.config.url_expiry
    answer: dict[str, Any] = {
        "parts": presign_parts(presigner, services.bucket, upload.file_key, upload.upload_id, numbers, expiry)
    }
    if not core_only:
        answer["expiresIn"] = expiry
    return answer


@body_limit(MAX_BODY_BYTES)
def handle(request: ApiRequest, services: Services) -> dict[str, Any]:
    """Presign through the bucket's regular endpoint."""
    return sign(request, services, accelerated=False)


handler = lambda_handler(handle)
