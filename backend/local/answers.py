"""API Gateway's own answers (gateway responses), byte for byte as API.md lists them.

A REST API answers some failures itself, before or instead of the integration: each is a
*gateway response type* with a default status and body, which a deployment may customise.
The existing deployment customises `UNAUTHORIZED` only; this project's stage (`infra/`)
customises `UNAUTHORIZED`, `ACCESS_DENIED` and `AUTHORIZER_FAILURE`. Answers that are not
gateway responses (an unknown route with an `Authorization` header, a body over 10 MB) are the
same on every stage. Every answer carries `x-amzn-ErrorType`, as API Gateway's do.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from enum import Enum

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit: 10,485,760 bytes
EXPLICIT_DENY = "User is not authorized to access this resource with an explicit deny"
IMPLICIT_DENY = "User is not authorized to access this resource"

# The templates of infra/s3up_infra/api.py (a test keeps the two equal); `$context.error.messageString`
# is the message as a quoted JSON string.
UNAUTHORIZED_TEMPLATE = '{"message": "Unauthorized", "statusCode": "401", "type": "UNAUTHORIZED"}'
FORBIDDEN_TEMPLATE = '{"message": $context.error.messageString, "statusCode": "403", "type": "ACCESS_DENIED"}'


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class ResponseType(Enum):
    """The gateway response types the stand-in gives: (status, x-amzn-ErrorType, default body)."""

    MISSING_AUTHENTICATION_TOKEN = (403, "MissingAuthenticationTokenException", '{"message": %s}')
    UNAUTHORIZED = (401, "UnauthorizedException", '{"message": %s}')
    ACCESS_DENIED = (403, "AccessDeniedException", '{"Message": %s}')  # sic: capital M
    AUTHORIZER_CONFIGURATION_ERROR = (500, "AuthorizerConfigurationException", '{"message": %s}')
    AUTHORIZER_FAILURE = (500, "AuthorizerFailureException", '{"message": %s}')
    INTEGRATION_FAILURE = (502, "InternalServerErrorException", '{"message": %s}')
    INTEGRATION_TIMEOUT = (504, "InternalServerErrorException", '{"message": %s}')

    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def error_type(self) -> str:
        return self.value[1]


@dataclass(frozen=True)
class Customisation:
    status: int
    template: str


def _render(template: str, message: str | None) -> bytes:
    return template.replace("$context.error.messageString", json.dumps(message)).encode()


class GatewayAnswers:
    """The answers of one stage: API Gateway's defaults, with the stage's customisations."""

    def __init__(self, customised: dict[ResponseType, Customisation]) -> None:
        self._customised = customised

    @classmethod
    def existing_deployment(cls) -> GatewayAnswers:
        """The existing deployment: only `UNAUTHORIZED` is customised."""
        return cls({ResponseType.UNAUTHORIZED: Customisation(401, UNAUTHORIZED_TEMPLATE)})

    @classmethod
    def this_project(cls) -> GatewayAnswers:
        """This project's stage, as `infra/` deploys it."""
        forbidden = Customisation(403, FORBIDDEN_TEMPLATE)
        return cls(
            {
                ResponseType.UNAUTHORIZED: Customisation(401, UNAUTHORIZED_TEMPLATE),
                ResponseType.ACCESS_DENIED: forbidden,
                ResponseType.AUTHORIZER_FAILURE: forbidden,
            }
        )

    def answer(self, kind: ResponseType, message: str | None) -> Answer:
        custom = self._customised.get(kind)
        if custom is not None:
            status, body = custom.status, _render(custom.template, message)
        else:
            status, body = kind.status, (kind.value[2] % json.dumps(message)).encode()
        return Answer(status, {"Content-Type": "application/json", "x-amzn-ErrorType": kind.error_type}, body)

    # ---- the answers API.md lists ----------------------------------------------------------
    def missing_token(self) -> Answer:
        return self.answer(ResponseType.MISSING_AUTHENTICATION_TOKEN, "Missing Authentication Token")

    def unauthorized(self) -> Answer:
        return self.answer(ResponseType.UNAUTHORIZED, "Unauthorized")

    def denied(self, *, explicit: bool) -> Answer:
        return self.answer(ResponseType.ACCESS_DENIED, EXPLICIT_DENY if explicit else IMPLICIT_DENY)

    def authorizer_failed(self) -> Answer:
        """The authorizer raised (anything but "Unauthorized"), timed out or answered no valid policy."""
        return self.answer(ResponseType.AUTHORIZER_CONFIGURATION_ERROR, None)

    def internal_error(self) -> Answer:
        """The function raised, timed out (Lambda's own timeout) or answered a malformed proxy response."""
        return self.answer(ResponseType.INTEGRATION_FAILURE, "Internal server error")

    def timed_out(self) -> Answer:
        """The integration ran past API Gateway's own timeout (29 s unless raised)."""
        return self.answer(ResponseType.INTEGRATION_TIMEOUT, "Endpoint request timed out")


def incomplete_signature(authorization: str) -> Answer:
    """An unknown route or method asked with an `Authorization` header that is not an AWS signature.

    API Gateway then parses the header as SigV4 and refuses it, naming the header only by the
    base64 of its SHA-256 (so a token never comes back in the answer).
    """
    try:  # http.server decodes header bytes as Latin-1: this gives back the bytes that were sent
        raw = authorization.encode("latin-1")
    except UnicodeEncodeError:
        raw = authorization.encode("utf-8")
    digest = base64.b64encode(hashlib.sha256(raw).digest())
    message = (
        "Invalid key=value pair (missing equal-sign) in Authorization header "
        f"(hashed with SHA-256 and encoded with Base64): '{digest.decode()}'"
    )
    return Answer(
        403,
        {"Content-Type": "application/json", "x-amzn-ErrorType": "IncompleteSignatureException"},
        json.dumps({"message": message}).encode(),
    )


def too_large() -> Answer:
    """A body over 10 MB: API Gateway's front door answers in plain text, before any routing."""
    body = f"HTTP content length exceeded {MAX_BODY_BYTES} bytes.".encode()
    return Answer(413, {"Content-Type": "text/plain; charset=utf-8"}, body)
