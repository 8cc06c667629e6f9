"""API Gateway REST proxy events in, proxy answers out, and the error shape every route shares.

Callers may rely on: `ApiRequest.from_event` never raises anything but `ApiError` (4xx) for
whatever a client sends; `error_response` answers in the gateway-answer shape
`{"message", "statusCode", "type"}` of docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JSON_HEADERS = {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"}


class ErrorType(StrEnum):
    """The `type` of an error answer; each has one HTTP status."""

    BAD_REQUEST = "BAD_REQUEST"
    UNAUTHORIZED = "UNAUTHORIZED"
    ACCESS_DENIED = "ACCESS_DENIED"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"

    @property
    def status(self) -> int:
        return _STATUS[self]


_STATUS = {
    ErrorType.BAD_REQUEST: 400,
    ErrorType.UNAUTHORIZED: 401,
    ErrorType.ACCESS_DENIED: 403,
    ErrorType.NOT_FOUND: 404,
    ErrorType.CONFLICT: 409,
    ErrorType.REQUEST_TOO_LARGE: 413,
}


class Reason(StrEnum):
    """Why a 409 (or a 404) was answered, for a client that must act differently on each."""

    UPLOAD_FINISHED = "UPLOAD_FINISHED"
    """This upload is finished: `/finalize` with its fileId answers its result again."""
    UPLOAD_ABORTED = "UPLOAD_ABORTED"
    KEY_EXISTS = "KEY_EXISTS"
    """An object exists (or was published meanwhile) at the key; nothing was replaced."""
    KEY_BUSY = "KEY_BUSY"
    """Another upload is writing the key right now; try again shortly."""
    CLIENT_TOKEN_REUSED = "CLIENT_TOKEN_REUSED"
    """The clientToken already started an upload of another key, size or kind."""


class ApiError(Exception):
    """A request the API refuses; `message` is written for the person who sent it."""

    def __init__(self, error_type: ErrorType, message: str, *, reason: Reason | None = None) -> None:
        super().__init__(message)
        self.type = error_type
        self.message = message
        self.reason = reason

    @property
    def status(self) -> int:
        return self.type.status

    def body(self) -> dict[str, str]:
        """The JSON error object: the gateway-answer shape, plus `reason` when there is one."""
        body = error_body(self.status, self.type.value, self.message)
        if self.reason is not None:
            body["reason"] = self.reason.value
        return body


def bad_request(message: str) -> ApiError:
    return ApiError(ErrorType.BAD_REQUEST, message)


def error_body(status: int, error_type: str, message: str) -> dict[str, str]:
    """The gateway-answer shape shared by the handlers and the local gateway."""
    return {"message": message, "statusCode": str(status), "type": error_type}


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A Lambda proxy answer with a JSON body."""
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(headers or {})},
        "body": json.dumps(payload, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def error_response(error: ApiError) -> dict[str, Any]:
    return json_response(error.status, error.body())


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the authorizer's context says."""

    principal: str
    organization_id: str = ""
    key_prefix: str = ""


@dataclass(frozen=True)
class ApiRequest:
    """One parsed proxy event. `body` is None when the request had none."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-cased
    body: dict[str, Any] | None = None
    caller: Caller | None = None
    source_ip: str = ""
    request_id: str = ""

    @property
    def json(self) -> dict[str, Any]:
        """The body's JSON object; 400 when the request had no body."""
        if self.body is None:
            raise bad_request("the request has no body: send a JSON object")
        return self.body

    @classmethod
    def from_event(cls, event: Mapping[str, Any], *, max_body_bytes: int | None = None) -> ApiRequest:
        """Parse a REST proxy event; raises `ApiError` (400) for a body that is not a JSON object.

        A body longer than `max_body_bytes` is refused (413) before it is decoded or parsed.
        """
        context = event.get("requestContext") or {}
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        raw, is_base64 = event.get("body"), bool(event.get("isBase64Encoded"))
        if max_body_bytes is not None:
            _check_size(raw, is_base64, max_body_bytes)
        return cls(
            method=str(event.get("httpMethod") or ""),
            path=str(event.get("path") or ""),
            headers=headers,
            body=_parse_body(raw, is_base64),
            caller=_caller_from(context.get("authorizer")),
            source_ip=str((context.get("identity") or {}).get("sourceIp") or ""),
            request_id=str(context.get("requestId") or ""),
        )


def _caller_from(authorizer: Any) -> Caller | None:
    if not isinstance(authorizer, Mapping):
        return None
    principal = authorizer.get("principal") or authorizer.get("principalId")
    if not isinstance(principal, str) or not principal:
        return None
    return Caller(
        principal=principal,
        organization_id=str(authorizer.get("organizationId") or ""),
        key_prefix=str(authorizer.get("keyPrefix") or ""),
    )


def _check_size(raw: Any, is_base64: bool, limit: int) -> None:
    if not isinstance(raw, str):
        return
    # Characters, not bytes: counting never copies the body, and UTF-8 has at least a byte each.
    size = len(raw) * 3 // 4 if is_base64 else len(raw)
    if size > limit:
        raise ApiError(
            ErrorType.REQUEST_TOO_LARGE,
            f"the request body is {size} bytes; this route takes at most {limit}: send less per call",
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is too large: numbers must be finite")
    return value


def _parse_body(raw: Any, is_base64: bool) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise bad_request("the request body must be JSON text")
    data: str = raw
    if is_base64:
        try:
            data = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise bad_request("the request body is not UTF-8 text: send a JSON object") from None
    if not data.strip():
        return None
    try:
        value = json.loads(data, parse_constant=_reject_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise bad_request(
            f"the request body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise bad_request(f"the request body is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise bad_request(f"the request body must be a JSON object, not {describe(value)}")
    try:  # "\ud800" escapes decode to lone surrogates, which no store or header accepts
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request("the request body contains an unpaired surrogate (\\ud800-\\udfff)") from None
    return value


def describe(value: Any) -> str:
    """Name a JSON value's type for an error message: "a string", "an array", …"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {json.dumps(shown)}"
    if isinstance(value, list):
        return "an array"
    return "an object"


def field_str(obj: Mapping[str, Any], name: str, *, where: str = "", max_len: int = 1024) -> str:
    """A required, non-empty string field; 400 naming the field otherwise."""
    label = f"{where}{name}"
    if name not in obj:
        raise bad_request(f'"{label}" is missing')
    value = obj[name]
    if not isinstance(value, str):
        raise bad_request(f'"{label}" must be a string, not {describe(value)}')
    if not value:
        raise bad_request(f'"{label}" must not be empty')
    if len(value) > max_len:
        raise bad_request(f'"{label}" is longer than {max_len} characters')
    return value


def field_int(value: Any, label: str, low: int, high: int) -> int:
    """A whole number in low..high (JSON true/false are not numbers); 400 otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f'"{label}" must be a whole number from {low} to {high}, not {describe(value)}')
    if not low <= value <= high:
        raise bad_request(f'"{label}" must be from {low} to {high}, not {value}')
    return value


def field_object(obj: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A required JSON-object field."""
    if name not in obj:
        raise bad_request(f'"{name}" is missing')
    value = obj[name]
    if not isinstance(value, dict):
        raise bad_request(f'"{name}" must be a JSON object, not {describe(value)}')
    return value
