"""`POST /session`: who the token belongs to and which extensions this API has.

Body: `{}` (or none). Answer: `{"principal", "organizationId", "keyPrefix", "capabilities"}`.
"""

from __future__ import annotations

from typing import Any

from backend.access import required_caller
from backend.apigw import ApiRequest
from backend.runtime import Services, lambda_handler

CAPABILITIES = ("partNumbers", "listParts", "abortUpload", "url")


def handle(request: ApiRequest, services: Services) -> dict[str, Any]:
    """Describe the caller's session."""
    caller = required_caller(request, services)
    return {
        "principal": caller.principal,
        "organizationId": caller.organization_id,
        "keyPrefix": caller.key_prefix,
        "capabilities": list(CAPABILITIES),
    }


handler = lambda_handler(handle)
