"""`POST /getPreSignedTAUrls`: as `/getPreSignedUrls`, through S3 Transfer Acceleration on AWS.

Locally (an S3 endpoint is configured) the URLs name that endpoint, as there is no acceleration.
"""

from __future__ import annotations

from typing import Any

from backend.apigw import ApiRequest
from backend.handlers.presign import MAX_BODY_BYTES, sign
from backend.runtime import Services, body_limit, lambda_handler


@body_limit(MAX_BODY_BYTES)
def handle(request: ApiRequest, services: Services) -> dict[str, Any]:
    """Presign through the accelerated endpoint."""
    return sign(request, services, accelerated=True)


handler = lambda_handler(handle)
