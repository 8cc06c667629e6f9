"""`POST /session`: who the token belongs to, which extensions this API has, and its limits.

Body: `{}` (or none). Answer: `{"principal", "organizationId", "keyPrefix", "capabilities",
"partsKeptDays", "limits"}`. `partsKeptDays`: an unfinished multipart upload keeps its parts this
many days after it started (the bucket's lifecycle rule then aborts it; `/initialize` answers the
exact `partsExpireAt`).
"""

from __future__ import annotations

from typing import Any

from backend.access import required_caller
from backend.apigw import ApiRequest
from backend.limits import announced
from backend.runtime import Services, body_limit, lambda_handler

CAPABILITIES = (
    "partNumbers",
    "listParts",
    "abortUpload",
    "url",
    "clientToken",
    "batch",
    "singlePut",
    "listUploads",
)
MAX_BODY_BYTES = 4 * 1024


@body_limit(MAX_BODY_BYTES)
def handle(request: ApiRequest, services: Services) -> dict[str, Any]:
    """Describe the caller's session."""
    caller = required_caller(request, services)
    return {
        "principal": caller.principal,
        "organizationId": caller.organization_id,
        "keyPrefix": caller.key_prefix,
        "capabilities": list(CAPABILITIES),
        "partsKeptDays": services.config.parts_kept_days,
        "limits": announced(),
    }


handler = lambda_handler(handle)
