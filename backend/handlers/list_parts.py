"""`POST /listParts`: every part S3 holds for an unfinished upload (all pages).

Body: `{"fileId", "fileKey"}`. Answer: `{"parts": [{"PartNumber", "ETag", "Size"}]}`.
"""

from __future__ import annotations

from typing import Any

from backend.access import open_upload
from backend.apigw import ApiRequest
from backend.handlers.presign import check_uploading
from backend.runtime import Services, body_limit, lambda_handler
from backend.s3 import list_parts

MAX_BODY_BYTES = 16 * 1024


@body_limit(MAX_BODY_BYTES)
def handle(request: ApiRequest, services: Services) -> dict[str, Any]:
    """List the caller's upload's parts, for a client that resumes."""
    upload = open_upload(request, services)
    check_uploading(upload)
    parts = list_parts(services.s3, services.bucket, upload.file_key, upload.upload_id)
    return {"parts": [{"PartNumber": p.number, "ETag": p.etag, "Size": p.size} for p in parts]}


handler = lambda_handler(handle)
