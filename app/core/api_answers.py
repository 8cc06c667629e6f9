"""The upload API's answers read: JSON fields, and every error turned into an `UploadError` for the user.

API Gateway's own answers (a missing route, a refused token, a failed authorizer) and this project's error
shape `{"message", "statusCode", "type"}` are told apart here, for whole answers and for the per-file
errors of the batch routes.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping
from typing import Any

import requests

from app.core.errors import (
    AccessDeniedError,
    AuthError,
    ConflictError,
    InvalidRequestError,
    NotThisApiError,
    RouteMissingError,
    ServerError,
    UploadError,
    UploadFinishedError,
    UploadGoneError,
)

_MISSING_AUTH_TOKEN = "Missing Authentication Token"
# The routes the existing deployment has; every other route is one of this project's extensions.
CORE_ROUTES = frozenset({"initialize", "getPreSignedUrls", "getPreSignedTAUrls", "finalize"})
# A 409 there means "an object is at the key"; elsewhere "this upload is finished".
_STARTING_OR_FINISHING = frozenset({"initialize", "initializeBatch", "finalize", "finalizeBatch"})
_TOKEN_REUSED = "CLIENT_TOKEN_REUSED"  # the API's `reason` for a key that started another kind of upload


def parse_answer(route: str, response: requests.Response) -> dict[str, Any]:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if 200 <= status < 300:
        if not isinstance(body, dict):
            raise NotThisApiError(
                f"The server at this address answered /{route} with something other than the upload API's "
                "JSON. Check the API URL (it usually ends with the stage, such as /prod)."
            )
        return body
    server_text = server_message(body)
    if _route_missing(route, status, body, response):
        error: UploadError = RouteMissingError(
            f"The API has no /{route} route. Check the API URL (it usually ends with the stage, "
            "such as /prod).",
            status=status,
        )
    elif not isinstance(body, dict) and status in (400, 403, 404, 405):
        error = NotThisApiError(
            f"The server at this address answered /{route} with HTTP {status} and no API answer; it is not "
            "the upload API. Check the API URL (it usually ends with the stage, such as /prod).",
            status=status,
        )
    else:
        error = error_for(route, status, server_text, body, response.headers.get("x-amzn-ErrorType", ""))
    error.server_message = server_text
    raise error


def server_message(body: Any) -> str:
    """The API's or the gateway's own words: `message`, or `Message` in API Gateway's deny answer."""
    if not isinstance(body, dict):
        return ""
    message = body.get("message", body.get("Message"))
    return message if isinstance(message, str) else ""


def _reason(body: Any) -> str | None:
    """This project's API names why it refused, where the error type alone cannot tell."""
    reason = body.get("reason") if isinstance(body, dict) else None
    return reason if isinstance(reason, str) else None


def _is_project_error(body: Any) -> bool:
    """This project's error shape `{"message", "statusCode", "type"}` (also our gateway's answers)."""
    return isinstance(body, dict) and {"message", "statusCode", "type"} <= body.keys()


def _route_missing(route: str, status: int, body: Any, response: requests.Response) -> bool:
    """API Gateway's answer for a route it does not have.

    Without an `Authorization` header it is `403 Missing Authentication Token`; with one that is not an
    AWS signature (a plain token never is) it is `403 IncompleteSignatureException`. Neither is a refused
    token. On a route the existing deployment lacks, any 403 that is not this project's error shape is
    read the same way, whatever the gateway's wording.
    """
    if status != 403 or _is_project_error(body):
        return False
    if route not in CORE_ROUTES:
        return True
    error_type = response.headers.get("x-amzn-ErrorType", "")
    text = server_message(body)
    return (
        error_type.startswith(("MissingAuthenticationToken", "IncompleteSignature"))
        or text.startswith(_MISSING_AUTH_TOKEN)
        or text.startswith("Invalid key=value pair")
    )


def error_for(route: str, status: int, server_text: str, body: Any, error_type: str = "") -> UploadError:
    """The error for an answer with this status (`error_type`: API Gateway's x-amzn-ErrorType)."""
    detail = f" The server said: {server_text}" if server_text else ""
    authorizer_failed = error_type.startswith("AuthorizerConfiguration")
    if status == 401 or (status == 500 and authorizer_failed):
        return AuthError(
            "The upload API rejected the token. Sign in again with a valid token.", status=status
        )
    if status == 403 and not _is_project_error(body) and "explicit deny" in server_text:
        return AccessDeniedError(
            "The upload API's access policy refused this request: the token is not allowed there, or this "
            "computer's network address is not on the API's allow list. Ask the API's administrator.",
            status=status,
        )
    if status == 403:
        return AccessDeniedError(
            f"The upload API refused this request for your token.{detail}", status=status
        )
    if status == 404:
        if route in ("initialize", "session"):
            return NotThisApiError(
                f"Nothing answers /{route} at this address. Check the API URL.", status=status
            )
        return UploadGoneError(f"The server no longer knows this upload.{detail}", status=status)
    if status == 409 and _reason(body) == _TOKEN_REUSED:
        # Our own idempotency key started another kind of upload (in a run that died before its journal
        # heard, or by an older version): nothing is at the key, so it starts again under a new key.
        return UploadGoneError(
            f"The upload API had started this file another way under the same request key.{detail}",
            status=status,
        )
    if status == 409 and route in _STARTING_OR_FINISHING:
        return ConflictError(
            f"A file already exists at this key. Choose another key or allow overwriting.{detail}",
            status=status,
        )
    if status == 409:  # listParts, presign, abort: the upload is finished and takes nothing more
        return UploadFinishedError(f"The server has already finished this upload.{detail}", status=status)
    if status == 413:
        return InvalidRequestError(
            "The request is too large for the API; shorten the metadata.", status=status
        )
    if status == 429 or status >= 500:
        return ServerError(f"The upload API failed (HTTP {status}).{detail}", status=status)
    return InvalidRequestError(f"The upload API refused the request (HTTP {status}).{detail}", status=status)


def drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def required_str(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise NotThisApiError(f"The API's answer has no “{name}”; is this the upload API?")
    return value


def optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def optional_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def file_error(route: str, entry: Mapping[str, Any]) -> UploadError:
    """The error of one file in a batch answer: `{"error": {"message", "statusCode", "type"}}`."""
    error = entry.get("error")
    if not isinstance(error, dict):
        raise NotThisApiError(f"The API's answer to /{route} has a malformed error.")
    status = optional_int(error.get("statusCode")) or 400
    text = server_message(error)
    found = error_for(route, status, text, error)
    found.server_message = text
    return found


def optional_time(value: Any) -> float | None:
    """An ISO 8601 UTC time ("2025-03-04T00:00:00Z") as seconds since the epoch."""
    if not isinstance(value, str):
        return None
    try:
        return float(calendar.timegm(time.strptime(value.rstrip("Z")[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None
