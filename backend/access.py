"""Who may do what: the caller from the authorizer, and the upload a request names.

Callers may rely on: `open_upload` returns only an upload whose key matches the request's
`fileKey` and that the caller started (403 `ACCESS_DENIED` otherwise, 404 when unknown).
"""

from __future__ import annotations

from backend.apigw import ApiError, ApiRequest, Caller, ErrorType, bad_request, field_str
from backend.files import Upload
from backend.runtime import Services

MAX_UPLOAD_ID = 256  # S3's are ~100 characters; DynamoDB keys may not exceed 2048 bytes


def caller(request: ApiRequest, services: Services) -> Caller | None:
    """The authorized caller; None only in core-only mode, where most routes are unprotected."""
    if request.caller is not None:
        return request.caller
    if services.config.core_only:
        return None
    # Reached only when a route is deployed without the authorizer: refuse rather than guess.
    raise ApiError(ErrorType.UNAUTHORIZED, "Unauthorized")


def required_caller(request: ApiRequest, services: Services) -> Caller:
    """The authorized caller; 401 when there is none."""
    who = caller(request, services)
    if who is None:
        raise ApiError(ErrorType.UNAUTHORIZED, "Unauthorized")
    return who


def open_upload(request: ApiRequest, services: Services) -> Upload:
    """The upload named by the body's `fileId` and `fileKey`, checked against the caller."""
    body = request.json
    who = caller(request, services)
    upload_id = field_str(body, "fileId", max_len=MAX_UPLOAD_ID)
    file_key = field_str(body, "fileKey")
    pointer = services.files.find(upload_id)
    if pointer is None:
        raise ApiError(
            ErrorType.NOT_FOUND,
            f"there is no upload with fileId {upload_id!r}: use the fileId that /initialize answered",
        )
    if who is not None and who.principal != pointer.principal:
        raise ApiError(ErrorType.ACCESS_DENIED, "this upload was started by someone else")
    if file_key != pointer.file_key:
        raise bad_request(f'"fileKey" does not match the upload: it was started for {pointer.file_key!r}')
    return pointer
