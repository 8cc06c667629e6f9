"""`POST /finalize`: complete the multipart upload (or check a single PUT) and mark it finished.

Body: `{"fileId", "fileKey", "parts": [{"PartNumber": 1, "ETag": "\\"...\\""}, ...]}` with parts
numbered 1..N in order (no `parts` for a single-PUT file). Answer: `{"imagePath", "url", "size"}`
(`url` only with a CDN base URL; `{"imagePath"}` alone in core-only). Finalizing a finished upload
again answers the same; see `backend.finishing` for what is checked before anything is published.
"""

from __future__ import annotations

from typing import Any

from backend.access import open_upload
from backend.apigw import ApiRequest
from backend.files import UploadState
from backend.finishing import Finisher, finish_answer, requested_parts
from backend.runtime import Services, body_limit, lambda_handler

MAX_BODY_BYTES = 2 * 1024 * 1024
"""10,000 parts of about 60 bytes each, with room for whitespace."""


@body_limit(MAX_BODY_BYTES)
def handle(request: ApiRequest, services: Services) -> dict[str, Any]:
    """Finish the caller's upload."""
    upload = open_upload(request, services)
    parts = None
    if not upload.single and upload.state is UploadState.UPLOADING:
        parts = requested_parts(request.json)
    finished = Finisher(services).finish(upload, parts)
    return finish_answer(finished, services)


handler = lambda_handler(handle)
