"""Who may do what: the caller from the authorizer, and the uploads a request names.

Callers may rely on: `open_upload` / `check_owner` return only an upload whose key matches the
request's `fileKey`, that the caller's principal *and* organisation started, and whose key lies
inside the caller's token prefix (403 `ACCESS_DENIED` otherwise, 404 when unknown).
"""

from __future__ import annotations

from typing import Any

from backend.apigw import ApiError, ApiRequest, Caller, ErrorType, bad_request, field_str
from backend.files import Upload
from backend.keys import in_prefix
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


def upload_ids(entry: dict[str, Any], where: str = "") -> tuple[str, str]:
    """The `fileId` and `fileKey` a request (or a batch entry) names."""
    return (
        field_str(entry, "fileId", where=where, max_len=MAX_UPLOAD_ID),
        field_str(entry, "fileKey", where=where),
    )


def not_found(upload_id: str) -> ApiError:
    return ApiError(
        ErrorType.NOT_FOUND,
        f"there is no upload with fileId {upload_id!r}: use the fileId that /initialize answered",
    )


def check_owner(
    upload: Upload | None, upload_id: str, file_key: str, who: Caller | None, where: str = ""
) -> Upload:
    """`upload` if `who` may act on it and `file_key` is its key; the 404/403/400 otherwise."""
    if upload is None:
        raise not_found(upload_id)
    if who is not None:
        if not upload.owned_by(who.principal, who.organization_id):
            raise ApiError(ErrorType.ACCESS_DENIED, "this upload was started by someone else")
        if not in_prefix(upload.file_key, who.key_prefix):
            raise ApiError(
                ErrorType.ACCESS_DENIED,
                "this upload's key is outside the folder your token may upload to",
            )
    if file_key != upload.file_key:
        raise bad_request(
            f'"{where}fileKey" does not match the upload: it was started for {upload.file_key!r}'
        )
    return upload


def open_upload(request: ApiRequest, services: Services) -> Upload:
    """The upload named by the body's `fileId` and `fileKey`, checked against the caller."""
    who = caller(request, services)
    upload_id, file_key = upload_ids(request.json)
    return check_owner(services.files.find(upload_id), upload_id, file_key, who)
