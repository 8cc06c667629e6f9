"""The existing deployment's own quirks, for `core_only` stacks (never in this project's handlers).

The existing deployment runs Node.js Lambdas that this project replaces. Two of their failures
are what a client meets there, so the core-only stand-in reproduces them around our handlers:

- its authorizer compares the token with a fixed literal and *throws* for any other token, which
  API Gateway answers `500 {"message": null}` (AuthorizerConfigurationException), not 401;
- its `/initialize` reads `pluginPayload.organizationId` and `.objectRecordId` without a check
  and crashes (API Gateway: `502 Internal server error`) when the body is not JSON, has no
  `pluginPayload`, or lacks either field. It crashes before it writes anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from backend.local.events import LambdaContext
from backend.local.gateway import LambdaFn

REQUIRED_FIELDS = ("organizationId", "objectRecordId")


class ExistingHandlerCrash(RuntimeError):
    """What the existing Node handlers throw (a TypeError or SyntaxError there)."""


def authorizer(ours: LambdaFn) -> LambdaFn:
    """The existing authorizer: our token check, but an unknown token throws instead of "Unauthorized"."""

    def function(event: Mapping[str, Any], context: LambdaContext) -> Any:
        try:
            return ours(event, context)
        except Exception as exc:
            if str(exc) == "Unauthorized":
                raise ExistingHandlerCrash("Error: invalid token") from None
            raise

    return function


def initialize(ours: LambdaFn) -> LambdaFn:
    """The existing `/initialize`: crashes without the two `pluginPayload` fields, else ours."""

    def function(event: Mapping[str, Any], context: LambdaContext) -> Any:
        try:
            body = json.loads(event.get("body") or "")
        except ValueError:
            raise ExistingHandlerCrash("SyntaxError: Unexpected token in JSON") from None
        payload = body.get("pluginPayload") if isinstance(body, dict) else None
        if not isinstance(payload, dict):
            raise ExistingHandlerCrash("TypeError: pluginPayload is undefined")
        for name in REQUIRED_FIELDS:
            if payload.get(name) is None:
                raise ExistingHandlerCrash(f"TypeError: pluginPayload.{name} is undefined")
        return ours(event, context)

    return function
