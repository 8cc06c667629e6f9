"""The events and context API Gateway and Lambda hand to the handlers, built for local requests."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

ACCOUNT_ID = "123456789012"
API_ID = "local"


def method_arn(region: str, stage: str, method: str, resource: str) -> str:
    """The `methodArn` a TOKEN authorizer receives for one route."""
    return f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{API_ID}/{stage}/{method}{resource}"


def token_event(token: str, arn: str) -> dict[str, Any]:
    """A TOKEN authorizer event."""
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": arn}


@dataclass(frozen=True)
class HttpCall:
    """One HTTP request as the local gateway received it."""

    method: str
    stage: str
    resource: str  # the route, e.g. "/initialize"
    headers: list[tuple[str, str]]
    query: str
    body: bytes
    source_ip: str
    host: str
    authorizer: Mapping[str, Any] | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def _multi(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return (single or None), (multi or None)


def proxy_event(call: HttpCall) -> dict[str, Any]:
    """The REST API proxy-integration event for `call`, as API Gateway builds it."""
    headers, multi_headers = _multi(call.headers)
    query, multi_query = _multi(parse_qsl(call.query, keep_blank_values=True))
    try:
        body: str | None = call.body.decode("utf-8") if call.body else None
        is_base64 = False
    except UnicodeDecodeError:
        body, is_base64 = base64.b64encode(call.body).decode("ascii"), True
    now = datetime.now(UTC)
    user_agent = next((v for k, v in call.headers if k.lower() == "user-agent"), None)
    authorizer = dict(call.authorizer) if call.authorizer is not None else None
    if authorizer is not None:
        authorizer.setdefault("integrationLatency", 0)
    return {
        "resource": call.resource,
        "path": call.resource,
        "httpMethod": call.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": call.resource,
            "httpMethod": call.method,
            "extendedRequestId": call.request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "path": f"/{call.stage}{call.resource}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": call.stage,
            "domainPrefix": call.host.split(".")[0],
            "domainName": call.host,
            "requestId": call.request_id,
            "apiId": API_ID,
            "identity": {"sourceIp": call.source_ip, "userAgent": user_agent},
            "authorizer": authorizer,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


@dataclass
class LambdaContext:
    """The parts of Lambda's context object handlers may use."""

    function_name: str
    timeout: float | None = None
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 128
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        if self.timeout is None:
            return 900_000
        return max(0, int((self.timeout - (time.monotonic() - self.started)) * 1000))
