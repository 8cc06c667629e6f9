"""The Lambda TOKEN authorizer: a stored, unexpired, unrevoked token gets an Allow policy.

Event: `{"type": "TOKEN", "authorizationToken": "<token>" or "Bearer <token>", "methodArn": ...}`.
Answer: an Allow policy on `arn:aws:execute-api:<region>:<account>:<api>/<stage>/*/*` (so a cached
answer covers every route) and the context `{"principal", "organizationId", "keyPrefix"}`.
A missing, unknown, expired or revoked token raises `Exception("Unauthorized")`, which API
Gateway turns into its 401 answer. Tokens are never logged; only the first digits of their hash.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from backend.runtime import Services, services_from_env
from backend.tokens import TokenRejectedError, token_from_header

log = logging.getLogger(__name__)


class Unauthorized(Exception):
    """Raised for any token that must get API Gateway's 401; its message is exactly "Unauthorized"."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def stage_wildcard(method_arn: str) -> str:
    """`arn:...:<api>/<stage>/*/*` for the `methodArn` of one route; ValueError when malformed."""
    parts = method_arn.split(":", 5)
    path = parts[5].split("/") if len(parts) == 6 else []
    if len(parts) != 6 or parts[2] != "execute-api" or len(path) < 2 or not all(path[:2]):
        raise ValueError(f"not an execute-api method ARN: {method_arn!r}")
    return ":".join(parts[:5]) + f":{path[0]}/{path[1]}/*/*"


def authorize(event: Mapping[str, Any], services: Services) -> dict[str, Any]:
    """The policy and context for the event's token; raises `Unauthorized` if it is not usable."""
    resource = stage_wildcard(str(event.get("methodArn", "")))
    token = token_from_header(event.get("authorizationToken"))
    if not token:
        raise Unauthorized()
    try:
        record = services.tokens.verify(token)
    except TokenRejectedError as rejected:
        log.info("%s", rejected)
        raise Unauthorized() from None
    return {
        "principalId": record.principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}],
        },
        "context": {
            "principal": record.principal,
            "organizationId": record.organization_id,
            "keyPrefix": record.key_prefix,
        },
    }


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (reads `TOKENS_TABLE` and `DYNAMODB_ENDPOINT_URL` from the environment)."""
    return authorize(event, services_from_env())
