"""The API Gateway stand-in answers as API.md says, for every authorizer and handler outcome."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import requests

from backend.local import LocalStack
from backend.local.events import HttpCall
from backend.local.gateway import Answer, ApiGateway

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


def deny() -> dict[str, Any]:
    answer = json.loads(json.dumps(ALLOW))
    answer["policyDocument"]["Statement"].append(
        {**answer["policyDocument"]["Statement"][0], "Effect": "Deny"}
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


def call(
    resource: str = "/initialize", *, token: str | None = "tok", method: str = "POST", stage: str = "prod"
):
    headers = [("Authorization", token)] if token is not None else []
    return HttpCall(method, stage, resource, headers, "", b"{}", "127.0.0.1", "localhost")


def body(answer: Answer) -> Any:
    return json.loads(answer.body)


def test_allowed_calls_reach_the_route() -> None:
    answer = gateway().handle(call())
    assert answer.status == 200
    assert body(answer) == {"ok": True}


@pytest.mark.parametrize(
    "request_call",
    [call("/nope"), call(method="GET"), call(stage="dev"), call("/initialize/extra")],
)
def test_unknown_route_method_or_stage_is_missing_authentication_token(request_call: HttpCall) -> None:
    answer = gateway().handle(request_call)
    assert answer.status == 403
    assert body(answer) == {"message": "Missing Authentication Token"}


@pytest.mark.parametrize("token", [None, "", "   "])
def test_missing_token_is_401_without_asking_the_authorizer(token: str | None) -> None:
    def authorizer(event: Any, context: Any) -> Any:
        raise AssertionError("must not be called")

    answer = gateway(authorizer).handle(call(token=token))
    assert answer.status == 401
    assert body(answer) == {"message": "Unauthorized", "statusCode": "401", "type": "UNAUTHORIZED"}


def raises(message: str) -> Callable[..., Any]:
    def authorizer(event: Any, context: Any) -> Any:
        raise Exception(message)

    return authorizer


@pytest.mark.parametrize(
    ("authorizer", "core_only", "status", "expected"),
    [
        (
            raises("Unauthorized"),
            False,
            401,
            {"message": "Unauthorized", "statusCode": "401", "type": "UNAUTHORIZED"},
        ),
        (raises("Unauthorized"), True, 500, {"message": None}),
        (raises("boom"), False, 500, {"message": None}),
        (lambda e, c: {"not": "a policy"}, False, 500, {"message": None}),
        (
            lambda e, c: deny(),
            False,
            403,
            {
                "message": "User is not authorized to access this resource with an explicit deny",
                "statusCode": "403",
                "type": "ACCESS_DENIED",
            },
        ),
        (
            lambda e, c: deny(),
            True,
            403,
            {"message": "User is not authorized to access this resource with an explicit deny"},
        ),
    ],
)
def test_authorizer_outcomes(authorizer: Any, core_only: bool, status: int, expected: dict[str, Any]) -> None:
    answer = gateway(authorizer, core_only=core_only).handle(call())
    assert answer.status == status
    assert body(answer) == expected
    if status == 500:
        assert answer.headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"


def test_core_only_protects_initialize_alone_and_hides_extensions() -> None:
    core = gateway(raises("Unauthorized"), core_only=True)
    assert core.handle(call("/getPreSignedUrls", token=None)).status == 200
    assert core.handle(call("/initialize", token=None)).status == 401
    hidden = core.handle(call("/session"))
    assert hidden.status == 403
    assert body(hidden) == {"message": "Missing Authentication Token"}


def test_a_throwing_handler_is_502_and_a_malformed_answer_too() -> None:
    def boom(event: Any, context: Any) -> Any:
        raise RuntimeError("bug")

    broken = gateway()
    broken.routes["/initialize"] = boom
    answer = broken.handle(call())
    assert answer.status == 502
    assert body(answer) == {"message": "Internal server error"}
    broken.routes["/initialize"] = lambda e, c: {"statusCode": "200", "body": {}}
    assert broken.handle(call()).status == 502


def test_a_slow_handler_is_504_after_the_function_timeout() -> None:
    release = threading.Event()

    def slow(event: Any, context: Any) -> Any:
        release.wait(5)
        return ok_route(event, context)

    late = gateway(function_timeout=0.2)
    late.routes["/initialize"] = slow
    began = time.monotonic()
    answer = late.handle(call())
    assert answer.status == 504
    assert time.monotonic() - began < 2
    release.set()
    late.close()


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


def test_bodies_over_10_mb_are_413(stack: LocalStack) -> None:
    with requests.Session() as http:
        answer = http.post(
            f"{stack.api_url}/initialize",
            data=b"x" * (10 * 1024 * 1024 + 1),
            headers={"Authorization": stack.token},
            timeout=30,
        )
        assert answer.status_code == 413
        assert answer.json()["type"] == "REQUEST_TOO_LARGE"
        # the connection was closed, so the next request is parsed cleanly
        follow = http.post(
            f"{stack.api_url}/session", json={}, headers={"Authorization": stack.token}, timeout=10
        )
        assert follow.status_code == 200


def test_unknown_paths_over_http(stack: LocalStack) -> None:
    for method, path in (("POST", "/prod/unknown"), ("GET", "/prod/session"), ("POST", "/")):
        answer = requests.request(method, f"{stack.api_url.rsplit('/prod', 1)[0]}{path}", timeout=10)
        assert answer.status_code == 403
        assert answer.json() == {"message": "Missing Authentication Token"}
