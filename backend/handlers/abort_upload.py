"""`POST /abortUpload`: abort an unfinished upload (S3 deletes its parts) and mark it aborted.

Body: `{"fileId", "fileKey"}`. Answer: `{}`, also when the upload was already aborted (or S3
no longer has it); 409 when it is already finished.
"""

from __future__ import annotations

from typing import Any

from backend.access import open_upload
from backend.apigw import ApiError, ApiRequest, ErrorType
from backend.files import UploadState
from backend.runtime import Services, lambda_handler
from backend.s3 import abort_upload


def handle(request: ApiRequest, services: Services) -> dict[str, Any]:
    """Abort the caller's upload."""
    pointer = open_upload(request, services)
    if pointer.state is UploadState.ABORTED:
        return {}
    if pointer.state is UploadState.FINISHED:
        raise ApiError(
            ErrorType.CONFLICT, f"upload {pointer.upload_id} is finished; there is nothing to abort"
        )
    try:
        abort_upload(services.s3, services.bucket, pointer.file_key, pointer.upload_id)
    except ApiError as error:
        if error.type is not ErrorType.NOT_FOUND:  # S3 no longer has it (e.g. a lifecycle rule)
            raise
    services.files.mark_aborted(pointer)
    return {}


handler = lambda_handler(handle)
