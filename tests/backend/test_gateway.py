"""The API Gateway stand-in answers as API.md says, byte for byte, for every authorizer and handler result."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests

from backend.local import LocalStack
from backend.local.answers import FORBIDDEN_TEMPLATE, UNAUTHORIZED_TEMPLATE
from backend.local.events import HttpCall
from backend.local.gateway import (
    AUTHORIZER_FUNCTION_TIMEOUT,
    THIS_PROJECT_CACHE_TTL,
    Answer,
    ApiGateway,
)

INFRA = Path(__file__).resolve().parents[2] / "infra" / "s3up_infra"
ALLOW = {
    "principalId": "alice",
    "policyDocument": {
        "Version": "2012-10-17",
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*"}
        ],
    },
    "context": {"principal": "alice", "organizationId": "org-7", "keyPrefix": ""},
}
MISSING_TOKEN = b'{"message": "Missing Authentication Token"}'
UNAUTHORIZED = b'{"message": "Unauthorized", "statusCode": "401", "type": "UNAUTHORIZED"}'
NULL_MESSAGE = b'{"message": null}'
INTERNAL = b'{"message": "Internal server error"}'


def deny() -> dict[str, Any]:
    answer = json.loads(json.dumps(ALLOW))
    answer["policyDocument"]["Statement"].append(
        {**answer["policyDocument"]["Statement"][0], "Effect": "Deny"}
    )
    return answer


def only_for(method_arn_suffix: str) -> dict[str, Any]:
    """A policy that allows one route only (as an authorizer returning `event["methodArn"]` would)."""
    answer = json.loads(json.dumps(ALLOW))
    answer["policyDocument"]["Statement"][0]["Resource"] = (
        f"arn:aws:execute-api:*:*:*/prod/POST{method_arn_suffix}"
    )
    return answer


def ok_route(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"ok": True}),
    }


def gateway(authorizer: Callable[..., Any] = lambda e, c: ALLOW, **kwargs: Any) -> ApiGateway:
    routes = {"/initialize": ok_route, "/getPreSignedUrls": ok_route, "/session": ok_route}
    return ApiGateway(routes, authorizer, region="us-east-1", **kwargs)


TOKEN = "s3up_a-token-long-enough-for-the-gateway-check"


def call(
    resource: str = "/initialize", *, token: str | None = TOKEN, method: str = "POST", stage: str = "prod"
) -> HttpCall:
    headers = [("Authorization", token)] if token is not None else []
    return HttpCall(method, stage, resource, headers, "", b"{}", "127.0.0.1", "localhost")


def body(answer: Answer) -> Any:
    return json.loads(answer.body)


class Counting:
    """An authorizer that answers what `answer` holds (raising it when it is an exception), counting calls."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls = 0

    def __call__(self, event: Any, context: Any) -> Any:
        self.calls += 1
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_allowed_calls_reach_the_route_with_api_gateways_headers() -> None:
    answer = gateway().handle(call())
    assert answer.status == 200
    assert body(answer) == {"ok": True}
    assert answer.headers["x-amzn-RequestId"]
    assert answer.headers["x-amz-apigw-id"].endswith("=")
    assert answer.headers["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert "x-amzn-ErrorType" not in answer.headers


@pytest.mark.parametrize("core_only", [False, True])
@pytest.mark.parametrize(
    "request_call",
    [
        call("/nope", token=None),
        call(method="GET", token=None),
        call(stage="dev", token=None),
        call("/", token=None),
    ],
)
def test_unknown_route_method_or_stage_without_a_header_is_missing_authentication_token(
    request_call: HttpCall, core_only: bool
) -> None:
    answer = gateway(core_only=core_only).handle(request_call)
    assert (answer.status, answer.body) == (403, MISSING_TOKEN)
    assert answer.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert answer.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("core_only", [False, True])
@pytest.mark.parametrize("header", ["the-fixed-literal-token", "Bearer s3up_abc", "a=b"])
@pytest.mark.parametrize("resource", ["/nope", "/listUploads"])
def test_unknown_route_with_a_header_is_an_incomplete_signature(
    core_only: bool, header: str, resource: str
) -> None:
    answer = gateway(core_only=core_only).handle(call(resource, token=header))
    digest = base64.b64encode(hashlib.sha256(header.encode()).digest()).decode()
    expected = (
        '{"message": "Invalid key=value pair (missing equal-sign) in Authorization header '
        f"(hashed with SHA-256 and encoded with Base64): '{digest}'\"}}"
    ).encode()
    assert (answer.status, answer.body) == (403, expected)
    assert answer.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"
    assert header.encode() not in answer.body  # the token never comes back


def test_an_extension_route_with_the_token_on_core_only_is_an_incomplete_signature() -> None:
    answer = gateway(core_only=True).handle(call("/session", token="the-token"))
    assert answer.status == 403
    assert answer.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"
    assert gateway(core_only=True).handle(call("/session", token=None)).body == MISSING_TOKEN


@pytest.mark.parametrize("core_only", [False, True])
@pytest.mark.parametrize("token", [None, "", "   "])
def test_missing_token_is_401_without_asking_the_authorizer(token: str | None, core_only: bool) -> None:
    authorizer = Counting(AssertionError("must not be called"))
    answer = gateway(authorizer, core_only=core_only).handle(call(token=token))
    assert (answer.status, answer.body) == (401, UNAUTHORIZED)
    assert answer.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert authorizer.calls == 0


@pytest.mark.parametrize("token", ["short", "s3up_" + "x" * 600, "s3up_with a space in the middle of it"])
def test_a_header_the_validation_expression_refuses_is_401_without_the_authorizer(token: str) -> None:
    authorizer = Counting(ALLOW)
    answer = gateway(authorizer).handle(call(token=token))
    assert (answer.status, answer.body) == (401, UNAUTHORIZED)
    assert authorizer.calls == 0
    assert gateway(authorizer, core_only=True).handle(call(token=token)).status == 200  # no such check there
    assert gateway(authorizer).handle(call(token=f"Bearer {TOKEN}")).status == 200


def raises(message: str) -> Callable[..., Any]:
    def authorizer(event: Any, context: Any) -> Any:
        raise Exception(message)

    return authorizer


EXPLICIT_OURS = (
    b'{"message": "User is not authorized to access this resource with an explicit deny", '
    b'"statusCode": "403", "type": "ACCESS_DENIED"}'
)


@pytest.mark.parametrize(
    ("authorizer", "core_only", "status", "expected", "error_type"),
    [
        (raises("Unauthorized"), False, 401, UNAUTHORIZED, "UnauthorizedException"),
        (raises("Unauthorized"), True, 401, UNAUTHORIZED, "UnauthorizedException"),
        (raises("boom"), False, 500, NULL_MESSAGE, "AuthorizerConfigurationException"),
        (raises("boom"), True, 500, NULL_MESSAGE, "AuthorizerConfigurationException"),
        (lambda e, c: {"not": "a policy"}, False, 500, NULL_MESSAGE, "AuthorizerConfigurationException"),
        (lambda e, c: deny(), False, 403, EXPLICIT_OURS, "AccessDeniedException"),
        (
            lambda e, c: deny(),
            True,
            403,
            b'{"Message": "User is not authorized to access this resource with an explicit deny"}',
            "AccessDeniedException",
        ),
        (
            lambda e, c: only_for("/elsewhere"),
            True,
            403,
            b'{"Message": "User is not authorized to access this resource"}',
            "AccessDeniedException",
        ),
    ],
)
def test_authorizer_outcomes_byte_for_byte(
    authorizer: Any, core_only: bool, status: int, expected: bytes, error_type: str
) -> None:
    answer = gateway(authorizer, core_only=core_only).handle(call())
    assert (answer.status, answer.body) == (status, expected)
    assert answer.headers["x-amzn-ErrorType"] == error_type
    assert answer.headers["x-amzn-RequestId"]


def test_a_cached_policy_serves_every_route_until_the_ttl_then_the_authorizer_decides_again() -> None:
    clock = FakeClock()
    authorizer = Counting(ALLOW)
    cached = gateway(authorizer, authorizer_cache_ttl=60, clock=clock)
    assert cached.handle(call("/initialize")).status == 200
    authorizer.answer = Exception("Unauthorized")  # the token is revoked meanwhile
    clock.now += 59.9
    for route in ("/getPreSignedUrls", "/session", "/initialize"):
        assert cached.handle(call(route)).status == 200  # the cached Allow, for every route
    assert authorizer.calls == 1
    clock.now += 0.2
    refused = cached.handle(call("/session"))
    assert (refused.status, refused.body) == (401, UNAUTHORIZED)
    assert cached.handle(call("/session")).status == 401
    assert authorizer.calls == 3  # a refusal is not cached
    assert cached.handle(call("/session", token=TOKEN + "-another")).status == 401


def test_the_cache_is_per_token_and_keeps_denials_too() -> None:
    clock = FakeClock()
    authorizer = Counting(deny())
    cached = gateway(authorizer, core_only=True, clock=clock)
    a, b = TOKEN + "-a", TOKEN + "-b"
    assert cached.handle(call(token=a)).status == 403
    authorizer.answer = ALLOW
    assert cached.handle(call(token=a)).status == 403  # the cached Deny
    assert cached.handle(call(token=b)).status == 200
    clock.now += 300
    assert cached.handle(call(token=a)).status == 200


def test_a_cached_policy_for_one_method_refuses_the_others() -> None:
    authorizer = Counting(only_for("/initialize"))
    cached = gateway(authorizer, clock=FakeClock())
    assert cached.handle(call("/initialize")).status == 200
    other = cached.handle(call("/session"))
    assert other.status == 403
    assert body(other)["message"] == "User is not authorized to access this resource"
    assert authorizer.calls == 1


def test_default_ttls_and_timeouts() -> None:
    assert gateway(core_only=True).cache.ttl == 300
    assert gateway(core_only=True).function_timeout == 3
    assert gateway().cache.ttl == THIS_PROJECT_CACHE_TTL
    assert gateway().function_timeout is None
    assert gateway(core_only=True, function_timeout=60).function_timeout == 60


def test_a_zero_ttl_asks_the_authorizer_every_time() -> None:
    authorizer = Counting(ALLOW)
    uncached = gateway(authorizer, authorizer_cache_ttl=0)
    for _ in range(3):
        assert uncached.handle(call()).status == 200
    assert authorizer.calls == 3


def test_core_only_protects_initialize_alone_and_hides_extensions() -> None:
    core = gateway(raises("Unauthorized"), core_only=True)
    assert core.handle(call("/getPreSignedUrls", token=None)).status == 200
    assert core.handle(call("/initialize", token=None)).status == 401
    hidden = core.handle(call("/session", token=None))
    assert (hidden.status, hidden.body) == (403, MISSING_TOKEN)


@pytest.mark.parametrize("core_only", [False, True])
def test_a_throwing_handler_is_502_and_a_malformed_answer_too(core_only: bool) -> None:
    def boom(event: Any, context: Any) -> Any:
        raise RuntimeError("bug")

    broken = gateway(core_only=core_only)
    broken.routes["/initialize"] = boom
    answer = broken.handle(call())
    assert (answer.status, answer.body) == (502, INTERNAL)
    assert answer.headers["x-amzn-ErrorType"] == "InternalServerErrorException"
    broken.routes["/initialize"] = lambda e, c: {"statusCode": "200", "body": {}}
    assert broken.handle(call()).body == INTERNAL


def slow_route(release: threading.Event) -> Callable[..., Any]:
    def slow(event: Any, context: Any) -> Any:
        release.wait(10)
        return ok_route(event, context)

    return slow


def test_a_handler_past_its_function_timeout_is_502_as_a_lambda_timeout() -> None:
    release = threading.Event()
    late = gateway(function_timeout=0.2)
    late.routes["/initialize"] = slow_route(release)
    began = time.monotonic()
    answer = late.handle(call())
    assert (answer.status, answer.body) == (502, INTERNAL)
    assert time.monotonic() - began < 5
    release.set()
    late.close()


def test_a_handler_past_the_integration_timeout_is_504() -> None:
    release = threading.Event()
    late = gateway(function_timeout=60, integration_timeout=0.2)
    late.routes["/initialize"] = slow_route(release)
    answer = late.handle(call())
    assert (answer.status, answer.body) == (504, b'{"message": "Endpoint request timed out"}')
    assert answer.headers["x-amzn-ErrorType"] == "InternalServerErrorException"
    release.set()
    late.close()


def test_a_slow_authorizer_is_500() -> None:
    release = threading.Event()
    late = gateway(slow_route(release), core_only=True, function_timeout=0.2)
    answer = late.handle(call())
    assert (answer.status, answer.body) == (500, NULL_MESSAGE)
    release.set()
    late.close()


def test_a_body_over_10_mb_is_413_before_anything_else() -> None:
    big = HttpCall("POST", "prod", "/nope", [], "", b"x" * (10 * 1024 * 1024 + 1), "127.0.0.1", "h")
    answer = gateway().handle(big)
    assert (answer.status, answer.body) == (413, b"HTTP content length exceeded 10485760 bytes.")


def _infra_constants() -> dict[str, Any]:
    """The values infra/ deploys, read from its source (no CDK import needed)."""
    found: dict[str, Any] = {}
    for node in ast.walk(ast.parse((INFRA / "api.py").read_text())):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
            if name == "_UNAUTHORIZED" and isinstance(value, ast.Call):
                found[name] = json.dumps(ast.literal_eval(value.args[0]))
            elif name == "_FORBIDDEN":
                found[name] = ast.literal_eval(value)
            elif name == "AUTHORIZER_CACHE_TTL" and isinstance(value, ast.Call):
                found[name] = ast.literal_eval(value.args[0])
    for node in ast.walk(ast.parse((INFRA / "functions.py").read_text())):
        first = node.args[0] if isinstance(node, ast.Call) and node.args else None
        if isinstance(first, ast.Constant) and first.value == "authorizer":
            found["authorizer_timeout"] = next(
                ast.literal_eval(k.value) for k in node.keywords if k.arg == "timeout_seconds"
            )
    return found


def test_the_stage_answers_and_settings_are_what_infra_deploys() -> None:
    infra = _infra_constants()
    assert infra["_UNAUTHORIZED"] == UNAUTHORIZED_TEMPLATE
    assert infra["_FORBIDDEN"] == FORBIDDEN_TEMPLATE
    assert infra["AUTHORIZER_CACHE_TTL"] == THIS_PROJECT_CACHE_TTL
    assert infra["authorizer_timeout"] == AUTHORIZER_FUNCTION_TIMEOUT


def test_the_handler_gets_a_real_proxy_event(stack: LocalStack) -> None:
    seen: list[Mapping[str, Any]] = []
    original = stack.routes["/session"]

    def spy(event: Mapping[str, Any], context: Any) -> Any:
        seen.append(event)
        assert context.get_remaining_time_in_millis() > 0
        return original(event, context)

    stack.routes["/session"] = spy
    try:
        answer = requests.post(
            f"{stack.api_url}/session?x=1",
            data=b'{"a": "\xc3\xa9"}',
            headers={"Authorization": f"Bearer {stack.token}", "X-Custom": "v"},
            timeout=10,
        )
    finally:
        stack.routes["/session"] = original
    assert answer.status_code == 200
    assert "Server" not in answer.headers
    event = seen[0]
    assert (event["httpMethod"], event["path"], event["resource"]) == ("POST", "/session", "/session")
    assert event["headers"]["X-Custom"] == "v"
    assert event["multiValueHeaders"]["X-Custom"] == ["v"]
    assert event["queryStringParameters"] == {"x": "1"}
    assert json.loads(event["body"]) == {"a": "é"}
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "prod"
    assert context["path"] == "/prod/session"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["authorizer"]["principalId"] == "local-user"
    assert context["authorizer"]["organizationId"] == "local-org"
    assert context["authorizer"]["keyPrefix"] == ""


def test_bodies_over_10_mb_are_413_over_http(stack: LocalStack) -> None:
    with requests.Session() as http:
        answer = http.post(
            f"{stack.api_url}/initialize",
            data=b"x" * (10 * 1024 * 1024 + 1),
            headers={"Authorization": stack.token},
            timeout=30,
        )
        assert answer.status_code == 413
        assert answer.content == b"HTTP content length exceeded 10485760 bytes."
        # the connection was closed, so the next request is parsed cleanly
        follow = http.post(
            f"{stack.api_url}/session", json={}, headers={"Authorization": stack.token}, timeout=10
        )
        assert follow.status_code == 200


def test_a_chunked_body_is_read(stack: LocalStack) -> None:
    answer = requests.post(
        f"{stack.api_url}/session",
        data=iter([b'{"a":', b" 1}"]),
        headers={"Authorization": stack.token},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def test_unknown_paths_over_http(stack: LocalStack) -> None:
    base = stack.api_url.rsplit("/prod", 1)[0]
    for method, path in (("POST", "/prod/unknown"), ("GET", "/prod/session"), ("POST", "/")):
        answer = requests.request(method, f"{base}{path}", timeout=10)
        assert (answer.status_code, answer.content) == (403, MISSING_TOKEN)
        signed = requests.request(method, f"{base}{path}", headers={"Authorization": stack.token}, timeout=10)
        assert signed.status_code == 403
        assert signed.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"
