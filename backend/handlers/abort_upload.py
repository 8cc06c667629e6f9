"""`POST /abortUpload`: abort an unfinished upload and mark it aborted.

Body: `{"fileId", "fileKey"}`. Answer: `{}`, also when the upload was already aborted (or S3 no
longer has it); 409 (`reason: UPLOAD_FINISHED`) when it is already finished. A multipart upload's
parts are deleted; a single PUT is forgotten, and a file it already sent (but did not finish) is
removed. Any claim the upload held on its key is given up.
"""

from __future__ import annotations

from typing import Any

from backend.access import open_upload
from backend.apigw import ApiError, ApiRequest, ErrorType, Reason
from backend.files import Upload, UploadState
from backend.publication import release_claim
from backend.runtime import Services, body_limit, lambda_handler
from backend.s3 import abort_upload, delete_version, head_object

MAX_BODY_BYTES = 16 * 1024


def _forget_single(upload: Upload, services: Services) -> None:
    stored = head_object(services.s3, services.bucket, upload.file_key)
    if stored is not None and stored.marker == str(upload.file_number):  # sent, never finished
        delete_version(services.s3, services.bucket, upload.file_key, stored.version_id)


@body_limit(MAX_BODY_BYTES)
def handle(request: ApiRequest, services: Services) -> dict[str, Any]:
    """Abort the caller's upload."""
    upload = open_upload(request, services)
    if upload.state is UploadState.ABORTED:
        return {}
    if upload.state is UploadState.FINISHED:
        raise ApiError(
            ErrorType.CONFLICT,
            f"upload {upload.upload_id} is finished; there is nothing to abort",
            reason=Reason.UPLOAD_FINISHED,
        )
    if upload.single:
        _forget_single(upload, services)
    else:
        try:
            abort_upload(services.s3, services.bucket, upload.file_key, upload.upload_id)
        except ApiError as error:
            if error.type is not ErrorType.NOT_FOUND:  # S3 no longer has it (e.g. a lifecycle rule)
                raise
    if not services.config.core_only:
        release_claim(services.files, upload.file_key, upload.upload_id)
    services.files.mark_aborted(upload)
    return {}


handler = lambda_handler(handle)
